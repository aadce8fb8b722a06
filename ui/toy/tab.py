"""The Toy lab tab: data -> train -> sample -> scrub, in 1-D and 2-D, with the exact answer beside it.

``build_toy_tab()`` creates the components inside the current gr.Blocks / gr.Tab and wires the events to the
handlers of :mod:`.handlers` (each a named API endpoint)."""
from __future__ import annotations

import gradio as gr

from diffusion import LAB_SPACINGS, SAMPLERS, toy
from diffusion.labs.runner import MAX_FRAMES
from diffusion.schedules import SCHEDULES

from ..serving.session import SESSION_TTL_S, close_session
from ..widgets.export import export_row
from .. import lessons
from ..widgets.inputs import pick_brush_js, readable_drawings
from ..widgets.scrubber import placeholder_html, play_js, scrub_js
from ..widgets.text import LATEX
from ..serving import limits
from .handlers import (MAX_POINTS, MAX_TRAIN_STEPS, SCRUB_ID, SLIDER_ID, _fit_defaults, check_sample, check_train,
                       flow_vs_diffusion, frame, gif, on_load, sample, set_view, stop, train, use_data, view_1d)
from .session import DEFAULT_DATA, DEFAULT_SAMPLING, SHARED
from .text import DATA_MD, EXPORT_MD, FLOW_MD, INTRO_MD, ONED_MD, SAMPLE_MD, SCRUB_MD, TRAIN_MD
from .views import DEFAULT_OVERLAYS, OVERLAYS


