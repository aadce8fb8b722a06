"""Diffusion Lab: an interactive Gradio lab for learning diffusion models.

``python app.py`` serves it (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are respected); on a Hugging Face Space this
file is the ``app_file``. Importing it is cheap: the UI is built by :func:`build_demo`, and the default toy model
is trained once per server, in a background thread, when the demo is built.
"""
from __future__ import annotations

import os

import ui.gpu  # noqa: F401  (first: on a ZeroGPU Space it imports `spaces` before anything touches CUDA)

import gradio as gr  # noqa: E402

TITLE = "Diffusion Lab"
HEADER_MD = """
# Diffusion Lab
Learn denoising diffusion by doing it: train a small model on a 2-D or 1-D distribution in seconds, scrub through
noising and denoising step by step, and compare with the exact answer.
"""

# Queue settings for a 2-vCPU Space. Heavy events carry their own limits (toy training 2, toy sampling 2,
# image runs 1, races 1: at most 6 single-threaded jobs at once; the rest wait in the queue, which shows each
# visitor their position); light events (a frame, a redraw, a GIF) share the default of 4 per group, so a scrub never waits
# behind a training run. max_size: a class of up to 100 pressing a button at once is queued; beyond that Gradio
# answers "Queue is full" at once instead of letting waits grow without bound.
QUEUE = dict(default_concurrency_limit=4, max_size=100)
MAX_FILE_SIZE = "10mb"   # uploads (pictures, drawings) over this are refused by the server before reaching a handler


def build_demo() -> gr.Blocks:
    """The whole app: a gr.Blocks with one tab per lab."""
    from ui.serving.lifecycle import limit_malloc_arenas
    limit_malloc_arenas(2)   # before any worker thread: freed session memory goes back to the system
    from ui.compare.tab import build_compare_tab
    from ui.edit.tab import build_edit_tab
    from ui.guidance.tab import build_guidance_tab
    from ui.image.tab import build_image_tab
    from ui.toy.tab import build_toy_tab

    from ui.serving.session_records import lazy_session_records
    lazy_session_records()   # a new session's record without pre-rendering all ~290 blocks (57 ms -> see README)
    from ui.serving.gradio_cache import install as atomic_cache_files
    atomic_cache_files()   # concurrent downloads of one picture (a class on the same example) read whole files

    # delete_cache: output files (frames, GIFs, galleries) older than 2 h are deleted every 30 min, so a Space that
    # serves classes for weeks does not fill its disk
    from ui import lessons
    lessons.CONTROLS.clear()      # this demo's tabs register their controls as they are built

    with gr.Blocks(title=TITLE, delete_cache=(1800, 7200)) as demo:
        gr.Markdown(HEADER_MD, elem_classes="dl-explain")      # hidden in presentation mode
        lesson_menu, lesson_prompt = lessons.build_lessons_bar()
        with gr.Tabs() as tabs:
            with gr.Tab("Toy lab", id="toy"):
                toy_state = build_toy_tab()
            with gr.Tab("Image lab", id="image"):
                build_image_tab()
            with gr.Tab("Guidance lab", id="guidance"):
                build_guidance_tab()
            with gr.Tab("Edit lab", id="edit"):
                build_edit_tab()
            with gr.Tab("Compare", id="compare"):
                build_compare_tab(toy_state=toy_state)
        lessons.wire_lessons(lesson_menu, lesson_prompt, tabs)
    from ui.serving.lifecycle import release_closed_sessions
    release_closed_sessions(demo)   # a closed tab's state is released after a minute (Gradio keeps it an hour)
    demo.queue(**QUEUE)
    from ui.serving.fair_queue import install as fair_queueing
    fair_queueing(demo)     # one heavy run per visitor and group; heavy work never fills the whole queue
    return demo


def launch_kwargs() -> dict:
    """What launch() needs besides the demo (Gradio 6 moved css/theme/js there); tests use it too."""
    from ui.widgets.scrubber import SCRUB_CSS
    # show_error: input that Gradio's own components cannot parse (a word for a slider, through the API) then gets
    # Gradio's message naming the component, the expected type and the value, instead of an anonymous failure
    # enable_monitoring=False: Gradio's /monitoring pages (every visitor's request counts and timings) stay closed
    # state_session_capacity: session records kept (ui.serving.lifecycle.SESSION_CAPACITY; Gradio's 10,000 is ~4 GB)
    from ui.serving.lifecycle import SESSION_CAPACITY
    return dict(css=SCRUB_CSS, max_file_size=MAX_FILE_SIZE, theme=gr.themes.Soft(), show_error=True,
                enable_monitoring=False, state_session_capacity=SESSION_CAPACITY)


def log_refusals() -> None:
    """Expected refusals (ui.widgets.inputs.refusal, the fair queue, the blob store) as one line each on stderr."""
    import logging
    log = logging.getLogger("diffusion_lab")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s diffusion_lab: %(message)s", "%Y-%m-%d %H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def main() -> None:
    log_refusals()
    import torch
    # One intra-op thread per request: requests run side by side on a 2-vCPU Space, and oversubscribed OpenMP
    # threads slow small-model work down several-fold (bench/README.md).
    torch.set_num_threads(int(os.environ.get("DIFFUSION_LAB_TORCH_THREADS", "1")))
    from ui.serving.routes import close_unused_routes
    demo = build_demo()
    demo.launch(prevent_thread_lock=True, **launch_kwargs())
    close_unused_routes(demo)        # Gradio's deep-link files stay off (ui/serving/routes.py)
    demo.block_thread()


if __name__ == "__main__":
    main()
