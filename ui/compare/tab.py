"""The Compare tab: noise schedules side by side, timestep spacings, the sampler race, "break it", and the guidance
sweep on digits.

``build_compare_tab()`` creates the components inside the current gr.Blocks / gr.Tab and wires the events to the
handlers of :mod:`.handlers` (each a named API endpoint)."""
from __future__ import annotations

import gradio as gr

from diffusion import SAMPLERS
from diffusion.schedules import SCHEDULES
from diffusion.labs import breakit, race
from diffusion.toy import DATASETS

from .. import lessons
from ..serving.session import SESSION_TTL_S, close_session
from ..widgets.pictures import example_names
from ..widgets.text import LATEX
from .handlers import (DEFAULT_RACE, DEFAULT_SCHEDULES, DEFAULT_SPACING, MAX_T, MIN_T, break_it, compare_schedules,
                       compare_spacing, default_race_view, default_schedules, run_race, stop_race)
from .guidance import DEFAULT_GUIDANCE, MAX_SWEEP_SAMPLES, SWEEP_SCALES, compare_guidance
from .session import RACE_MODELS, RACE_SPACINGS, TOY_YOURS
from .text import BREAK_MD, GRID_MD, GUIDANCE_MD, INTRO_MD, RACE_MD, SCHEDULES_MD, SPACING_MD, TERMINAL_MD


