"""The Toy lab tab (issue 3): data -> train -> sample -> scrub, in 1-D and 2-D, with the exact answer beside it.

This module builds the components and wires the events. The maths is in ``diffusion`` (called through
:mod:`ui.toy_runs`); frames are drawn by :mod:`ui.toy_views`; per-session state lives in :mod:`ui.toy_session`.
Every public action is a named API endpoint (``/toy_data``, ``/toy_train``, ``/toy_stop``, ``/toy_sample``,
``/toy_view``, ``/toy_frame``, ``/toy_gif``, ``/toy_flow_vs_diffusion``, ``/toy_1d``) whose parameters all have
defaults, so ``Client(url).predict(api_name="/toy_train")`` works as it is.
"""
from __future__ import annotations

import math
import threading
import time

import gradio as gr
import numpy as np
import pandas as pd

from .common import (MAX_FRAMES, SESSION_TTL_S, choice, decode_png, gif_file, number, placeholder_html, play_js,
                     png_file, readable_drawings, scrub_js, scrubber_html, user_error)
from .priority import in_background, lower_priority
from .toy_runs import ToyData
from .toy_session import DEFAULTS, DEFAULT_DATA, DEFAULT_SAMPLING, Run, close_session, new_session
from .toy_text import DATA_MD, EXPORT_MD, FLOW_MD, INTRO_MD, ONED_MD, SAMPLE_MD, SCRUB_MD, TRAIN_MD
from .toy_views import DEFAULT_OVERLAYS, OVERLAYS

SCRUB_ID = "toy-scrub"
SLIDER_ID = "toy-t"
MAX_POINTS = 5000        # points per data set / sampling run in the UI and the API
MAX_TRAIN_STEPS = 20000
MAX_DRAWING_SIDE = 1024  # a larger drawing (an uploaded 8000 px image) is shrunk first: the sketch pad is 320 px
POLL_S = 0.2             # how often the training loop reports (and so how fast Stop is seen)
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def _fit_defaults() -> dict:
    """toy.fit's own defaults, so the UI and the API default to what the core does."""
    from diffusion import toy
    return dict(toy.DEFAULTS)


# --- handlers (plain functions: the tests call them through gradio_client) -----------------------------------------
def _session(session):
    """The visitor's session; API calls that never loaded the page get a fresh one here."""
    if session is None or session.data is None:
        return new_session()
    return session


def data_image(data: ToyData):
    from . import toy_render as R
    pts = data.points.numpy()
    if data.dim == 2:
        ax = R.Axes2D(R.bounds_2d(pts), 340, f"{data.label}: {len(pts)} points")
        return ax.canvas().points(pts, R.DATA, alpha=0.4).image()
    lo, hi = float(pts.min()), float(pts.max())
    pad = 0.1 * (hi - lo) + 1e-3
    dens, _ = np.histogram(pts[:, 0], bins=80, range=(lo - pad, hi + pad), density=True)
    ax = R.Axes1D((lo - pad, hi + pad), 1.15 * float(dens.max()), 340, f"{data.label}: {len(pts)} points")
    return ax.canvas().histogram(pts[:, 0], R.DATA).image()


def _data_info(data: ToyData) -> str:
    kind = "a Gaussian mixture: exact fields in closed form" if data.mixture is not None else \
        "exact fields from the memorising denoiser of these points"
    return f"**{data.label}** — {len(data.points)} points in {data.dim}-D ({kind})."


def use_data(session, source="dataset", dataset=DEFAULT_DATA["name"], word="HELLO", drawing=None,
             n=DEFAULT_DATA["n"], seed=DEFAULT_DATA["seed"]):
    """/toy_data: set the session's data from a data set, a word or a drawing."""
    session = _session(session)
    from diffusion.toy.data import DATASETS
    source = choice("data source", source, ["dataset", "drawing", "word"])
    n = number("points", n, 2, MAX_POINTS, integer=True)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    try:
        if source == "dataset":
            data = ToyData.from_dataset(choice("dataset", dataset, list(DATASETS)), n, seed)
        elif source == "word":
            if not isinstance(word, str) or not word.strip():
                raise gr.Error("The word is empty (or only spaces): type a few letters, e.g. HELLO.")
            data = ToyData.from_dataset("text:" + word.strip(), n, seed)
        else:
            image = _drawing_image(drawing)
            data = ToyData.from_drawing(image, n, seed)
    except ValueError as exc:
        raise user_error(exc) from None
    session.data = data
    return session, data_image(data), _data_info(data) + " Press **Train** to fit a model to it."