# --- layout and wiring -----------------------------------------------------------------------------------------------
def build_toy_tab() -> gr.State:
    """Create the Toy lab's components inside the current gr.Blocks / gr.Tab and wire their events.

    Returns the tab's per-session gr.State (a :class:`~ui.toy.session.ToySession`), so other tabs can use the
    visitor's toy model (the Compare tab races it)."""
    DATASETS, OBJECTIVES = toy.DATASETS, toy.OBJECTIVES
    SHARED.start()
    d = _fit_defaults()

    state = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=close_session)
    gr.Markdown(INTRO_MD, elem_classes="dl-explain")
    with gr.Row(equal_height=False, elem_classes="dl-picture-first"):   # on a phone: the pictures first
        with gr.Column(scale=4, min_width=340, elem_classes="dl-controls"):
            with gr.Accordion("1 · Data", open=True):
                gr.Markdown(DATA_MD, latex_delimiters=LATEX)
                source = gr.Radio(["dataset", "drawing", "word"], value="dataset", label="Data source")
                dataset = gr.Dropdown(list(DATASETS), value=DEFAULT_DATA["name"], label="Dataset",
                                      info="2-D: " + ", ".join(k for k, v in DATASETS.items() if v[0] == 2)
                                      + ". 1-D: " + ", ".join(k for k, v in DATASETS.items() if v[0] == 1))
                word = gr.Textbox("HELLO", label="Word", max_length=24, visible=False)
                drawing = readable_drawings(gr.Sketchpad(
                    label="Draw your distribution", type="numpy", image_mode="RGBA", canvas_size=(320, 320),
                    visible=False, elem_id="toy-drawing",
                    brush=gr.Brush(default_size=14, colors=["#000000"], color_mode="fixed")))
                with gr.Row():
                    n_data = gr.Slider(100, MAX_POINTS, DEFAULT_DATA["n"], step=100, label="Points")
                    data_seed = gr.Number(DEFAULT_DATA["seed"], precision=0, label="Data seed", minimum=0)
                data_btn = gr.Button("Use this data", variant="secondary")
                data_img = gr.Image(label="Data", show_label=False, type="pil", interactive=False, height=300,
                                    format="png", buttons=["download"])
                data_info = gr.Markdown(elem_id="toy-data-info")
            with gr.Accordion("2 · Train", open=True):
                gr.Markdown(TRAIN_MD, latex_delimiters=LATEX)
                with gr.Accordion("Training settings", open=False):
                    with gr.Row():
                        schedule = gr.Dropdown(sorted(SCHEDULES), value=d["schedule"], label="Schedule")
                        objective = gr.Dropdown(list(OBJECTIVES), value=d["objective"], label="Objective",
                                                info="predict ε, x₀ or v (diffusion), or a velocity (flow matching)")
                    with gr.Row():
                        T = gr.Slider(10, 1000, d["num_timesteps"], step=10, label="T (timesteps)")
                        steps = gr.Slider(100, MAX_TRAIN_STEPS, d["steps"], step=100, label="Training steps")
                    with gr.Row():
                        hidden = gr.Slider(16, 512, d["hidden"], step=16, label="Width")
                        depth = gr.Slider(1, 8, d["depth"], step=1, label="Depth")
                    with gr.Row():
                        batch = gr.Slider(16, 4096, d["batch_size"], step=16, label="Batch size")
                        lr = gr.Number(d["lr"], label="Learning rate", minimum=0)
                        train_seed = gr.Number(0, precision=0, label="Seed", minimum=0)
                with gr.Row():
                    train_btn = gr.Button("Train", variant="primary")
                    stop_btn = gr.Button("Stop", variant="stop")
                train_status = gr.Markdown(elem_id="toy-train-status")
                loss_plot = gr.LinePlot(x="step", y="loss", title="Training loss (smoothed)", height=220,
                                        x_title="step", y_title="loss")
        with gr.Column(scale=7):
            with gr.Accordion("3 · Scrub through the run", open=True):
                overlays = gr.CheckboxGroup(list(OVERLAYS), value=list(DEFAULT_OVERLAYS), label="Show")
                scrub = gr.HTML(placeholder_html("The default model is being trained — a few seconds."),
                                elem_id=SCRUB_ID, js_on_load=None)
                t_slider = gr.Slider(0, MAX_FRAMES - 1, 0, step=1, elem_id=SLIDER_ID,
                                     label="Step through the run: 0 = clean data … right end = pure noise")
                with gr.Row():
                    play_rev = gr.Button("▶ Play reverse (noise → data)", size="sm")
                    play_fwd = gr.Button("▶ Play forward (data → noise)", size="sm")
                gr.Markdown(SCRUB_MD, latex_delimiters=LATEX, elem_classes="dl-explain")
            with gr.Accordion("4 · Sample: another sampler, step count, spacing or seed", open=True):
                gr.Markdown(SAMPLE_MD, latex_delimiters=LATEX)
                with gr.Row():
                    sampler = gr.Dropdown(list(SAMPLERS), value=DEFAULT_SAMPLING["sampler"], label="Sampler",
                                          info="flow matching: euler or heun")
                    s_steps = gr.Slider(1, 1000, DEFAULT_SAMPLING["num_steps"], step=1, label="Sampling steps")
                    eta = gr.Slider(0.0, 1.0, DEFAULT_SAMPLING["eta"], step=0.05, label="η (DDIM only)",
                                    info="0: deterministic; 1: as noisy as DDPM")
                with gr.Row():
                    spacing = gr.Dropdown(list(LAB_SPACINGS), value=DEFAULT_SAMPLING["spacing"],
                                          label="Timestep spacing",
                                          info="which of the T steps a short run visits (diffusion only)")
                    s_seed = gr.Number(DEFAULT_SAMPLING["seed"], precision=0, label="Seed", minimum=0)
                    s_n = gr.Slider(100, MAX_POINTS, DEFAULT_SAMPLING["n"], step=100, label="Points",
                                    min_width=220)      # room for "5000" beside the slider
                    sample_btn = gr.Button("Sample", variant="primary", scale=0, min_width=160, elem_id="toy-sample-btn")
                quality_md = gr.Markdown(elem_id="toy-quality")
            with gr.Accordion("5 · Diffusion vs flow matching", open=False) as flow_section:
                gr.Markdown(FLOW_MD, latex_delimiters=LATEX)
                flow_btn = gr.Button("Compare on my data (trains the other kind of model: a few seconds)",
                                     elem_id="toy-flow-btn")
                flow_img = gr.Image(label="ODE paths from the same noise", show_label=False, type="pil",
                                    interactive=False, format="png", height=360)
                flow_table = gr.Markdown()
            with gr.Accordion("6 · 1-D view: the density over time, with ODE and SDE paths", open=False):
                gr.Markdown(ONED_MD, latex_delimiters=LATEX)
                oned_btn = gr.Button("Draw the 1-D view")
                oned_img = gr.Image(label="log p_t(x) over (t, x)", show_label=False, type="pil", interactive=False,
                                    format="png", height=400)
                oned_note = gr.Markdown()
            with gr.Accordion("Export", open=False):
                gr.Markdown(EXPORT_MD)
                export = export_row(["reverse", "forward"], frame_height=340)

    for key, component in {"toy.sampler": sampler, "toy.steps": s_steps, "toy.eta": eta, "toy.overlays": overlays,
                           "toy.flow_section": flow_section}.items():
        lessons.control(key, component)      # what the Lessons menu may set

    # --- events ---
    def show_source(src):
        return (gr.update(visible=src == "dataset"), gr.update(visible=src == "word"),
                gr.update(visible=src == "drawing"))

    source.change(show_source, source, [dataset, word, drawing], api_visibility="private", queue=False)
    # the sketch pad opens with no tool selected ("select the draw tool to start"): pick the brush for the visitor
    source.change(None, source, None, js=pick_brush_js("drawing", "toy-drawing"))
    data_btn.click(use_data, [state, source, dataset, word, drawing, n_data, data_seed], [state, data_img, data_info],
                   api_name="toy_data", concurrency_id="toy_light")
    train_inputs = [state, schedule, T, objective, hidden, depth, steps, batch, lr, train_seed]
    # a run over the work limit is refused when it arrives (the message on the Steps slider), not after its wait
    train_ev = train_btn.click(train, train_inputs, [state, loss_plot, train_status], api_name="toy_train",
                               concurrency_limit=2, concurrency_id="toy_train",
                               validator=limits.at_admission(check_train, len(train_inputs), train_inputs.index(steps)))
    stop_btn.click(stop, state, state, api_name="toy_stop", queue=False)
    sample_inputs = [state, sampler, s_steps, eta, s_seed, s_n, overlays, spacing]
    sample_outputs = [state, scrub, t_slider, quality_md]
    train_ev.success(sample, sample_inputs, sample_outputs, api_visibility="private",
                     concurrency_limit=2, concurrency_id="toy_sample")
    sample_btn.click(sample, sample_inputs, sample_outputs, api_name="toy_sample",
                     concurrency_limit=2, concurrency_id="toy_sample",
                     validator=limits.at_admission(check_sample, len(sample_inputs), sample_inputs.index(s_steps)))
    overlays.input(set_view, [state, overlays, t_slider], [state, scrub], api_name="toy_view",
                   concurrency_id="toy_light")
    t_slider.input(None, t_slider, None, js=scrub_js(SCRUB_ID))
    t_slider.change(None, t_slider, None, js=scrub_js(SCRUB_ID))   # also when the server moves it
    play_rev.click(None, js=play_js(SCRUB_ID, SLIDER_ID, -1))
    play_fwd.click(None, js=play_js(SCRUB_ID, SLIDER_ID, +1))
    export.gif_btn.click(gif, [state, export.view, export.fps], export.gif_out, api_name="toy_gif",
                         concurrency_id="toy_light")
    # a scrub has its own group with no limit: it returns a stored PNG, so it never waits behind a redraw or a
    # data pick in "toy_light" (bench/load_test.py)
    export.frame_btn.click(frame, [state, export.view, t_slider], export.frame_out, api_name="toy_frame",
                           concurrency_limit=None, concurrency_id="toy_scrub")

    flow_btn.click(flow_vs_diffusion, state, [state, flow_img, flow_table], api_name="toy_flow_vs_diffusion",
                   concurrency_limit=2, concurrency_id="toy_train")
    oned_btn.click(view_1d, state, [state, oned_img, oned_note], api_name="toy_1d", concurrency_id="toy_sample")
    # triggers=None: runs when the page loads
    gr.on(None, on_load, [], [state, data_img, data_info, loss_plot, train_status, scrub, t_slider, quality_md],
          api_visibility="private", concurrency_limit=None, show_progress="hidden")
    return state
