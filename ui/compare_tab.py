"""The Compare tab (issue 5): noise schedules side by side, timestep spacings, the sampler race, and "break it".

``build_compare_tab()`` creates the components inside the current gr.Blocks / gr.Tab and wires the events. The maths
is in :mod:`diffusion.compare`, :mod:`diffusion.race` and :mod:`diffusion.breakit`; drawings in
:mod:`ui.compare_figures`. Models come from the other labs: the Toy lab's default model (trained once per server,
shared read-only), the exact mixture denoisers of :mod:`diffusion.exact`, and the Image lab's bundled model through
:mod:`diffusion.hub`'s shared cache.

Named endpoints, every parameter defaulted: ``/compare_schedules``, ``/compare_spacing``, ``/race``, ``/race_stop``,
``/break_it``.
"""
from __future__ import annotations

import math
import tempfile
import threading
import time

import gradio as gr
import pandas as pd

from diffusion import breakit, compare, race as R
from diffusion.samplers import SAMPLERS
from diffusion.schedules import SCHEDULES

from . import compare_figures as F
from .common import SESSION_TTL_S, SessionRegistry, choice, number
from .priority import lower_priority
from .compare_text import (BREAK_MD, BREAK_SENTENCES, GRID_MD, INTRO_MD, RACE_MD, SCHEDULES_MD, SPACING_MD,
                           TERMINAL_MD)

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
SESSIONS = SessionRegistry()   # live Compare sessions (tests and issue 6's load test check they are released)
POLL_S = 0.25                  # how often a running race reports progress (and so how fast Stop is seen)

TOY_DEFAULT = "toy: default model (moons)"
EXACT_2D = "exact: gaussians8 mixture"
EXACT_1D = "exact: gmm1d mixture (1-D)"
IMAGE_BUNDLED = "image: bundled MNIST DDPM"
TOY_YOURS = "toy: your Toy-lab model"
RACE_MODELS = [TOY_DEFAULT, EXACT_2D, EXACT_1D, IMAGE_BUNDLED]
EACH_DEFAULT = "each sampler's default"
RACE_SPACINGS = ["leading", "trailing", "linspace", EACH_DEFAULT]
DEFAULT_RACE = dict(model=TOY_DEFAULT, samplers=list(R.DEFAULT_TOY_SAMPLERS),
                    steps=", ".join(map(str, R.DEFAULT_TOY_STEPS)), points=2000, images=4, seed=0, spacing="leading")
DEFAULT_SCHEDULES = dict(schedules=list(compare.DEFAULT_SCHEDULES), T=1000, rescale=False, example=None,
                         data="moons", seed=0)
DEFAULT_SPACING = dict(sampler="ddim", steps=10, schedule="cosine", seed=0)
SPACING_POINTS = 2000
MIN_T, MAX_T = 10, 2000        # T in the schedules view (the slider's range)
BREAK_POINTS = 2000

# --- session -------------------------------------------------------------------------------------------------------
class CompareSession:
    """One visitor's Compare tab: the Stop flag of their race and its last result (for the PNG export)."""

    def __init__(self):
        self.stop = threading.Event()
        self.running = False
        self.result = None
        self.created = time.time()
        SESSIONS.add(self)


def close_session(session) -> None:
    """gr.State's delete_callback: stop a running race and drop the result."""
    if isinstance(session, CompareSession):
        session.stop.set()
        session.result = None
        SESSIONS.discard(session)


def _session(session) -> CompareSession:
    return session if isinstance(session, CompareSession) else CompareSession()


# --- shared models ---------------------------------------------------------------------------------------------------
class _NoTimeModel:
    """The default toy model's twin trained without a time input: trained once per server, on first need."""

    def __init__(self):
        self._lock = threading.Lock()
        self.model = None

    def get(self):
        with self._lock:
            if self.model is None:
                from diffusion import toy
                from .toy_session import DEFAULT_FIT, DEFAULTS
                self.model = toy.fit(DEFAULTS.data.name, seed=0, time_embedding=False, **DEFAULT_FIT)
            return self.model


NO_TIME = _NoTimeModel()