def _drawing_image(drawing):
    """The composite image of a gr.Sketchpad value, or a clear error when there is nothing drawn."""
    if isinstance(drawing, dict):
        drawing = drawing.get("composite")
    if drawing is None:
        raise gr.Error("The drawing is empty: draw a shape on the sketch pad first (dark strokes become the data).")
    if isinstance(drawing, np.ndarray) and max(drawing.shape[:2]) > MAX_DRAWING_SIDE:
        # the point sampler draws one category per pixel (at most 2^24); a 2-D cloud needs no more than ~1 Mpx
        from PIL import Image
        im = Image.fromarray(drawing)
        im.thumbnail((MAX_DRAWING_SIDE, MAX_DRAWING_SIDE), Image.Resampling.BOX)
        drawing = np.asarray(im)
    return drawing


def _loss_frame(losses: list[float]) -> pd.DataFrame:
    """The loss curve, smoothed (exponential moving average) and thinned to at most ~400 points."""
    if not losses:
        return pd.DataFrame({"step": [], "loss": []})
    smooth, out_steps, out_loss = None, [], []
    every = max(1, len(losses) // 400)
    for i, v in enumerate(losses):
        if not math.isfinite(v):
            continue
        smooth = v if smooth is None else 0.97 * smooth + 0.03 * v
        if i % every == 0 or i == len(losses) - 1:
            out_steps.append(i + 1)
            out_loss.append(smooth)
    return pd.DataFrame({"step": out_steps, "loss": out_loss})


def train(session, schedule=None, num_timesteps=None, objective=None, hidden=None, depth=None, steps=None,
          batch_size=None, lr=None, seed=0, progress=gr.Progress()):
    """/toy_train: fit a model to the session's data; yields the live loss curve. Stop keeps the model so far."""
    from diffusion import toy
    from diffusion.schedules import SCHEDULES
    session = _session(session)
    d = _fit_defaults()
    kwargs = dict(
        schedule=choice("schedule", d.get("schedule") if schedule is None else schedule, sorted(SCHEDULES)),
        num_timesteps=number("T (timesteps)", d.get("num_timesteps") if num_timesteps is None else num_timesteps,
                             2, 1000, integer=True),
        objective=choice("objective", d.get("objective") if objective is None else objective,
                         ["epsilon", "sample", "v_prediction", "flow_matching"]),
        hidden=number("width", d.get("hidden") if hidden is None else hidden, 8, 512, integer=True),
        depth=number("depth", d.get("depth") if depth is None else depth, 1, 8, integer=True),
        steps=number("training steps", d.get("steps") if steps is None else steps, 1, MAX_TRAIN_STEPS, integer=True),
        batch_size=number("batch size", d.get("batch_size") if batch_size is None else batch_size, 1, 4096,
                          integer=True),
        lr=number("learning rate", d.get("lr") if lr is None else lr, 1e-7, 10.0),
        seed=number("seed", seed, 0, 2**31 - 1, integer=True),
    )
    if session.training:
        raise gr.Error("A training run is already going in this session: press Stop first.")
    data = session.data
    total = kwargs["steps"]
    losses: list[float] = []
    box: dict = {}
    session.stop.clear()

    def callback(step, total_steps, loss):
        losses.append(float(loss))

    def work():
        lower_priority()   # a scrub or a redraw by anyone goes first (ui/priority.py)
        try:
            # a named data set trains on fresh draws of it (toy.fit's n_data); a drawing on its points
            box["model"] = toy.fit(data.name or data.points, callback=callback, stop=session.stop.is_set, **kwargs)
        except Exception as exc:  # reported to the visitor below; the session keeps its old model
            box["error"] = exc

    session.training = True
    thread = threading.Thread(target=work, name="toy-train", daemon=True)
    t0 = time.perf_counter()
    thread.start()
    try:
        while thread.is_alive():
            thread.join(POLL_S)
            k = len(losses)
            progress((k, total), desc="training", unit="steps")
            last = f"{losses[-1]:.4f}" if losses else "…"
            yield session, _loss_frame(losses), f"Training on {data.label}: step {k} / {total}, loss {last}"
    finally:
        session.training = False
        session.stop.set()        # a visitor who left mid-run: the thread sees it and ends
    elapsed = time.perf_counter() - t0
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, ValueError):
            raise gr.Error(f"Training failed: {exc} — the previous model is kept.") from None
        raise gr.Error(f"Training failed ({type(exc).__name__}: {exc}); the previous model is kept.") from None
    model = box["model"]
    finite = [v for v in losses if math.isfinite(v)]
    if not finite or len(finite) < len(losses) or not math.isfinite(getattr(model, "losses", [0.0])[-1] or 0.0):
        raise gr.Error(f"Training diverged (the loss became NaN/inf) with learning rate {kwargs['lr']:g}: lower it "
                       f"(e.g. 1e-3) and train again — the previous model is kept.")
    stopped = len(losses) < total
    session.model, session.model_data, session.losses = model, data, list(losses)
    session.model_note = (f"your model: {kwargs['objective']} on {data.label}, {len(losses)} steps"
                          f"{' (stopped early)' if stopped else ''}, {elapsed:.1f} s")
    yield session, _loss_frame(losses), (f"**Done**{' (stopped — the model so far is kept)' if stopped else ''}: "
                                         f"{len(losses)} steps in {elapsed:.1f} s, final loss {finite[-1]:.4f}. "
                                         f"Sample to scrub through it.")


