"""The Toy lab's handlers: data -> train -> sample -> scrub, in 1-D and 2-D, with the exact answer beside it.

Every public action is a named API endpoint (``/toy_data``, ``/toy_train``, ``/toy_stop``, ``/toy_sample``,
``/toy_view``, ``/toy_frame``, ``/toy_gif``, ``/toy_flow_vs_diffusion``, ``/toy_1d``) whose parameters all have
defaults, so ``Client(url).predict(api_name="/toy_train")`` works as it is. The maths is in
:mod:`diffusion.labs.toy_runs` and :mod:`diffusion.labs.toy_extras`; frames are drawn by :mod:`.views`;
per-session state lives in :mod:`.session`.
"""
from __future__ import annotations

import math
import time

import gradio as gr
import numpy as np

from diffusion import LAB_SPACINGS, SAMPLER_OPTIONS, SAMPLERS, toy
from diffusion.fidelity import K, MEANING
from diffusion.labs.toy_extras import compare_flow, density_paths
from diffusion.labs.toy_runs import ToyData, bounds_2d, is_flow, record_run
from diffusion.schedules import SCHEDULES

from ..serving.jobs import StreamedJob
from ..serving.priority import in_background
from ..widgets import canvas
from ..widgets.export import gif_file
from ..widgets.inputs import choice, drawing_parts, number, refusal, user_error
from ..widgets.scrubber import decode_png, placeholder_html, png_file, scrubber_html
from ..serving import limits
from .figures import compare_table, draw_compare, draw_density_paths, loss_frame
from .session import DEFAULT_DATA, DEFAULT_FIT, DEFAULT_SAMPLING, SHARED, Run, new_session
from .views import DEFAULT_OVERLAYS, OVERLAYS

SCRUB_ID = "toy-scrub"
SLIDER_ID = "toy-t"
MAX_POINTS = 5000        # points per data set / sampling run in the UI and the API
MAX_TRAIN_STEPS = 20000
POLL_S = 0.2             # how often the training loop reports (and so how fast Stop is seen)


def _fit_defaults() -> dict:
    """toy.fit's own defaults, so the UI and the API default to what the core does."""
    return dict(toy.DEFAULTS)


# --- handlers (plain functions: the tests call them through gradio_client) -----------------------------------------
def _session(session):
    """The visitor's session; API calls that never loaded the page get a fresh one here."""
    if session is None or session.data is None:
        return new_session()
    return session


def data_image(data: ToyData):
    pts = data.points.numpy()
    if data.dim == 2:
        ax = canvas.Axes2D(bounds_2d(pts), 340, f"{data.label}: {len(pts)} points")
        return ax.canvas().points(pts, canvas.DATA, alpha=0.4).image()
    lo, hi = float(pts.min()), float(pts.max())
    pad = 0.1 * (hi - lo) + 1e-3
    dens, _ = np.histogram(pts[:, 0], bins=80, range=(lo - pad, hi + pad), density=True)
    ax = canvas.Axes1D((lo - pad, hi + pad), 1.15 * float(dens.max()), 340, f"{data.label}: {len(pts)} points")
    return ax.canvas().histogram(pts[:, 0], canvas.DATA).image()


def _data_info(data: ToyData) -> str:
    kind = "a Gaussian mixture: exact fields in closed form" if data.mixture is not None else \
        "exact fields from the memorising denoiser of these points"
    return f"**{data.label}** — {len(data.points)} points in {data.dim}-D ({kind})."


def use_data(session, source="dataset", dataset=DEFAULT_DATA["name"], word="HELLO", drawing=None,
             n=DEFAULT_DATA["n"], seed=DEFAULT_DATA["seed"]):
    """/toy_data: set the session's data from a data set, a word or a drawing."""
    session = _session(session)
    source = choice("data source", source, ["dataset", "drawing", "word"])
    n = number("points", n, 2, MAX_POINTS, integer=True)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    try:
        if source == "dataset":
            data = ToyData.from_dataset(choice("dataset", dataset, list(toy.DATASETS)), n, seed)
        elif source == "word":
            if not isinstance(word, str) or not word.strip():
                raise refusal("The word is empty (or only spaces): type a few letters, e.g. HELLO.")
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
    return drawing_parts(drawing, "The drawing is empty: draw a shape on the sketch pad first (dark strokes become "
                                  "the data).")[0]