class _ScheduleModels:
    """The default toy model's twins trained on another schedule (same data and settings), once per server each:
    the spacing view shows a trained network on the schedule the visitor picks."""

    def __init__(self):
        self._lock = threading.Lock()
        self.models: dict = {}

    def get(self, schedule: str):
        default = _default_toy_model()
        if default.schedule.name == schedule and default.schedule.num_timesteps == 1000:
            return default
        with self._lock:
            if schedule not in self.models:
                from diffusion import toy
                from .toy_session import DEFAULT_FIT, DEFAULTS
                fit = {**DEFAULT_FIT, "schedule": schedule, "num_timesteps": 1000}
                self.models[schedule] = toy.fit(DEFAULTS.data.name, seed=0, **fit)
            return self.models[schedule]


SCHEDULE_MODELS = _ScheduleModels()


def _default_toy_model():
    from .toy_session import DEFAULTS
    if not DEFAULTS.wait(timeout=600) or DEFAULTS.error:
        raise gr.Error("The Toy lab's default model is not available (it failed to train); try an exact model.")
    return DEFAULTS.model


def _racer(model_choice: str, toy_session=None) -> R.Racer:
    if model_choice == TOY_DEFAULT:
        m = _default_toy_model()
        return R.toy_racer(m, f"the Toy lab's default model ({m.data_name}, {m.schedule.name}, "
                              f"T = {m.schedule.num_timesteps}, {m.prediction_type})")
    if model_choice == TOY_YOURS:
        model = getattr(toy_session, "model", None)
        if model is None:
            raise gr.Error("Your Toy-lab model is not there yet: open the Toy lab first (or pick another model).")
        return R.toy_racer(model, "your Toy-lab model")
    if model_choice == EXACT_2D:
        return R.exact_racer("gaussians8")
    if model_choice == EXACT_1D:
        return R.exact_racer("gmm1d")
    from diffusion import hub
    try:
        return R.image_racer(hub.load_model(hub.BUNDLED_ID))
    except hub.HubError as exc:
        raise gr.Error(f"The image model cannot be raced: {exc}") from None


def _parse_steps(text) -> list[int]:
    """'5, 10, 20' (or a list of numbers through the API) -> [5, 10, 20]; gr.Error saying what is wrong."""
    if isinstance(text, (list, tuple)):
        parts = list(text)
    elif isinstance(text, (int, float)) and not isinstance(text, bool):
        parts = [text]
    elif isinstance(text, str):
        parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    else:
        raise gr.Error(f"Step counts must be whole numbers separated by commas, e.g. 5, 10, 20; got {text!r}.")
    if not parts:
        raise gr.Error("No step counts given: type a few, e.g. 5, 10, 20, 50.")
    out = []
    for p in parts:
        try:
            v = float(p)
        except (TypeError, ValueError):
            raise gr.Error(f"Step count {p!r} is not a number: use whole numbers separated by commas.") from None
        if not math.isfinite(v) or v != int(v) or v < 1:
            raise gr.Error(f"Step count {p!r} must be a whole number ≥ 1.")
        out.append(int(v))
    return out


# --- 1 · schedules ---------------------------------------------------------------------------------------------------
def _picture_tensor(example):
    """The chosen example picture (assets/examples) as [1, C, 48, 48] in [-1, 1]."""
    from diffusion.images import ImageError, fit_image, uint8_to_tensor
    from .image_tab import BUILTIN_EXAMPLE, example_names, picture
    names = example_names()
    example = names[0] if example in (None, "") else example
    if example not in names:
        raise gr.Error(f"unknown example {example!r}; choose one of {names}")
    try:
        im, _ = picture(example, None)
    except ImageError as exc:  # pragma: no cover - the examples are ours
        raise gr.Error(str(exc)) from None
    import numpy as np
    im = fit_image(im, (48, 48), 3 if im.mode == "RGB" else 1)
    return uint8_to_tensor(np.asarray(im, dtype=np.uint8)).double(), example if example != BUILTIN_EXAMPLE else ""


