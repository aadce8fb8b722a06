"""The Edit lab tab: training-free editing with an unconditional model -- 2-D methods against the exact posterior,
then the digits.

``build_edit_tab()`` creates the components inside the current gr.Blocks / gr.Tab and wires the events to the
handlers of :mod:`.handlers` (each a named API endpoint)."""
from __future__ import annotations

import gradio as gr

from diffusion.labs.edit_image import METHODS_FOR as IMAGE_METHODS, TASKS
from diffusion.labs.edit_toy import OBSERVATIONS

from ..serving.session import SESSION_TTL_S, close_session
from ..widgets.inputs import readable_drawings
from ..widgets.scrubber import placeholder_html, play_js, scrub_js
from ..widgets.text import LATEX
from .handlers import (IMG_SCRUB, IMG_SLIDER, MASK_CHOICES, MAX_POINTS, MAX_STEPS, TOY_SCRUB, TOY_SLIDER, edit_image,
                       edit_toy, methods_for, on_load, stop)
from .session import DEFAULT_IMAGE, DEFAULT_TOY, SHARED
from .text import DIGITS_MD, INTRO_MD, TOY_MD

WAIT = "The default edits are being computed — a few seconds."


def _scrubber(scrub_id: str, slider_id: str):
    scrub = gr.HTML(placeholder_html(WAIT), elem_id=scrub_id)
    slider = gr.Slider(0, 40, 0, step=1, elem_id=slider_id,
                       label="Step through the runs: 0 = the results … right end = the start (pure noise)")
    with gr.Row():
        back = gr.Button("▶ Play (noise → result)", size="sm")
        fwd = gr.Button("◀ Back to the noise", size="sm")
    slider.input(None, slider, None, js=scrub_js(scrub_id))
    slider.change(None, slider, None, js=scrub_js(scrub_id))
    back.click(None, js=play_js(scrub_id, slider_id, -1))
    fwd.click(None, js=play_js(scrub_id, slider_id, +1))
    return scrub, slider