def stop(session):
    """/toy_stop: ask this session's training to stop (it ends within a fraction of a second)."""
    if session is not None:
        session.stop.set()
    return session


def sample(session, sampler=DEFAULT_SAMPLING["sampler"], num_steps=DEFAULT_SAMPLING["num_steps"],
           eta=DEFAULT_SAMPLING["eta"], seed=DEFAULT_SAMPLING["seed"], n=DEFAULT_SAMPLING["n"],
           overlays=DEFAULT_OVERLAYS, spacing=DEFAULT_SAMPLING["spacing"], progress=gr.Progress()):
    """/toy_sample: sample n points with the session's model; record and draw every frame for the scrubber."""
    from diffusion.samplers import SAMPLERS
    from diffusion.toy import FLOW_SAMPLERS
    from .toy_runs import is_flow, record_run
    session = _session(session)
    model = session.model
    flow = is_flow(model)
    if flow and sampler in SAMPLERS and sampler not in FLOW_SAMPLERS:
        gr.Warning(f"A flow-matching model integrates its ODE with {' or '.join(FLOW_SAMPLERS)}; "
                   f"using euler instead of {sampler}.")
        sampler = "euler"
    sampler = choice("sampler", sampler, list(FLOW_SAMPLERS) if flow else list(SAMPLERS))
    T = 1000 if flow else model.schedule.num_timesteps
    num_steps = number("sampling steps", num_steps, 1, T, integer=True)
    eta = number("eta", eta, 0.0, 1.0)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    n = number("points", n, 2, MAX_POINTS, integer=True)
    overlays = _overlays(overlays)
    from diffusion import SPACINGS
    spacing = choice("timestep spacing", spacing, list(SPACINGS))
    progress(0.1, desc="sampling")
    settings = dict(sampler=sampler, num_steps=num_steps, eta=eta, seed=seed, n=n, spacing=spacing)
    try:
        def work():
            record, quality = record_run(model, session.model_data, **settings, with_exact=False)
            progress(0.6, desc="drawing frames")
            return Run(record, quality, settings, overlays, model, session.model_data)
        session.run = in_background(work)   # sampling and drawing at low priority: scrubs go first
    except ValueError as exc:
        raise user_error(exc) from None
    return (session, _scrub_html(session.run), _slider(session.run), _quality_md(session, session.run))


def _overlays(overlays) -> tuple:
    if overlays is None:
        return ()
    if isinstance(overlays, str):
        overlays = [overlays]
    for o in overlays:
        choice("overlay", o, list(OVERLAYS))
    return tuple(overlays)


def _scrub_html(run: Run, index: int | None = None) -> str:
    from diffusion.samplers import SAMPLER_OPTIONS
    F = run.record.num_frames
    index = 0 if index is None else index
    s = run.settings
    spacing = f", {s['spacing']} spacing" if s.get("spacing") and s["sampler"] in SAMPLER_OPTIONS else ""
    note = (f"{s['sampler']}, {s['num_steps']} steps{', η = %g' % s['eta'] if s['sampler'] == 'ddim' else ''}"
            f"{spacing}, "
            f"seed {s['seed']}, {s['n']} points — {F} frames"
            + (f" (every step of {len(run.record.labels) - 1} shown)" if F <= MAX_FRAMES else ""))
    return scrubber_html(SCRUB_ID, [("Forward: data → noise", run.frames["forward"]),
                                    ("Reverse: the sampler", run.frames["reverse"])],
                         run.record.labels, index, note)


