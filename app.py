"""Diffusion Lab: an interactive Gradio lab for learning diffusion models.

``python app.py`` serves it (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are respected); on a Hugging Face Space this
file is the ``app_file``. Importing it is cheap: the UI is built by :func:`build_demo`, and the default toy model
is trained once per server, in a background thread, when the demo is built.
"""
from __future__ import annotations

import os

import gradio as gr

TITLE = "Diffusion Lab"
HEADER_MD = """
# Diffusion Lab
Learn denoising diffusion by doing it: train a small model on a 2-D or 1-D distribution in seconds, scrub through
noising and denoising step by step, and compare with the exact answer.
"""

# Queue settings sized for a 2-vCPU Space (issue 6 tunes them under load).
QUEUE = dict(default_concurrency_limit=4, max_size=64)
MAX_FILE_SIZE = "10mb"


def build_demo() -> gr.Blocks:
    """The whole app: a gr.Blocks with one tab per lab."""
    from ui.compare_tab import build_compare_tab
    from ui.image_tab import build_image_tab
    from ui.toy_tab import build_toy_tab

    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(HEADER_MD)
        with gr.Tabs():
            with gr.Tab("Toy lab", id="toy"):
                toy_state = build_toy_tab()
            with gr.Tab("Image lab", id="image"):
                build_image_tab()
            with gr.Tab("Compare", id="compare"):
                build_compare_tab(toy_state=toy_state)
    demo.queue(**QUEUE)
    return demo


def launch_kwargs() -> dict:
    """What launch() needs besides the demo (Gradio 6 moved css/theme/js there); tests use it too."""
    from ui.common import SCRUB_CSS
    return dict(css=SCRUB_CSS, max_file_size=MAX_FILE_SIZE, theme=gr.themes.Soft())


def main() -> None:
    import torch
    # One intra-op thread per request: requests run side by side on a 2-vCPU Space, and oversubscribed OpenMP
    # threads slow small-model work down several-fold (measured here: a toy training step 3x slower with 2).
    torch.set_num_threads(int(os.environ.get("DIFFUSION_LAB_TORCH_THREADS", "1")))
    build_demo().launch(**launch_kwargs())


if __name__ == "__main__":
    main()