def _train_settings(schedule=None, num_timesteps=None, objective=None, hidden=None, depth=None, steps=None,
                    batch_size=None, lr=None, seed=0) -> dict:
    d = _fit_defaults()
    return dict(
        schedule=choice("schedule", d.get("schedule") if schedule is None else schedule, sorted(SCHEDULES)),
        num_timesteps=number("T (timesteps)", d.get("num_timesteps") if num_timesteps is None else num_timesteps,
                             2, 1000, integer=True),
        objective=choice("objective", d.get("objective") if objective is None else objective,
                         list(toy.OBJECTIVES)),
        hidden=number("width", d.get("hidden") if hidden is None else hidden, 8, 512, integer=True),
        depth=number("depth", d.get("depth") if depth is None else depth, 1, 8, integer=True),
        steps=number("training steps", d.get("steps") if steps is None else steps, 1, MAX_TRAIN_STEPS, integer=True),
        batch_size=number("batch size", d.get("batch_size") if batch_size is None else batch_size, 1, 4096,
                          integer=True),
        lr=number("learning rate", d.get("lr") if lr is None else lr, 1e-7, 10.0),
        seed=number("seed", seed, 0, 2**31 - 1, integer=True),
    )


def check_train(session, *settings) -> None:
    """/toy_train's work limit, checked when the request arrives (limits.at_admission)."""
    limits.refuse_long_training(_train_settings(*settings), _session(session).data.dim)


def train(session, schedule=None, num_timesteps=None, objective=None, hidden=None, depth=None, steps=None,
          batch_size=None, lr=None, seed=0, progress=gr.Progress()):
    """/toy_train: fit a model to the session's data; yields the live loss curve. Stop keeps the model so far."""
    session = _session(session)
    kwargs = _train_settings(schedule, num_timesteps, objective, hidden, depth, steps, batch_size, lr, seed)
    data = session.data
    total = kwargs["steps"]
    estimate = limits.refuse_long_training(kwargs, data.dim)
    cap = limits.WorkCap(estimate)       # its CPU time, so a run slowed by others is not cut for it
    losses: list[float] = []

    def callback(step, total_steps, loss):
        losses.append(float(loss))

    # a named data set trains on fresh draws of it (toy.fit's n_data); a drawing on its points
    job = StreamedJob(session, lambda: toy.fit(data.name or data.points, callback=callback,
                                                 stop=lambda: session.stop.is_set() or cap(),
                                                 **kwargs),
                      "toy-train", "A training run is already going in this session: press Stop first.")
    t0 = time.perf_counter()
    for _ in job.running(POLL_S):
        k = len(losses)
        progress((k, total), desc="training", unit="steps")
        last = f"{losses[-1]:.4f}" if losses else "…"
        yield session, loss_frame(losses), f"Training on {data.label}: step {k} / {total}, loss {last}"
    elapsed = time.perf_counter() - t0
    try:
        model = job.result()
    except ValueError as exc:
        raise refusal(f"Training failed: {exc} — the previous model is kept.") from None
    except Exception as exc:  # the session keeps its old model
        raise gr.Error(f"Training failed ({type(exc).__name__}: {exc}); the previous model is kept.") from None
    finite = [v for v in losses if math.isfinite(v)]
    if not finite or len(finite) < len(losses) or not math.isfinite(getattr(model, "losses", [0.0])[-1] or 0.0):
        raise refusal(f"Training diverged (the loss became NaN/inf) with learning rate {kwargs['lr']:g}: lower it "
                       f"(e.g. 1e-3) and train again — the previous model is kept.")
    stopped = len(losses) < total
    if stopped and not session.stop.is_set():
        gr.Warning(f"Training reached its time limit after {len(losses)} of {total} steps ({elapsed:.0f} s; the "
                   f"estimate was {estimate:.0f} s on an idle server): the model so far is kept.")
    session.model, session.model_data, session.losses = model, data, list(losses)
    session.model_note = (f"your model: {kwargs['objective']} on {data.label}, {len(losses)} steps"
                          f"{' (stopped early)' if stopped else ''}, {elapsed:.1f} s")
    yield session, loss_frame(losses), (f"**Done**{' (stopped — the model so far is kept)' if stopped else ''}: "
                                         f"{len(losses)} steps in {elapsed:.1f} s, final loss {finite[-1]:.4f}. "
                                         f"Sample to scrub through it.")


def stop(session):
    """/toy_stop: ask this session's training to stop (it ends within a fraction of a second)."""
    if session is not None:
        session.stop.set()
    return session


def check_sample(session, sampler, num_steps, eta, seed, n, *_):
    """/toy_sample's work limit, checked when the request arrives (limits.at_admission)."""
    model = _session(session).model
    if is_flow(model) and sampler not in toy.FLOW_SAMPLERS:
        sampler = "euler"
    limits.refuse_long_sampling(model, sampler, int(num_steps), int(n))


