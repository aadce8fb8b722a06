"""The Guidance lab's handlers: labelled data -> a conditional model -> guided runs from one x_T -> a sweep of w.

Every action is a named API endpoint with defaults (``/guidance_data``, ``/guidance_train``, ``/guidance_stop``,
``/guidance_sample``, ``/guidance_sweep``). The maths is in :mod:`diffusion.labs.guidance`; frames are drawn by
:mod:`.views`; per-session state lives in :mod:`.session`.
"""
from __future__ import annotations

import math

import gradio as gr

from diffusion import toy
from diffusion.labs.guidance import GuidanceData, describe, guided_runs, sweep as guidance_sweep
from diffusion.toy.labels import LABELLED

from ..serving.jobs import StreamedJob
from ..serving.priority import in_background
from ..serving import limits
from ..widgets.inputs import choice, drawing_parts, number, refusal, user_error
from ..widgets.scrubber import placeholder_html, scrubber_html
from .session import DATA_POINTS, DEFAULT_DATA, DEFAULT_RUN, SHARED, Runs, data_label, new_session, session_or_new
from .text import sweep_sentence, sweep_table
from .views import data_picture, legend_html, sweep_plot, title

SCRUB_ID = "guidance-scrub"
SLIDER_ID = "guidance-t"
SOURCES = sorted(LABELLED) + ["word", "drawing"]
OBJECTIVES = ("v_prediction", "epsilon", "flow_matching")
MAX_STEPS = 5000          # training steps (the default network: ~50 s on one thread at most)
MAX_SAMPLES = 2000        # points per guided run
MAX_W = 10.0
POLL_S = 0.2
PANEL_ORDER = ("unconditional", "conditional", "guided", "exact guided", "classifier guided")


_session = session_or_new


def _data_name(source, word) -> str:
    source = choice("data", source, SOURCES)
    if source != "word":
        return source
    if not isinstance(word, str) or not word.strip():
        raise refusal("The word is empty (or only spaces): type a few letters, e.g. HELLO.")
    return "text:" + word.strip()


def _class_choices(data: GuidanceData) -> list[tuple[str, int]]:
    return [(f"{k}: {name}", k) for k, name in enumerate(data.class_names)]


def use_data(session, source=DEFAULT_DATA, word="HELLO", drawing=None):
    """/guidance_data: pick labelled data (shown with its classes); Train fits a conditional model to it. A drawing
    gives one class per ink colour, or per layer when two or more layers have ink."""
    session = _session(session)
    try:
        if choice("data", source, SOURCES) == "drawing":
            composite, layers = drawing_parts(drawing, "The drawing is empty: draw two or more shapes, each in a "
                                                       "colour of its own (one class per colour).")
            data = GuidanceData.from_drawing(composite, layers, DATA_POINTS)
        else:
            data = GuidanceData.from_name(_data_name(source, word), DATA_POINTS)
    except ValueError as exc:
        raise user_error(exc) from None
    session.data = data
    return session, data_picture(data), (legend_html(data) + "<br>Press <b>Train</b> to fit a conditional model "
                                         "to it.")


def train(session, objective="v_prediction", steps=None, p_uncond=None, seed=0, progress=gr.Progress()):
    """/guidance_train: fit a conditional toy model (label dropout p_uncond) to the session's labelled data."""
    session = _session(session)
    d = toy.DEFAULTS
    kwargs = dict(objective=choice("objective", objective, list(OBJECTIVES)),
                  steps=number("training steps", d["steps"] if steps is None else steps, 1, MAX_STEPS, integer=True),
                  p_uncond=number("p_uncond", d["p_uncond"] if p_uncond is None else p_uncond, 0.0, 0.9),
                  seed=number("seed", seed, 0, 2**31 - 1, integer=True))
    data, total = session.data, kwargs["steps"]
    estimate = limits.refuse_long_training({**kwargs, **{k: d[k] for k in ("hidden", "depth", "batch_size")}}, 2)
    cap = limits.WorkCap(estimate)       # its CPU time, so a run slowed by others is not cut for it
    losses: list[float] = []
    # a named data set is drawn afresh with its labels; a drawing is its own points (no generator to draw from)
    source = (dict(data=data.name, labels=True) if data.name != "drawing" else
              dict(data=data.points, labels=data.labels, class_names=data.class_names))
    job = StreamedJob(session, lambda: toy.fit(
        **source, callback=lambda step, n, loss: losses.append(float(loss)),
        stop=lambda: session.stop.is_set() or cap(), n_data=DATA_POINTS, **kwargs),
        "guidance-train", "A training run is already going in this session: press Stop first.")
    for _ in job.running(POLL_S):
        progress((len(losses), total), desc="training", unit="steps")
        last = f"{losses[-1]:.4f}" if losses else "…"
        yield session, gr.update(), f"Training on {data_label(data.name)}: step {len(losses)} / {total}, loss {last}"
    try:
        model = job.result()
    except ValueError as exc:
        raise refusal(f"Training failed: {exc} — the previous model is kept.") from None
    if not losses or not all(math.isfinite(v) for v in losses):
        raise refusal("Training diverged (the loss became NaN/inf): the previous model is kept.")
    session.model, session.model_data = model, data
    session.runs = session.sweep = None
    stopped = " (stopped early)" if len(losses) < total else ""
    session.model_note = (f"your model: {kwargs['objective']} on {data_label(data.name)}, {len(losses)} steps"
                          f"{stopped}, p_uncond {kwargs['p_uncond']:g}")
    choices = _class_choices(data)
    yield (session, gr.update(choices=choices, value=choices[0][1]),
           f"**Done**: {session.model_note}, final loss {losses[-1]:.4f}.")