def _slider(run: Run, index: int | None = None):
    F = run.record.num_frames
    return gr.update(minimum=0, maximum=F - 1, value=0 if index is None else index, step=1)


def _quality_md(session, run: Run) -> str:
    q = run.quality
    verdict = "as good as fresh data" if q < 1.3 else "close" if q < 2 else "rough" if q < 4 else "poor"
    return (f"**Quality {q:.2f}** ({verdict}; 1.0 = as close as a fresh draw of the data) — "
            f"{session.model_note}.")


def set_view(session, overlays=DEFAULT_OVERLAYS, index=None):
    """/toy_view: redraw the current run's frames with other overlays."""
    session = _session(session)
    overlays = _overlays(overlays)
    run = session.run
    F = run.record.num_frames
    index = 0 if index is None else number("frame", index, 0, F - 1, integer=True)
    if run.overlays != overlays:
        session.run = run = in_background(run.with_overlays, overlays)   # redrawing ~100 frames: low priority
    return session, _scrub_html(run, index)


def frame(session, view="reverse", index=0):
    """/toy_frame: one frame of the current run as an image (index 0 = clean data ... last = pure noise)."""
    session = _session(session)
    view = choice("view", view, ["forward", "reverse"])
    F = session.run.record.num_frames
    index = number("frame", index, 0, F - 1, integer=True)
    return png_file(session.run.frames[view][index])


def gif(session, view="reverse", fps=12):
    """/toy_gif: the run as an animated GIF (reverse: noise -> data; forward: data -> noise)."""
    session = _session(session)
    view = choice("view", view, ["forward", "reverse"])
    fps = number("frames per second", fps, 1, 50)
    frames = [decode_png(b) for b in session.run.frames[view]]
    if view == "reverse":
        frames = frames[::-1]
    return gif_file(frames, fps=fps, prefix=f"toy-{view}")


def flow_vs_diffusion(session, progress=gr.Progress()):
    """/toy_flow_vs_diffusion: the session's data trained both ways; their ODE paths and few-step quality."""
    from diffusion import toy
    from .toy_figures import compare_flow, compare_table, draw_compare
    from .toy_runs import is_flow
    session = _session(session)
    model, data = session.model, session.model_data
    if model is DEFAULTS.model and data is DEFAULTS.data:
        figure, table = DEFAULTS.flow_compare()
        return session, figure, table + "\n\n(the shared default models on " + data.label + ")"
    key = (id(model), id(data))
    if session.flow_compare is not None and session.flow_compare[0] == key:
        return session, *session.flow_compare[1:]
    other = "epsilon" if is_flow(model) else "flow_matching"
    steps = _partner_steps()

    def callback(step, total, loss):
        progress((step, total), desc=f"training the {other.replace('_', ' ')} model", unit="steps")

    session.stop.clear()
    try:
        partner = in_background(toy.fit, data.name or data.points, seed=0, objective=other, callback=callback,
                                stop=session.stop.is_set, steps=steps)
        pair = (partner, model) if is_flow(model) else (model, partner)
        progress(0.95, desc="sampling both")
        result = in_background(compare_flow, *pair, data)
    except ValueError as exc:
        raise user_error(exc) from None
    session.flow_compare = (key, draw_compare(result), compare_table(result) + f"\n\n(on {data.label})")
    return session, *session.flow_compare[1:]


def _partner_steps() -> int:
    from diffusion import toy
    from .toy_session import DEFAULT_FIT
    return DEFAULT_FIT.get("steps", toy.DEFAULTS["steps"])


def view_1d(session):
    """/toy_1d: the density p_t(x) over (t, x) with ODE and SDE paths, for the session's 1-D model (or a default)."""
    from .toy_figures import density_paths, draw_density_paths
    session = _session(session)
    if session.model.dim == 1:
        try:
            figure = draw_density_paths(density_paths(session.model, session.model_data))
        except ValueError as exc:
            raise user_error(exc) from None
        return session, figure, f"Your model, on {session.model_data.label}."
    data, _, figure = DEFAULTS.oned()
    return session, figure, (f"Your model is 2-D, so this is the shared default 1-D model on {data.label}. Pick a "
                             f"1-D data set (gmm1d, bimodal, uniform, exponential) and train to see your own.")