# --- layout and wiring -----------------------------------------------------------------------------------------------
def build_compare_tab(toy_state=None) -> None:
    """Create the Compare tab's components inside the current gr.Blocks / gr.Tab and wire their events.

    ``toy_state``: the Toy lab's gr.State, if the app passes it, adds "your Toy-lab model" to the race."""

    state = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=close_session)
    gr.Markdown(INTRO_MD, latex_delimiters=LATEX, elem_classes="dl-explain")
    with gr.Accordion("1 · Noise schedules", open=True):
        gr.Markdown(SCHEDULES_MD, latex_delimiters=LATEX)
        with gr.Row():
            sch = gr.CheckboxGroup(sorted(SCHEDULES), value=DEFAULT_SCHEDULES["schedules"], label="Schedules")
            sch_T = gr.Slider(MIN_T, MAX_T, DEFAULT_SCHEDULES["T"], step=1, label="T (timesteps)")
            sch_rescale = gr.Checkbox(DEFAULT_SCHEDULES["rescale"], label="also show the zero-terminal-SNR rescale")
        with gr.Row():
            examples = example_names()
            sch_example = gr.Dropdown(examples, value=examples[0], label="Picture for the noised grid")
            sch_data = gr.Dropdown(list(DATASETS), value=DEFAULT_SCHEDULES["data"], label="Toy data for the x_T check")
            sch_seed = gr.Number(DEFAULT_SCHEDULES["seed"], precision=0, minimum=0, label="Noise seed")
            sch_btn = gr.Button("Compare schedules", variant="primary", elem_id="cmp-sch-btn")
        sch_curves = gr.Image(label="ᾱ_t, log-SNR(t), β_t", show_label=False, type="pil", format="png",
                              interactive=False, elem_id="cmp-curves")      # the figure has its own titles
        gr.Markdown(GRID_MD, latex_delimiters=LATEX)
        sch_grid = gr.Image(label="The same picture and noise at the same t under each schedule", type="pil",
                            format="png", interactive=False)
        gr.Markdown(TERMINAL_MD, latex_delimiters=LATEX)
        sch_md = gr.Markdown(elem_id="cmp-sch-md")
        sch_table = gr.Dataframe(label="The last step", interactive=False, wrap=True)
    with gr.Accordion("2 · Timestep spacing", open=True):
        gr.Markdown(SPACING_MD, latex_delimiters=LATEX)
        with gr.Row():
            sp_sampler = gr.Dropdown(list(SAMPLERS), value=DEFAULT_SPACING["sampler"], label="Sampler")
            sp_steps = gr.Slider(1, 100, DEFAULT_SPACING["steps"], step=1, label="Steps (few)")
            sp_schedule = gr.Dropdown(sorted(SCHEDULES), value=DEFAULT_SPACING["schedule"],
                                      label="Schedule (T = 1000)")
            sp_seed = gr.Number(DEFAULT_SPACING["seed"], precision=0, minimum=0, label="Seed")
            sp_btn = gr.Button("Compare spacings", variant="primary", elem_id="cmp-sp-btn")
        sp_md = gr.Markdown(elem_id="cmp-sp-md")
        sp_visited = gr.Image(label="Which timesteps are visited", type="pil", format="png", interactive=False)
        sp_table = gr.Dataframe(label="Per spacing", interactive=False, wrap=True)
        sp_clouds = gr.Image(label="Samples per spacing (red) over the data (blue)", type="pil", format="png",
                             interactive=False)
    with gr.Accordion("3 · Sampler race", open=True):
        gr.Markdown(RACE_MD, latex_delimiters=LATEX)
        with gr.Row():
            models = RACE_MODELS + ([TOY_YOURS] if toy_state is not None else [])
            r_model = gr.Dropdown(models, value=DEFAULT_RACE["model"], label="Model")
            r_samplers = gr.CheckboxGroup(list(SAMPLERS), value=DEFAULT_RACE["samplers"], label="Samplers")
        with gr.Row():
            r_steps = gr.Textbox(DEFAULT_RACE["steps"], label=f"Step counts (≤ {race.MAX_STEP_COUNTS}, comma-separated)",
                                 elem_id="cmp-race-steps")
            r_spacing = gr.Dropdown(RACE_SPACINGS, value=DEFAULT_RACE["spacing"], label="Timestep spacing")
            r_points = gr.Slider(100, race.MAX_TOY_POINTS, DEFAULT_RACE["points"], step=100, label="Points (toy)")
            r_images = gr.Slider(1, race.MAX_IMAGES, DEFAULT_RACE["images"], step=1, label="Images (image model)")
            r_seed = gr.Number(DEFAULT_RACE["seed"], precision=0, minimum=0, label="Seed (x_T)")
        with gr.Row():
            r_btn = gr.Button("Run the race", variant="primary", elem_id="cmp-race-btn")
            r_stop = gr.Button("Stop", variant="stop", elem_id="cmp-race-stop")
        r_md = gr.Markdown(elem_id="cmp-race-md")
        r_clouds = gr.Image(label="Final samples: rows = samplers, columns = step counts", type="pil", format="png",
                            interactive=False, elem_id="cmp-race-clouds")
        with gr.Row():
            r_plot = gr.Image(label="Quality against network calls", show_label=False, type="pil", format="png",
                              interactive=False)       # titled and labelled in the figure
            r_table = gr.Dataframe(label="Every run", interactive=False, elem_id="cmp-race-table")
        r_png = gr.File(label="The race as a PNG figure", interactive=False, elem_id="cmp-race-png")
    with gr.Accordion("4 · Break it", open=True):
        gr.Markdown(BREAK_MD, latex_delimiters=LATEX)
        with gr.Row():
            b_exp = gr.Radio(list(breakit.EXPERIMENTS), value="T too small", label="Mistake")
            b_seed = gr.Number(0, precision=0, minimum=0, label="Seed")
            b_btn = gr.Button("Break it", variant="primary", elem_id="cmp-break-btn")
        b_md = gr.Markdown(latex_delimiters=LATEX, elem_id="cmp-break-md")
        b_img = gr.Image(label="Right (left) vs broken (right), data in blue", show_label=False, type="pil",
                         format="png", interactive=False, elem_id="cmp-break-img")     # panels carry titles

    with gr.Accordion("5 · Guidance sweep (digits)", open=True):
        gr.Markdown(GUIDANCE_MD, latex_delimiters=LATEX)
        with gr.Row():
            g_digit = gr.Slider(0, 9, DEFAULT_GUIDANCE["digit"], step=1, label="Digit asked for")
            g_n = gr.Slider(2, MAX_SWEEP_SAMPLES, DEFAULT_GUIDANCE["n"], step=1, label="Samples per w")
            g_steps = gr.Slider(2, 200, DEFAULT_GUIDANCE["steps"], step=1, label="DDIM steps")
            g_seed = gr.Number(DEFAULT_GUIDANCE["seed"], precision=0, minimum=0, label="Seed (x_T)")
            g_btn = gr.Button("Sweep w", variant="primary", elem_id="cmp-guid-btn")
        g_plot = gr.Image(label="Read as the digit asked for, and diversity, against w", show_label=False,
                          type="pil", format="png", interactive=False, elem_id="cmp-guid-plot")
        g_md = gr.Markdown("Press **Sweep w**: the chosen number of samples of the digit at each of "
                           f"{len(SWEEP_SCALES)} guidance scales, all from one $x_T$, then judged.",
                           elem_id="cmp-guid-md", latex_delimiters=LATEX)
        g_samples = gr.Image(label="Samples: rows = w, columns = the same x_T", type="pil", format="png",
                             interactive=False, elem_id="cmp-guid-samples")

    for key, component in {"compare.sch_T": sch_T, "compare.sch_rescale": sch_rescale, "compare.sp_sampler": sp_sampler,
                           "compare.sp_steps": sp_steps, "compare.sp_schedule": sp_schedule, "compare.b_exp": b_exp,
                           "compare.g_digit": g_digit}.items():
        lessons.control(key, component)      # what the Lessons menu may set

    sch_btn.click(compare_schedules, [sch, sch_T, sch_rescale, sch_example, sch_data, sch_seed],
                  [sch_curves, sch_grid, sch_table, sch_md], api_name="compare_schedules",
                  concurrency_id="compare_light", concurrency_limit=2)
    sp_btn.click(compare_spacing, [sp_sampler, sp_steps, sp_schedule, sp_seed],
                 [sp_visited, sp_table, sp_clouds, sp_md],
                 api_name="compare_spacing", concurrency_id="compare_heavy", concurrency_limit=1)
    race_inputs = [state, r_model, r_samplers, r_steps, r_points, r_images, r_seed, r_spacing]
    if toy_state is not None:
        race_inputs.append(toy_state)
    r_btn.click(run_race, race_inputs, [state, r_clouds, r_plot, r_table, r_md, r_png], api_name="race",
                concurrency_id="compare_heavy", concurrency_limit=1)
    r_stop.click(stop_race, state, state, api_name="race_stop", queue=False)
    g_btn.click(compare_guidance, [g_digit, g_n, g_steps, g_seed], [g_plot, g_samples, g_md],
                api_name="compare_guidance", concurrency_id="image_heavy", concurrency_limit=1)
    b_btn.click(break_it, [b_exp, b_seed], [b_img, b_md], api_name="break_it", concurrency_id="compare_heavy",
                concurrency_limit=1)
    # the race section opens with the default race (run once per server, at the first page load)
    gr.on(None, default_race_view, [], [r_clouds, r_plot, r_table, r_md, r_png], api_visibility="private",
          concurrency_limit=None, show_progress="hidden")
    # the first section opens filled in (its defaults, computed once per server), not as empty boxes
    gr.on(None, default_schedules, [], [sch_curves, sch_grid, sch_table, sch_md], api_visibility="private",
          concurrency_limit=None, show_progress="hidden")