def stop(session):
    """/guidance_stop: ask this session's training to stop (the model so far is kept)."""
    if session is not None:
        session.stop.set()
    return session


def _check_class(session, y) -> int:
    data = session.model_data
    return number(f"class (0–{data.num_classes - 1}: {', '.join(data.class_names)})", y, 0, data.num_classes - 1,
                  integer=True)


def sample(session, y=DEFAULT_RUN["y"], w=DEFAULT_RUN["w"], n=DEFAULT_RUN["n"], seed=DEFAULT_RUN["seed"]):
    """/guidance_sample: the unconditional, conditional, guided (and exact) runs of class y from one x_T."""
    session = _session(session)
    y = _check_class(session, y)
    settings = dict(y=y, w=number("guidance scale w", w, 0.0, MAX_W), n=number("points", n, 10, MAX_SAMPLES,
                                                                                  integer=True),
                    seed=number("seed", seed, 0, 2**31 - 1, integer=True))
    model, data = session.model, session.model_data
    try:
        session.runs = in_background(lambda: Runs(guided_runs(model, data, y, settings["w"], n=settings["n"],
                                                              seed=settings["seed"]), data, settings))
    except ValueError as exc:
        raise user_error(exc) from None
    return session, _scrub_html(session), _slider(session), _runs_note(session)


def sweep(session, y=DEFAULT_RUN["y"]):
    """/guidance_sweep: in class, diversity and off-centre against w, learned (and exact, and the tilted density)."""
    session = _session(session)
    y = _check_class(session, y)
    try:
        rows = in_background(guidance_sweep, session.model, session.model_data, y)
    except ValueError as exc:
        raise user_error(exc) from None
    session.sweep = (y, rows)
    return session, _sweep_plot(session), _sweep_md(session)


# --- what the page shows ---------------------------------------------------------------------------------------
def _scrub_html(session, index: int = 0) -> str:
    runs = session.runs
    if runs is None:
        return placeholder_html("Your new model is trained: press Sample to see its guided runs.")
    first = next(iter(runs.runs.values()))
    labels = [("x₀" if t is None else f"t = {t:.0f}") for t in first.times]
    s = runs.settings
    views = [(title(name, runs.runs[name]), runs.frames[name]) for name in PANEL_ORDER if name in runs.runs]
    note = (f"class {s['y']} ({session.model_data.class_names[s['y']]}), w = {s['w']:g}, {s['n']} points, seed "
            f"{s['seed']} — all panels start from the same x_T; {runs.num_frames} frames")
    return scrubber_html(SCRUB_ID, views, labels, index, note)


def _slider(session):
    F = session.runs.num_frames if session.runs is not None else 1
    return gr.update(minimum=0, maximum=F - 1, value=0, step=1)


def _runs_note(session) -> str:
    runs = session.runs
    if runs is None:
        return ""
    y = runs.settings["y"]
    lines = [f"{session.model_note}. " + legend_html(session.model_data), ""]
    for name in PANEL_ORDER:
        if name in runs.runs:
            d = describe(runs.runs[name].x0, session.model_data, y)
            off = "" if d["off_centre"] is None else f", off-centre {d['off_centre']:.2f}"
            lines.append(f"- **{title(name, runs.runs[name])}**: in class {d['in_class']:.2f}, diversity "
                         f"{d['diversity']:.2f}{off}")
    return "\n".join(lines)


def _sweep_plot(session):
    if session.sweep is None:
        return None
    y, rows = session.sweep
    return sweep_plot(rows, session.model_data.class_names[y])


def _sweep_md(session) -> str:
    if session.sweep is None:
        return "Press **Sweep w** to measure guidance from w = 0 to 7 for the chosen class."
    y, rows = session.sweep
    return sweep_table(rows, session.model_data.class_names[y]) + "\n\n" + sweep_sentence(rows)


def on_load():
    """The visitor's own session, pointing at the shared default model, shown (the data picture at once)."""
    if not SHARED.wait(timeout=0.05):
        data = GuidanceData.from_name(DEFAULT_DATA, DATA_POINTS)
        yield (None, data_picture(data), legend_html(data), gr.update(), "Training the shared default conditional "
               "model (once per server)…", placeholder_html("The default guided runs appear here in a few seconds."),
               gr.update(), "", "", None, "The digits × guidance grid appears here once the default model is ready.")
        SHARED.wait()
    session = new_session()
    choices = _class_choices(session.model_data)
    yield (session, SHARED.picture, legend_html(session.data),        # a new session shows the shared data
           gr.update(choices=choices, value=session.runs.settings["y"]), f"Ready — {session.model_note}.",
           _scrub_html(session), _slider(session), _runs_note(session), _sweep_md(session), *SHARED.grid)