# --- on page load --------------------------------------------------------------------------------------------------
_DEFAULT_IMAGE: list = []


def _default_data_image():
    """The default data's picture, drawn once (shown while the default model trains)."""
    if not _DEFAULT_IMAGE:
        _DEFAULT_IMAGE.append(data_image(ToyData.from_dataset(DEFAULT_DATA["name"], DEFAULT_DATA["n"],
                                                              DEFAULT_DATA["seed"])))
    return _DEFAULT_IMAGE[0]


def on_load():
    """Give the visitor their own session (pointing at the shared default model) and show it.

    Right after the server starts, the default model may still be training: the page then shows its loss curve
    live until it is ready (a class opening the page at once shares that one training)."""
    while not DEFAULTS.wait(timeout=0.5):
        k = len(DEFAULTS.losses)
        yield (None, _default_data_image(), "", _loss_frame(DEFAULTS.losses),
               f"Training the shared default model (once per server): step {k} / {DEFAULTS.total_steps}…",
               placeholder_html("The default model is training — its frames appear here in a few seconds."),
               gr.update(), "")
    session = new_session()
    run = session.run
    yield (session, data_image(session.data), _data_info(session.data), _loss_frame(session.losses),
           f"Ready — {session.model_note}.", _scrub_html(run), _slider(run), _quality_md(session, run))