def compare_schedules(schedules=DEFAULT_SCHEDULES["schedules"], T=DEFAULT_SCHEDULES["T"],
                      rescale=DEFAULT_SCHEDULES["rescale"], example=DEFAULT_SCHEDULES["example"],
                      data=DEFAULT_SCHEDULES["data"], seed=DEFAULT_SCHEDULES["seed"]):
    """/compare_schedules: curves of ᾱ_t, log-SNR and β_t; one picture noised under each; the x_T check."""
    from diffusion.images import tensor_to_uint8
    from diffusion.toy.data import DATASETS, make_dataset
    if not schedules:
        raise gr.Error(f"No schedule chosen: tick at least one of {sorted(SCHEDULES)}.")
    if isinstance(schedules, str):
        schedules = [schedules]
    for s in schedules:
        choice("schedule", s, sorted(SCHEDULES))
    T = number("T (timesteps)", T, MIN_T, MAX_T, integer=True)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    data = choice("data set", data, [k for k, v in DATASETS.items()])
    try:
        sched = compare.schedule_set(schedules, T, bool(rescale))
    except ValueError as exc:
        raise gr.Error(str(exc)) from None
    curves = F.schedule_curves(sched)
    x0, _ = _picture_tensor(example)
    grid, ts = compare.noised_grid(sched, x0, seed=seed)
    tiles = tensor_to_uint8(grid.flatten(0, 1).float()).reshape(*grid.shape[:2], *tensor_to_uint8(x0.float()).shape[1:])
    strip = F.noised_grid(tiles, ts, sched)
    points = make_dataset(data, 2000, seed)
    rows = []
    for s in sched:
        c = compare.terminal_check(s, points, seed)
        rows.append({"schedule": s.name, "T": c.num_timesteps, "ᾱ_T": f"{c.alpha_bar_last:.3g}",
                     "√ᾱ_T (signal left)": f"{c.signal_left:.3g}",
                     "log-SNR_T": "−∞" if c.log_snr_last == -math.inf else f"{c.log_snr_last:.2f}",
                     f"x_T vs N(0, I) ({data})": f"{c.gaussian:.2f}",
                     "verdict": ("⚠ " + c.reason) if c.flagged else "✓ pure noise"})
    flagged = [r["schedule"] for r in rows if r["verdict"].startswith("⚠")]
    md = (f"**{len(flagged)} of {len(rows)} schedules flagged** at T = {T}: {', '.join(flagged)}. Sampling them from "
          f"pure noise starts somewhere the forward process never reached; raise T, use the zero-terminal-SNR "
          f"rescale, or a cosine schedule." if flagged else
          f"**No schedule flagged** at T = {T}: each leaves at most {100 * compare.SIGNAL_LIMIT:g} % of the signal "
          f"at its last step. Try T = 50 with the linear schedule to see one fail.")
    return curves, strip, pd.DataFrame(rows), md


# --- 2 · spacing -----------------------------------------------------------------------------------------------------
def _preview(ts, k: int = 6) -> str:
    ts = [f"{t:g}" for t in ts]
    return ", ".join(ts) if len(ts) <= 2 * k else ", ".join(ts[:k]) + ", …, " + ", ".join(ts[-3:])


def compare_spacing(sampler=DEFAULT_SPACING["sampler"], steps=DEFAULT_SPACING["steps"],
                    schedule=DEFAULT_SPACING["schedule"], seed=DEFAULT_SPACING["seed"], progress=gr.Progress()):
    """/compare_spacing: the timesteps a few-step sampler visits under each spacing, and what that does to samples."""
    from diffusion.schedules import make_schedule
    sampler = choice("sampler", sampler, list(SAMPLERS))
    schedule = choice("schedule", schedule, sorted(SCHEDULES))
    steps = number("steps", steps, 1, 100, integer=True)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    sched = make_schedule(schedule, 1000)
    try:
        rows = compare.spacing_rows(sampler, sched, steps)
    except ValueError as exc:
        raise gr.Error(str(exc)) from None
    visited = F.visited_timesteps(sched, rows, steps, sampler)
    table = pd.DataFrame([{"spacing": r.spacing, "first call at t": f"{r.first:g}",
                           "√ᾱ assumed at the first call": f"{r.signal_first:.3g}",
                           "noisiest steps never visited": int(r.skipped), "last call at t": f"{r.last:g}",
                           "timesteps visited": _preview(r.timesteps)} for r in rows])
    progress(0.1, desc=f"a toy model trained on {schedule} (once per server)")
    toy_model = SCHEDULE_MODELS.get(schedule)
    progress(0.5, desc="sampling with each spacing")
    experiments = [(R.toy_racer(toy_model), f"a trained {toy_model.prediction_type}-model (the Toy lab's default "
                    f"settings on {toy_model.data_name}, {schedule} schedule, T = 1000)"),
                   (R.exact_racer("gaussians8", sched, shift=breakit.OFF_CENTRE),
                    f"the exact denoiser, 8 Gaussians moved off-centre by {breakit.OFF_CENTRE} ({schedule})")]
    panels, lines = [], []
    for racer, what in experiments:
        try:
            out = compare.spacing_experiment(racer, sampler, steps, SPACING_POINTS, seed)
        except ValueError as exc:
            raise gr.Error(str(exc)) from None
        ref = R.reference_points(racer, 1000, seed).numpy()
        bounds = F.cloud_bounds(ref)
        items = []
        for spacing, cell in out:
            mean = cell.samples.mean(0).tolist()
            items.append((f"{spacing}: {F._quality_label(cell.quality)}", cell.samples.numpy(),
                          "mean (" + ", ".join(f"{m:.2f}" for m in mean) + ")"))
        panels.append(F.titled(F.cells_row(items, bounds, reference=ref, size=230), what))
        nums = ", ".join(f"{sp} **{F.quality_text(c.quality)}**" for sp, c in out)
        lines.append(f"* {what}: quality {nums}")
    ref_mean = [m + s for m, s in zip([0.0, 0.0], breakit.OFF_CENTRE)]
    md = (f"**{sampler}, {steps} steps, quality by spacing** (1.0 = a fresh draw of the data):\n"
          + "\n".join(lines)
          + f"\n\nThe off-centre data's mean is ({ref_mean[0]:g}, {ref_mean[1]:g}): compare the panels' means.")
    return visited, table, F.stack(panels), md