def sample(session, sampler=DEFAULT_SAMPLING["sampler"], num_steps=DEFAULT_SAMPLING["num_steps"],
           eta=DEFAULT_SAMPLING["eta"], seed=DEFAULT_SAMPLING["seed"], n=DEFAULT_SAMPLING["n"],
           overlays=DEFAULT_OVERLAYS, spacing=DEFAULT_SAMPLING["spacing"], progress=gr.Progress()):
    """/toy_sample: sample n points with the session's model; record and draw every frame for the scrubber."""
    session = _session(session)
    model = session.model
    flow = is_flow(model)
    if flow and sampler in SAMPLERS and sampler not in toy.FLOW_SAMPLERS:
        gr.Warning(f"A flow-matching model integrates its ODE with {' or '.join(toy.FLOW_SAMPLERS)}; "
                   f"using euler instead of {sampler}.")
        sampler = "euler"
    sampler = choice("sampler", sampler, list(toy.FLOW_SAMPLERS) if flow else list(SAMPLERS))
    T = 1000 if flow else model.schedule.num_timesteps
    num_steps = number("sampling steps", num_steps, 1, T, integer=True)
    eta = number("eta", eta, 0.0, 1.0)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    n = number("points", n, 2, MAX_POINTS, integer=True)
    overlays = _overlays(overlays)
    spacing = choice("timestep spacing", spacing, list(LAB_SPACINGS))
    limits.refuse_long_sampling(model, sampler, num_steps, n)
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
    F = run.record.num_frames
    index = 0 if index is None else index
    s = run.settings
    spacing = _spacing_note(s) if not is_flow(run.model) else ""
    note = (f"{s['sampler']}, {s['num_steps']} steps{', η = %g' % s['eta'] if s['sampler'] == 'ddim' else ''}"
            f"{spacing}, "
            f"seed {s['seed']}, {s['n']} points — {F} frames"
            + (f" (every step of {s['num_steps']} shown)" if F == s["num_steps"] + 1
               else f" ({F} of the run's {s['num_steps'] + 1} states, evenly spaced, both ends kept)"))
    return scrubber_html(SCRUB_ID, [("Forward: data → noise", run.frames["forward"]),
                                    ("Reverse: the sampler", run.frames["reverse"])],
                         run.record.labels, index, note)


def _spacing_note(s: dict) -> str:
    """How the run's steps were placed, as the sampler really ran it."""
    takes = SAMPLER_OPTIONS.get(s["sampler"], {})
    if s.get("spacing") == "karras":
        if "use_karras_sigmas" in takes:
            return ", Karras σ spacing (ρ = 7)"
        return f", {takes['timestep_spacing']} spacing ({s['sampler']} has no Karras σ option)"
    return f", {s['spacing']} spacing" if s.get("spacing") and "timestep_spacing" in takes else ""


def _slider(run: Run, index: int | None = None):
    F = run.record.num_frames
    return gr.update(minimum=0, maximum=F - 1, value=0 if index is None else index, step=1)


def _quality_md(session, run: Run) -> str:
    q = run.quality
    return (f"**On the data {q.precision:.2f} · Covers the data {q.recall:.2f}** — {_verdict(q)} "
            f"(k-NN precision: {MEANING['precision']}; recall: {MEANING['recall']}; {q.n:,} samples, k = {K}; "
            f"a fresh draw of the data scores about 0.97 on both). Sliced Wasserstein: {q.sw:.2f}× a fresh "
            f"draw's distance. — {session.model_note}.")


def _verdict(q) -> str:
    """One clause read off the two figures (the thresholds are the calibration of diffusion.fidelity's tests)."""
    if q.precision >= 0.9 and q.recall >= 0.9:
        return "the samples lie on the data and cover it"
    parts = []
    if q.precision < 0.9:
        parts.append("many samples fall off the data (a blurred picture)" if q.precision < 0.75
                     else "some samples fall off the data")
    if q.recall < 0.9:
        parts.append("parts of the data are missing" if q.recall < 0.75 else "a few parts of the data are thin")
    return "; ".join(parts)


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
    session = _session(session)
    model, data = session.model, session.model_data
    if model is SHARED.model and data is SHARED.data:
        figure, table = SHARED.flow_compare()
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
    return DEFAULT_FIT.get("steps", toy.DEFAULTS["steps"])


def view_1d(session):
    """/toy_1d: the density p_t(x) over (t, x) with ODE and SDE paths, for the session's 1-D model (or a default)."""
    session = _session(session)
    if session.model.dim == 1:
        try:
            figure = draw_density_paths(density_paths(session.model, session.model_data))
        except ValueError as exc:
            raise user_error(exc) from None
        return session, figure, f"Your model, on {session.model_data.label}."
    data, _, figure = SHARED.oned()
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
    while not SHARED.wait(timeout=0.5):
        k = len(SHARED.losses)
        yield (None, _default_data_image(), "", loss_frame(SHARED.losses),
               f"Training the shared default model (once per server): step {k} / {SHARED.total_steps}…",
               placeholder_html("The default model is training — its frames appear here in a few seconds."),
               gr.update(), "")
    session = new_session()
    run = session.run
    yield (session, data_image(session.data), _data_info(session.data), loss_frame(session.losses),
           f"Ready — {session.model_note}.", _scrub_html(run), _slider(run), _quality_md(session, run))
