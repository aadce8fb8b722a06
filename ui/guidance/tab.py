"""The Guidance lab tab: labelled data -> conditional model -> guided runs from one x_T, scrubbed -> a sweep of w.

``build_guidance_tab()`` creates the components inside the current gr.Blocks / gr.Tab and wires the events to the
handlers of :mod:`.handlers` (each a named API endpoint)."""
from __future__ import annotations

import gradio as gr

from diffusion import toy
from diffusion.toy.labels import DRAWING_COLOURS, class_names

from ..serving.session import SESSION_TTL_S, close_session
from ..widgets.inputs import pick_brush_js, readable_drawings
from ..widgets.scrubber import placeholder_html, play_js, scrub_js
from ..widgets.text import LATEX
from .handlers import (MAX_SAMPLES, MAX_STEPS, MAX_W, OBJECTIVES, SCRUB_ID, SLIDER_ID, SOURCES, on_load, sample, stop,
                       sweep, train, use_data)
from .digits import SCRUB_ID as DIGITS_SCRUB, SLIDER_ID as DIGITS_SLIDER, digits_grid, digits_sample
from .session import DEFAULT_DATA, DEFAULT_DIGITS, DEFAULT_RUN, SHARED
from .text import DIGITS_MD, EXACT_MD, GUIDE_MD, INTRO_MD, SWEEP_MD, TRAIN_MD


def _hex(rgb) -> str:
    return "#%02x%02x%02x" % tuple(rgb)