# --- 3 · the race ----------------------------------------------------------------------------------------------------
def _race_table(result) -> pd.DataFrame:
    rows = []
    for c in result.cells:
        q = F.quality_text(c.quality)
        rows.append({"sampler": c.sampler, "steps": c.num_steps, "NFE": c.nfe, "quality": q,
                     "seconds": round(c.seconds, 2),
                     "note": c.error or ("stopped part-way" if c.stopped else "")})
    return pd.DataFrame(rows, columns=["sampler", "steps", "NFE", "quality", "seconds", "note"])


def _race_summary(result, racer) -> str:
    cells = len(result.cells)
    head = (f"**{result.racer_label}**: {cells} runs, {sum(c.nfe for c in result.cells)} network calls on "
            f"{result.n} {'images' if result.kind == 'image' else 'points'} in {result.seconds:.1f} s; spacing "
            f"{result.spacing or EACH_DEFAULT}; seed {result.seed}.")
    if result.note:
        head += f" **{result.note}.**"
    if result.kind == "image":
        return head + " Same $x_T$ in every cell: read each row left to right to see a sampler converge."
    lines = []
    for budget in sorted({c.nfe for c in result.cells}):
        best = result.best(budget)
        if best is not None and (not lines or lines[-1][1] is not best):
            lines.append((budget, best))
    text = "; ".join(f"≤ {b} calls: **{c.sampler}** ({c.num_steps} steps, quality {c.quality:.2f})"
                     for b, c in lines)
    return head + (f" Best for a budget of — {text}." if text else "") + _blown_note(result, racer)


def _blown_note(result, racer) -> str:
    """Why some cells are far off: a huge first sigma (cosine's clipped last step) or simply too few steps."""
    blown = sorted({c.sampler for c in result.cells if c.quality is not None and c.quality > 10})
    if not blown:
        return ""
    sigma_max = float(racer.schedule.sigmas[-1]) if racer.schedule is not None else 0.0
    if result.spacing != "leading" and sigma_max > 1e3:
        return (f"\n\n⚠ {', '.join(blown)} blew up (quality > 10): these runs start at t = T−1, where this "
                f"schedule's σ ≈ {sigma_max:.0f} multiplies a trained network's ε error (see section 2), and "
                f"second-order steps (heun) go wrong across such a jump in σ even with the exact denoiser — race "
                f"with `leading` spacing.")
    return (f"\n\n⚠ {', '.join(blown)} are far off (quality > 10) at their fewest steps: too few steps for this "
            f"model — read the row to the right to see them converge.")


def _race_png(result, figure) -> str:
    with tempfile.NamedTemporaryFile(prefix="race-", suffix=".png", delete=False) as fh:
        figure.save(fh, "PNG")
        return fh.name