# --- layout and wiring -----------------------------------------------------------------------------------------------
def build_toy_tab() -> gr.State:
    """Create the Toy lab's components inside the current gr.Blocks / gr.Tab and wire their events.

    Returns the tab's per-session gr.State (a :class:`~ui.toy_session.ToySession`), so other tabs can use the
    visitor's toy model (the Compare tab races it)."""
    from diffusion import SPACINGS
    from diffusion.samplers import SAMPLERS
    from diffusion.schedules import SCHEDULES
    from diffusion.toy import DATASETS, OBJECTIVES
    DEFAULTS.start()
    d = _fit_defaults()

    state = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=close_session)
    gr.Markdown(INTRO_MD)
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=340):
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
            with gr.Accordion("3 · Sample", open=True):
                gr.Markdown(SAMPLE_MD, latex_delimiters=LATEX)
                with gr.Row():
                    sampler = gr.Dropdown(list(SAMPLERS), value=DEFAULT_SAMPLING["sampler"], label="Sampler",
                                          info="flow matching: euler or heun")
                    s_steps = gr.Slider(1, 1000, DEFAULT_SAMPLING["num_steps"], step=1, label="Sampling steps")
                    eta = gr.Slider(0.0, 1.0, DEFAULT_SAMPLING["eta"], step=0.05, label="η (DDIM only)",
                                    info="0: deterministic; 1: as noisy as DDPM")
                with gr.Row():
                    spacing = gr.Dropdown(list(SPACINGS), value=DEFAULT_SAMPLING["spacing"],
                                          label="Timestep spacing",
                                          info="which of the T steps a short run visits (diffusion only)")
                    s_seed = gr.Number(DEFAULT_SAMPLING["seed"], precision=0, label="Seed", minimum=0)
                    s_n = gr.Slider(100, MAX_POINTS, DEFAULT_SAMPLING["n"], step=100, label="Points")
                    sample_btn = gr.Button("Sample", variant="primary", scale=0, min_width=160)
                quality_md = gr.Markdown(elem_id="toy-quality")
            with gr.Accordion("4 · Scrub through the run", open=True):
                overlays = gr.CheckboxGroup(list(OVERLAYS), value=list(DEFAULT_OVERLAYS), label="Show")
                scrub = gr.HTML(placeholder_html("The default model is being trained — a few seconds."),
                                elem_id=SCRUB_ID, js_on_load=None)
                t_slider = gr.Slider(0, MAX_FRAMES - 1, 0, step=1, elem_id=SLIDER_ID,
                                     label="Step through the run: 0 = clean data … right end = pure noise")
                with gr.Row():
                    play_rev = gr.Button("▶ Play reverse (noise → data)", size="sm")
                    play_fwd = gr.Button("▶ Play forward (data → noise)", size="sm")
                gr.Markdown(SCRUB_MD, latex_delimiters=LATEX)
            with gr.Accordion("5 · Diffusion vs flow matching", open=False):
                gr.Markdown(FLOW_MD, latex_delimiters=LATEX)
                flow_btn = gr.Button("Compare on my data (trains the other kind of model: a few seconds)")
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
                with gr.Row():
                    gif_view = gr.Radio(["reverse", "forward"], value="reverse", label="View")
                    fps = gr.Slider(2, 30, 12, step=1, label="GIF frames per second")
                with gr.Row():
                    gif_btn = gr.Button("Make GIF")
                    frame_btn = gr.Button("This frame as PNG")
                with gr.Row():
                    gif_out = gr.File(label="GIF", interactive=False)
                    frame_out = gr.Image(label="Frame", type="pil", interactive=False, format="png", height=340)

    # --- events ---
    def show_source(src):
        return (gr.update(visible=src == "dataset"), gr.update(visible=src == "word"),
                gr.update(visible=src == "drawing"))

    source.change(show_source, source, [dataset, word, drawing], api_visibility="private", queue=False)
    # the sketch pad opens with no tool selected ("select the draw tool to start"): pick the brush for the visitor
    source.change(None, source, None, js="""(src) => {
        if (src !== 'drawing') return src;
        let tries = 0;
        const pick = () => {   // the pad appears once the server has made it visible: wait for its brush button
            const brush = document.querySelector('#toy-drawing button[aria-label="Brush"]');
            if (brush && brush.offsetParent !== null) brush.click();
            else if (++tries < 50) setTimeout(pick, 200);
        };
        pick();
        return src;
    }""")
    data_btn.click(use_data, [state, source, dataset, word, drawing, n_data, data_seed], [state, data_img, data_info],
                   api_name="toy_data", concurrency_id="toy_light")
    train_ev = train_btn.click(train, [state, schedule, T, objective, hidden, depth, steps, batch, lr, train_seed],
                               [state, loss_plot, train_status], api_name="toy_train",
                               concurrency_limit=2, concurrency_id="toy_train")
    stop_btn.click(stop, state, state, api_name="toy_stop", queue=False)
    sample_inputs = [state, sampler, s_steps, eta, s_seed, s_n, overlays, spacing]
    sample_outputs = [state, scrub, t_slider, quality_md]
    train_ev.success(sample, sample_inputs, sample_outputs, api_visibility="private",
                     concurrency_limit=2, concurrency_id="toy_sample")
    sample_btn.click(sample, sample_inputs, sample_outputs, api_name="toy_sample",
                     concurrency_limit=2, concurrency_id="toy_sample")
    overlays.input(set_view, [state, overlays, t_slider], [state, scrub], api_name="toy_view",
                   concurrency_id="toy_light")
    t_slider.input(None, t_slider, None, js=scrub_js(SCRUB_ID))
    t_slider.change(None, t_slider, None, js=scrub_js(SCRUB_ID))   # also when the server moves it
    play_rev.click(None, js=play_js(SCRUB_ID, SLIDER_ID, -1))
    play_fwd.click(None, js=play_js(SCRUB_ID, SLIDER_ID, +1))
    gif_btn.click(gif, [state, gif_view, fps], gif_out, api_name="toy_gif", concurrency_id="toy_light")
    # a scrub has its own group with no limit: it costs ~1 ms (a stored PNG), so it never waits behind a redraw or a
    # data pick in "toy_light" (bench/load_test.py)
    frame_btn.click(frame, [state, gif_view, t_slider], frame_out, api_name="toy_frame", concurrency_limit=None,
                    concurrency_id="toy_scrub")

    flow_btn.click(flow_vs_diffusion, state, [state, flow_img, flow_table], api_name="toy_flow_vs_diffusion",
                   concurrency_limit=2, concurrency_id="toy_train")
    oned_btn.click(view_1d, state, [state, oned_img, oned_note], api_name="toy_1d", concurrency_id="toy_sample")
    # triggers=None: runs when the page loads
    gr.on(None, on_load, [], [state, data_img, data_info, loss_plot, train_status, scrub, t_slider, quality_md],
          api_visibility="private", concurrency_limit=None, show_progress="hidden")
    return state