def build_guidance_tab() -> gr.State:
    SHARED.start()
    d = toy.DEFAULTS
    state = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=close_session)
    gr.Markdown(INTRO_MD, latex_delimiters=LATEX, elem_classes="dl-explain")
    with gr.Row(equal_height=False, elem_classes="dl-picture-first"):   # on a phone: the pictures first
        with gr.Column(scale=4, min_width=340, elem_classes="dl-controls"):
            with gr.Accordion("1 · Labelled data and a conditional model", open=True):
                gr.Markdown(TRAIN_MD, latex_delimiters=LATEX)
                source = gr.Dropdown(SOURCES, value=DEFAULT_DATA, label="Labelled data",
                                     info="moons: which moon · gaussians8: which Gaussian · plus-cross: 2 classes "
                                          "of 4 Gaussians · word: one class per letter · drawing: one class per "
                                          "colour")
                word = gr.Textbox("HELLO", label="Word", max_length=24, visible=False)
                drawing = readable_drawings(gr.Sketchpad(
                    label="Draw your classes: one colour each (or one layer each)", type="numpy", image_mode="RGBA",
                    canvas_size=(320, 320), visible=False, elem_id="guidance-drawing",
                    brush=gr.Brush(default_size=14, colors=[_hex(c) for c in DRAWING_COLOURS.values()],
                                   default_color=_hex(DRAWING_COLOURS["orange"]), color_mode="fixed")))
                data_btn = gr.Button("Use this data", variant="secondary")
                data_img = gr.Image(show_label=False, type="pil", interactive=False, height=320, format="png",
                                    buttons=["download"])
                legend = gr.HTML()
                with gr.Accordion("Training settings", open=False):
                    with gr.Row():
                        objective = gr.Dropdown(list(OBJECTIVES), value=d["objective"], label="Objective")
                        steps = gr.Slider(100, MAX_STEPS, d["steps"], step=100, label="Training steps")
                    with gr.Row():
                        p_uncond = gr.Slider(0.0, 0.5, d["p_uncond"], step=0.05, label="p_uncond (label dropout)",
                                             info="share of labels replaced by the null label")
                        seed = gr.Number(0, precision=0, label="Seed", minimum=0)
                with gr.Row():
                    train_btn = gr.Button("Train", variant="primary")
                    stop_btn = gr.Button("Stop", variant="stop")
                status = gr.Markdown(elem_id="guidance-status")
        with gr.Column(scale=7):
            with gr.Accordion("2 · Guide: unconditional, conditional and guided, from the same starting noise", open=True):
                with gr.Row():
                    klass = gr.Dropdown([(f"{k}: {c}", k) for k, c in enumerate(class_names(DEFAULT_DATA))],
                                        value=DEFAULT_RUN["y"], label="Class y", allow_custom_value=True,
                                        elem_id="guidance-class")
                    w = gr.Slider(0.0, MAX_W, DEFAULT_RUN["w"], step=0.5, label="Guidance scale w",
                                  info="0: unconditional · 1: conditional · > 1: pushed further")
                    n = gr.Slider(100, MAX_SAMPLES, DEFAULT_RUN["n"], step=100, label="Points")
                    s_seed = gr.Number(DEFAULT_RUN["seed"], precision=0, label="Seed", minimum=0)
                    sample_btn = gr.Button("Sample", variant="primary", scale=0, min_width=140)
                scrub = gr.HTML(placeholder_html("The default conditional model is being trained — a few seconds."),
                                elem_id=SCRUB_ID)
                t_slider = gr.Slider(0, 20, 0, step=1, elem_id=SLIDER_ID,
                                     label="Step through the runs: 0 = the samples … right end = x_T (pure noise)")
                with gr.Row():
                    play_rev = gr.Button("▶ Play (noise → data)", size="sm")
                    play_fwd = gr.Button("◀ Back to the noise", size="sm")
                runs_note = gr.Markdown(elem_id="guidance-runs")
                gr.Markdown(GUIDE_MD, latex_delimiters=LATEX)      # below the pictures: they come first
                gr.Markdown(EXACT_MD, latex_delimiters=LATEX)
            with gr.Accordion("3 · Sweep w: what guidance does to the distribution", open=True):
                gr.Markdown(SWEEP_MD, latex_delimiters=LATEX)
                sweep_btn = gr.Button("Sweep w (0, 1, 2, 3, 5, 7) for the chosen class")
                sweep_plot = gr.Image(label="In class, diversity and off-centre against w", type="pil", format="png",
                                      interactive=False, elem_id="guidance-sweep-plot")
                sweep_md = gr.Markdown(elem_id="guidance-sweep", latex_delimiters=LATEX)

    with gr.Accordion("4 · Digits: the bundled class-conditional MNIST model, guided", open=True):
        gr.Markdown(DIGITS_MD, latex_delimiters=LATEX)
        with gr.Row():
            digit = gr.Slider(0, 9, DEFAULT_DIGITS["digit"], step=1, label="Digit y")
            d_w = gr.Slider(0.0, MAX_W, DEFAULT_DIGITS["w"], step=0.5, label="Guidance scale w")
            d_batch = gr.Slider(1, 16, DEFAULT_DIGITS["batch"], step=1, label="Samples")
            d_seed = gr.Number(DEFAULT_DIGITS["seed"], precision=0, label="Seed", minimum=0)
        with gr.Row():
            digits_btn = gr.Button("Sample this digit", variant="primary")
            grid_btn = gr.Button("Digits × guidance grid (w = 0, 1, 3, 7)")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                d_scrub = gr.HTML(placeholder_html("Press “Sample this digit” (about a second)."),
                                  elem_id=DIGITS_SCRUB)
                d_slider = gr.Slider(0, 50, 0, step=1, elem_id=DIGITS_SLIDER,
                                     label="Step through the run: 0 = the samples … right end = x_T")
                d_md = gr.Markdown()
            with gr.Column(scale=2):
                grid_img = gr.Image(show_label=False, type="pil", interactive=False, format="png",
                                    buttons=["download"])
                grid_md = gr.Markdown()

    source.change(lambda s: (gr.update(visible=s == "word"), gr.update(visible=s == "drawing")), source,
                  [word, drawing], api_visibility="private", queue=False)
    source.change(None, source, None, js=pick_brush_js("drawing", "guidance-drawing"))
    data_btn.click(use_data, [state, source, word, drawing], [state, data_img, legend], api_name="guidance_data",
                   concurrency_id="toy_light")
    train_ev = train_btn.click(train, [state, objective, steps, p_uncond, seed], [state, klass, status],
                               api_name="guidance_train", concurrency_limit=2, concurrency_id="toy_train")
    stop_btn.click(stop, state, state, api_name="guidance_stop", queue=False)
    sample_inputs, sample_outputs = [state, klass, w, n, s_seed], [state, scrub, t_slider, runs_note]
    train_ev.success(sample, sample_inputs, sample_outputs, api_visibility="private", concurrency_limit=2,
                     concurrency_id="toy_sample")
    sample_btn.click(sample, sample_inputs, sample_outputs, api_name="guidance_sample", concurrency_limit=2,
                     concurrency_id="toy_sample")
    sweep_btn.click(sweep, [state, klass], [state, sweep_plot, sweep_md], api_name="guidance_sweep", concurrency_limit=2,
                    concurrency_id="toy_sample")
    t_slider.input(None, t_slider, None, js=scrub_js(SCRUB_ID))
    t_slider.change(None, t_slider, None, js=scrub_js(SCRUB_ID))
    play_rev.click(None, js=play_js(SCRUB_ID, SLIDER_ID, -1))
    play_fwd.click(None, js=play_js(SCRUB_ID, SLIDER_ID, +1))
    digits_btn.click(digits_sample, [state, digit, d_w, d_batch, d_seed], [state, d_scrub, d_slider, d_md],
                     api_name="guidance_digits", concurrency_limit=1, concurrency_id="image_heavy")
    grid_btn.click(digits_grid, [state, d_seed], [state, grid_img, grid_md], api_name="guidance_grid",
                   concurrency_limit=1, concurrency_id="image_heavy")
    d_slider.input(None, d_slider, None, js=scrub_js(DIGITS_SCRUB))
    d_slider.change(None, d_slider, None, js=scrub_js(DIGITS_SCRUB))
    gr.on(None, on_load, [], [state, data_img, legend, klass, status, scrub, t_slider, runs_note, sweep_md, grid_img,
                              grid_md],
          api_visibility="private", concurrency_limit=None, show_progress="hidden")
    return state