def run_race(session, model=DEFAULT_RACE["model"], samplers=DEFAULT_RACE["samplers"], steps=DEFAULT_RACE["steps"],
             points=DEFAULT_RACE["points"], images=DEFAULT_RACE["images"], seed=DEFAULT_RACE["seed"],
             spacing=DEFAULT_RACE["spacing"], toy_session=None, progress=gr.Progress()):
    """/race: every chosen sampler at every step count, from one x_T; clouds (or images), quality vs NFE, a table,
    and the whole figure as a PNG file. Stop (/race_stop) ends it and keeps the finished cells."""
    session = _session(session)
    model = choice("model", model, RACE_MODELS + [TOY_YOURS])
    if not samplers:
        raise gr.Error("No sampler chosen: tick at least one.")
    samplers = [samplers] if isinstance(samplers, str) else list(samplers)
    step_counts = _parse_steps(steps)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    spacing = choice("spacing", spacing, RACE_SPACINGS)
    racer = _racer(model, toy_session)
    image = racer.kind == "image"
    n = (number("images", images, 1, R.MAX_IMAGES, integer=True) if image
         else number("points", points, 2, R.MAX_TOY_POINTS, integer=True))
    if racer.flow:
        dropped = [s for s in samplers if s not in racer.samplers]
        samplers = [s for s in samplers if s in racer.samplers]
        if dropped:
            gr.Warning(f"A flow-matching model integrates its ODE with euler or heun; left out {dropped}.")
        if not samplers:
            samplers = racer.samplers
    sp = None if spacing == EACH_DEFAULT or racer.flow else spacing
    try:
        plan = R.check_race(racer, samplers, step_counts, n, seed, sp)
    except ValueError as exc:
        raise gr.Error(str(exc)) from None
    if session.running:
        raise gr.Error("A race is already running in this session: press Stop first.")
    session.stop.clear()
    box: dict = {"done": 0, "total": plan.total_calls, "text": f"about {plan.estimate_s:.0f} s"}

    def on_progress(done, total, text):
        box.update(done=done, total=total, text=text)

    def work():
        lower_priority()   # light requests (a scrub, a redraw) go first (ui/priority.py)
        try:
            box["result"] = R.race(racer, samplers, step_counts, n, seed, sp, on_progress=on_progress,
                                   should_stop=session.stop.is_set, plan=plan)
        except Exception as exc:  # reported below; the session keeps working
            box["error"] = exc

    session.running = True
    thread = threading.Thread(target=work, name="compare-race", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(POLL_S)
            progress((box["done"], max(box["total"], 1)), desc=f"race: {box['text']}", unit="calls")
            yield (session, gr.update(), gr.update(), gr.update(),
                   f"Racing… {box['done']} of {box['total']} network calls ({box['text']}).", gr.update())
    finally:
        session.running = False
        session.stop.set()     # a visitor who left mid-race: the worker sees it and ends
    if "error" in box:
        exc = box["error"]
        message = str(exc) if isinstance(exc, ValueError) else f"The race failed ({type(exc).__name__}: {exc})."
        yield session, gr.update(), gr.update(), gr.update(), f"**The race failed:** {message}", gr.update()
        raise gr.Error(message) from None
    result = box["result"]
    session.result = result
    plot = None
    if image:
        clouds = F.race_images(result)
        figure = F.titled(clouds, f"Sampler race: {result.racer_label}, seed {seed}")
    else:
        ref = R.reference_points(racer, 1000, seed).numpy()
        clouds = F.race_clouds(result, ref)
        plot = F.race_plot(result)
        figure = F.stack([F.titled(clouds, f"Sampler race: {result.racer_label}, {n} points, seed {seed}"), plot])
    yield session, clouds, plot, _race_table(result), _race_summary(result, racer), _race_png(result, figure)


def stop_race(session):
    """/race_stop: stop this session's race (it ends within a step; the finished cells are kept)."""
    if isinstance(session, CompareSession):
        session.stop.set()
    return session


# --- 4 · break it ----------------------------------------------------------------------------------------------------
def break_it(experiment="T too small", seed=0, progress=gr.Progress()):
    """/break_it: one classic mistake beside the right setting, same x_T; the panels and the numbers."""
    experiment = choice("experiment", experiment, list(breakit.EXPERIMENTS))
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    progress(0.1, desc=experiment)
    if experiment == "no time embedding":
        model = _default_toy_model()
        progress(0.2, desc="training the model without a time input (once per server)")
        panels = breakit.no_time_embedding(model, NO_TIME.get(), BREAK_POINTS, seed)
        ref = R.reference_points(R.toy_racer(model), 1000, seed)
    else:
        panels = breakit.EXPERIMENTS[experiment](n=BREAK_POINTS, seed=seed)
        if experiment == "T too small":
            racer = R.exact_racer("gaussians8", shift=breakit.OFF_CENTRE)
        else:
            racer = R.exact_racer("gaussians8")
        ref = R.reference_points(racer, 1000, seed)
    ref = ref.numpy()
    items = [(f"{p.label}: {F._quality_label(p.quality)}", p.samples.numpy(), "") for p in panels]
    image = F.cells_row(items, F.cloud_bounds(ref), reference=ref, size=300)
    nums = "\n".join(f"* **{p.label}** — quality {p.quality:.2f}, {p.nfe} network calls"
                     + (f"; {p.detail}" if p.detail else "") for p in panels)
    return image, f"{BREAK_SENTENCES[experiment]}\n\n{nums}"


# --- layout and wiring -----------------------------------------------------------------------------------------------
def build_compare_tab(toy_state=None) -> None:
    """Create the Compare tab's components inside the current gr.Blocks / gr.Tab and wire their events.

    ``toy_state``: the Toy lab's gr.State, if the app passes it, adds "your Toy-lab model" to the race."""
    from diffusion.toy.data import DATASETS
    from .image_tab import example_names

    state = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=close_session)
    gr.Markdown(INTRO_MD, latex_delimiters=LATEX)
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
        sch_curves = gr.Image(label="ᾱ_t, log-SNR(t), β_t", type="pil", format="png", interactive=False,
                              elem_id="cmp-curves")
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
            r_steps = gr.Textbox(DEFAULT_RACE["steps"], label=f"Step counts (≤ {R.MAX_STEP_COUNTS}, comma-separated)",
                                 elem_id="cmp-race-steps")
            r_spacing = gr.Dropdown(RACE_SPACINGS, value=DEFAULT_RACE["spacing"], label="Timestep spacing")
            r_points = gr.Slider(100, R.MAX_TOY_POINTS, DEFAULT_RACE["points"], step=100, label="Points (toy)")
            r_images = gr.Slider(1, R.MAX_IMAGES, DEFAULT_RACE["images"], step=1, label="Images (image model)")
            r_seed = gr.Number(DEFAULT_RACE["seed"], precision=0, minimum=0, label="Seed (x_T)")
        with gr.Row():
            r_btn = gr.Button("Run the race", variant="primary", elem_id="cmp-race-btn")
            r_stop = gr.Button("Stop", variant="stop", elem_id="cmp-race-stop")
        r_md = gr.Markdown(elem_id="cmp-race-md")
        r_clouds = gr.Image(label="Final samples: rows = samplers, columns = step counts", type="pil", format="png",
                            interactive=False, elem_id="cmp-race-clouds")
        with gr.Row():
            r_plot = gr.Image(label="Quality against network calls", type="pil", format="png", interactive=False)
            r_table = gr.Dataframe(label="Every run", interactive=False, elem_id="cmp-race-table")
        r_png = gr.File(label="The race as a PNG figure", interactive=False, elem_id="cmp-race-png")
    with gr.Accordion("4 · Break it", open=True):
        gr.Markdown(BREAK_MD, latex_delimiters=LATEX)
        with gr.Row():
            b_exp = gr.Radio(list(breakit.EXPERIMENTS), value="T too small", label="Mistake")
            b_seed = gr.Number(0, precision=0, minimum=0, label="Seed")
            b_btn = gr.Button("Break it", variant="primary", elem_id="cmp-break-btn")
        b_md = gr.Markdown(latex_delimiters=LATEX, elem_id="cmp-break-md")
        b_img = gr.Image(label="Right (left) vs broken (right), data in blue", type="pil", format="png",
                         interactive=False, elem_id="cmp-break-img")

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
    b_btn.click(break_it, [b_exp, b_seed], [b_img, b_md], api_name="break_it", concurrency_id="compare_heavy",
                concurrency_limit=1)