def build_edit_tab() -> gr.State:
    SHARED.start()
    state = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=close_session)
    gr.Markdown(INTRO_MD, latex_delimiters=LATEX, elem_classes="dl-explain")
    with gr.Accordion("A · 2-D: each method beside the exact posterior (eight Gaussians, exact model)", open=True):
        with gr.Row(equal_height=False, elem_classes="dl-picture-first"):
            with gr.Column(scale=3, min_width=300, elem_classes="dl-controls"):
                kind = gr.Radio([(v, k) for k, v in OBSERVATIONS.items()], value=DEFAULT_TOY["kind"],
                                label="What is observed of a clean point x₀")
                c = gr.Slider(-2.0, 2.0, DEFAULT_TOY["c"], step=0.05, label="known x-coordinate c")
                with gr.Row(visible=False) as linear_row:
                    angle = gr.Slider(-180, 180, 30, step=5, label="direction a (degrees)")
                    value = gr.Slider(-2.0, 2.0, 0.8, step=0.05, label="measured a · x₀")
                    sigma_y = gr.Slider(0.0, 1.0, 0.2, step=0.05, label="noise σ_y")
                with gr.Row(visible=False) as copy_row:
                    px = gr.Number(0.6, label="noisy point x", minimum=-3, maximum=3)
                    py = gr.Number(1.1, label="noisy point y", minimum=-3, maximum=3)
                    s = gr.Slider(0.05, 1.5, 0.5, step=0.05, label="noise std s")
                with gr.Accordion("Run settings", open=False):
                    with gr.Row():
                        n = gr.Slider(100, MAX_POINTS, DEFAULT_TOY["n"], step=100, label="Points")
                        steps = gr.Slider(10, MAX_STEPS, DEFAULT_TOY["steps"], step=10, label="Steps")
                        seed = gr.Number(DEFAULT_TOY["seed"], precision=0, label="Seed", minimum=0)
                    with gr.Row():
                        dps_step = gr.Slider(0.0, 2.0, 0.3, step=0.05, label="DPS step size ζ")
                        resample = gr.Slider(1, 10, 5, step=1, label="RePaint resample r")
                        jump = gr.Slider(1, 25, 5, step=1, label="RePaint jump length")
                toy_btn = gr.Button("Edit: run every method", variant="primary")
                gr.Markdown(TOY_MD, latex_delimiters=LATEX)
            with gr.Column(scale=8):
                toy_scrub, toy_slider = _scrubber(TOY_SCRUB, TOY_SLIDER)
                toy_md = gr.Markdown(elem_id="edit-toy-table")
    with gr.Accordion("B · Digits: inpaint, super-resolve, denoise (bundled unconditional model)", open=True):
        with gr.Row(equal_height=False, elem_classes="dl-picture-first"):
            with gr.Column(scale=3, min_width=300, elem_classes="dl-controls"):
                task = gr.Radio(list(TASKS), value=DEFAULT_IMAGE["task"], label="Task")
                # every method is a valid choice (an API call names its task and method); the task narrows them
                everything = list(dict.fromkeys(m for ms in IMAGE_METHODS.values() for m in ms))
                method = gr.Dropdown(everything, value=DEFAULT_IMAGE["method"], label="Method")
                mask = gr.Dropdown(MASK_CHOICES, value=DEFAULT_IMAGE["mask"], label="Mask (inpainting)")
                drawing = readable_drawings(gr.Sketchpad(
                    label="Paint over what to fill in (a 20 × 20 digit)", type="numpy", image_mode="RGBA",
                    canvas_size=(200, 200), visible=False, elem_id="edit-drawing",
                    brush=gr.Brush(default_size=20, colors=["#000000"], color_mode="fixed")))
                with gr.Row():
                    factor = gr.Radio([2, 4], value=2, label="Down-sampling factor (super-resolution)")
                    noise_std = gr.Slider(0.1, 1.5, 0.5, step=0.05, label="Noise std (denoising)",
                                          info="added by the lab, or what your upload is assumed to carry")
                upload = gr.File(label="Denoising: …or your own noisy picture (replaces the examples; clear it to "
                                       "go back)", file_types=["image"], type="filepath", height=100)
                invert = gr.Checkbox(False, label="Invert the upload (MNIST digits are white on black)")
                with gr.Accordion("Run settings", open=False):
                    with gr.Row():
                        i_steps = gr.Slider(10, MAX_STEPS, DEFAULT_IMAGE["steps"], step=10, label="Steps")
                        i_seed = gr.Number(DEFAULT_IMAGE["seed"], precision=0, label="Seed", minimum=0)
                    with gr.Row():
                        i_dps = gr.Slider(0.0, 5.0, 2.0, step=0.1, label="DPS step size ζ")
                        i_resample = gr.Slider(1, 10, 5, step=1, label="RePaint resample r")
                with gr.Row():
                    img_btn = gr.Button("Edit the six example digits", variant="primary")
                    stop_btn = gr.Button("Stop", variant="stop")
                gr.Markdown(DIGITS_MD, latex_delimiters=LATEX)
            with gr.Column(scale=8):
                img_scrub, img_slider = _scrubber(IMG_SCRUB, IMG_SLIDER)
                img_md = gr.Markdown(elem_id="edit-img-summary")

    kind.change(lambda k: (gr.update(visible=k == "coordinate"), gr.update(visible=k == "linear"),
                           gr.update(visible=k == "copy")), kind, [c, linear_row, copy_row],
                api_visibility="private", queue=False)
    task.change(methods_for, task, method, api_visibility="private", queue=False)
    mask.change(lambda m: gr.update(visible=m == MASK_CHOICES[-1]), mask, drawing, api_visibility="private",
                queue=False)
    toy_btn.click(edit_toy, [state, kind, c, angle, value, sigma_y, px, py, s, n, steps, seed, dps_step, resample,
                             jump], [state, toy_scrub, toy_slider, toy_md], api_name="edit_toy",
                  concurrency_limit=2, concurrency_id="toy_sample")
    img_btn.click(edit_image, [state, task, method, mask, drawing, factor, noise_std, i_steps, i_seed, i_dps,
                               i_resample, upload, invert], [state, img_scrub, img_slider, img_md],
                  api_name="edit_image",
                  concurrency_limit=1, concurrency_id="image_heavy")
    stop_btn.click(stop, state, state, api_name="edit_stop", queue=False)
    gr.on(None, on_load, [], [state, toy_scrub, toy_slider, toy_md, img_scrub, img_slider, img_md],
          api_visibility="private", concurrency_limit=None, show_progress="hidden")
    return state
