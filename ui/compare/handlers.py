"""The Compare tab's handlers: noise schedules side by side, timestep spacings, the sampler race, and "break it".

The maths is in :mod:`diffusion.labs.compare`, :mod:`diffusion.labs.race` and :mod:`diffusion.labs.breakit`;
drawings in :mod:`.figures`; the session and the raced models in :mod:`.session`. Named endpoints, every parameter
defaulted: ``/compare_schedules``, ``/compare_spacing``, ``/race``, ``/race_stop``, ``/break_it``.
"""
from __future__ import annotations

import functools
import io
import math
import threading

import gradio as gr
import numpy as np
import pandas as pd

from diffusion import SAMPLERS
from diffusion.toy import DATASETS, make_dataset
from diffusion.images import ImageError, fit_image, tensor_to_uint8, uint8_to_tensor
from diffusion.labs import breakit, compare, race, racers
from diffusion.schedules import SCHEDULES, make_schedule

from ..serving.jobs import StreamedJob
from ..serving.priority import in_background
from ..widgets.export import cached_file
from ..widgets.inputs import choice, number, refusal
from ..widgets.pictures import BUILTIN_EXAMPLE, example_names, picture
from . import figures
from .session import (EACH_DEFAULT, NO_TIME, RACE_MODELS, RACE_SPACINGS, SCHEDULE_MODELS, SHARED, TOY_DEFAULT,
                      TOY_YOURS, CompareSession, _default_toy_model, _racer, _session)
from .text import BREAK_SENTENCES

POLL_S = 0.25                  # how often a running race reports progress (and so how fast Stop is seen)

DEFAULT_RACE = dict(model=TOY_DEFAULT, samplers=list(race.DEFAULT_TOY_SAMPLERS),
                    steps=", ".join(map(str, race.DEFAULT_TOY_STEPS)), points=2000, images=4, seed=0, spacing="leading")
DEFAULT_SCHEDULES = dict(schedules=list(compare.DEFAULT_SCHEDULES), T=1000, rescale=False, example=None,
                         data="moons", seed=0)
DEFAULT_SPACING = dict(sampler="ddim", steps=10, schedule="cosine", seed=0)
SPACING_POINTS = 2000
MIN_T, MAX_T = 10, 2000        # T in the schedules view (the slider's range)
BREAK_POINTS = 2000

def _parse_steps(text) -> list[int]:
    """'5, 10, 20' (or a list of numbers through the API) -> [5, 10, 20]; gr.Error saying what is wrong."""
    if isinstance(text, (list, tuple)):
        parts = list(text)
    elif isinstance(text, (int, float)) and not isinstance(text, bool):
        parts = [text]
    elif isinstance(text, str):
        parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    else:
        raise refusal(f"Step counts must be whole numbers separated by commas, e.g. 5, 10, 20; got {text!r}.")
    if not parts:
        raise refusal("No step counts given: type a few, e.g. 5, 10, 20, 50.")
    out = []
    for p in parts:
        try:
            v = float(p)
        except (TypeError, ValueError):
            raise refusal(f"Step count {p!r} is not a number: use whole numbers separated by commas.") from None
        if not math.isfinite(v) or v != int(v) or v < 1:
            raise refusal(f"Step count {p!r} must be a whole number ≥ 1.")
        out.append(int(v))
    return out


# --- 1 · schedules ---------------------------------------------------------------------------------------------------
def _picture_tensor(example):
    """The chosen example picture (assets/examples) as [1, C, 48, 48] in [-1, 1]."""
    names = example_names()
    example = names[0] if example in (None, "") else example
    if example not in names:
        raise refusal(f"unknown example {example!r}; choose one of {names}")
    try:
        im, _ = picture(example, None)
    except ImageError as exc:  # pragma: no cover - the examples are ours
        raise refusal(str(exc)) from None
    im = fit_image(im, (48, 48), 3 if im.mode == "RGB" else 1)
    return uint8_to_tensor(np.asarray(im, dtype=np.uint8)).double(), example if example != BUILTIN_EXAMPLE else ""


def compare_schedules(schedules=DEFAULT_SCHEDULES["schedules"], T=DEFAULT_SCHEDULES["T"],
                      rescale=DEFAULT_SCHEDULES["rescale"], example=DEFAULT_SCHEDULES["example"],
                      data=DEFAULT_SCHEDULES["data"], seed=DEFAULT_SCHEDULES["seed"]):
    """/compare_schedules: curves of ᾱ_t, log-SNR and β_t; one picture noised under each; the x_T check."""
    if not schedules:
        raise refusal(f"No schedule chosen: tick at least one of {sorted(SCHEDULES)}.")
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
        raise refusal(str(exc)) from None
    curves = figures.schedule_curves(sched)
    x0, _ = _picture_tensor(example)
    grid, ts = compare.noised_grid(sched, x0, seed=seed)
    tiles = tensor_to_uint8(grid.flatten(0, 1).float()).reshape(*grid.shape[:2], *tensor_to_uint8(x0.float()).shape[1:])
    strip = figures.noised_grid(tiles, ts, sched)
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


@functools.lru_cache(maxsize=1)
def default_schedules():
    """The schedule comparison at its defaults, worked out once per server: what every page opens with (the tab's
    first section is never empty; the same pictures as pressing the button)."""
    return compare_schedules()


# --- 2 · spacing -----------------------------------------------------------------------------------------------------
def _preview(ts, k: int = 6) -> str:
    ts = [f"{t:g}" for t in ts]
    return ", ".join(ts) if len(ts) <= 2 * k else ", ".join(ts[:k]) + ", …, " + ", ".join(ts[-3:])


def compare_spacing(sampler=DEFAULT_SPACING["sampler"], steps=DEFAULT_SPACING["steps"],
                    schedule=DEFAULT_SPACING["schedule"], seed=DEFAULT_SPACING["seed"], progress=gr.Progress()):
    """/compare_spacing: the timesteps a few-step sampler visits under each spacing, and what that does to samples."""
    sampler = choice("sampler", sampler, list(SAMPLERS))
    schedule = choice("schedule", schedule, sorted(SCHEDULES))
    steps = number("steps", steps, 1, 100, integer=True)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    sched = make_schedule(schedule, 1000)
    try:
        rows = compare.spacing_rows(sampler, sched, steps)
    except ValueError as exc:
        raise refusal(str(exc)) from None
    visited = figures.visited_timesteps(sched, rows, steps, sampler)
    table = pd.DataFrame([{"spacing": r.spacing, "first call at t": f"{r.first:g}",
                           "√ᾱ assumed at the first call": f"{r.signal_first:.3g}",
                           "noisiest steps never visited": int(r.skipped), "last call at t": f"{r.last:g}",
                           "timesteps visited": _preview(r.timesteps)} for r in rows])
    progress(0.1, desc=f"a toy model trained on {schedule} (once per server)")
    toy_model = SCHEDULE_MODELS.get(schedule)
    progress(0.5, desc="sampling with each spacing")
    experiments = [(racers.toy_racer(toy_model), f"a trained {toy_model.prediction_type}-model (the Toy lab's default "
                    f"settings on {toy_model.data_name}, {schedule} schedule, T = 1000)"),
                   (racers.exact_racer("gaussians8", sched, shift=breakit.OFF_CENTRE),
                    f"the exact denoiser, 8 Gaussians moved off-centre by {breakit.OFF_CENTRE} ({schedule})")]
    panels, lines = [], []
    for racer, what in experiments:
        try:
            out = compare.spacing_experiment(racer, sampler, steps, SPACING_POINTS, seed)
        except ValueError as exc:
            raise refusal(str(exc)) from None
        ref = racers.reference_points(racer, 1000, seed).numpy()
        bounds = figures.cloud_bounds(ref)
        items = []
        for spacing, cell in out:
            mean = cell.samples.mean(0).tolist()
            items.append((f"{spacing}: {figures._quality_label(cell.quality)}", cell.samples.numpy(),
                          "mean (" + ", ".join(f"{m:.2f}" for m in mean) + ")"))
        panels.append(figures.titled(figures.cells_row(items, bounds, reference=ref, size=230), what))
        nums = ", ".join(f"{sp} **{figures.quality_text(c.quality)}**" for sp, c in out)
        lines.append(f"* {what}: quality {nums}")
    ref_mean = [m + s for m, s in zip([0.0, 0.0], breakit.OFF_CENTRE)]
    md = (f"**{sampler}, {steps} steps, quality by spacing** (1.0 = a fresh draw of the data):\n"
          + "\n".join(lines)
          + f"\n\nThe off-centre data's mean is ({ref_mean[0]:g}, {ref_mean[1]:g}): compare the panels' means.")
    return visited, table, figures.stack(panels), md


# --- 3 · the race ----------------------------------------------------------------------------------------------------
def _race_table(result) -> pd.DataFrame:
    rows = []
    for c in result.cells:
        q = figures.quality_text(c.quality)
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
        return head + (" The same starting noise x_T in every cell. Left to right, more steps: a deterministic "
                       "sampler (ddim with η = 0, euler, heun, dpmpp_2m) settles on one picture per x_T, while "
                       "ddpm draws fresh noise at every step, so its row changes the picture, not only its "
                       "sharpness.") + _same_curves_note(result)
    lines = []
    for budget in sorted({c.nfe for c in result.cells}):
        best = result.best(budget)
        if best is not None and (not lines or lines[-1][1] is not best):
            lines.append((budget, best))
    text = "; ".join(f"≤ {b} calls: **{c.sampler}** ({c.num_steps} steps, quality {c.quality:.2f})"
                     for b, c in lines)
    return head + (f" Best for a budget of — {text}." if text else "") + _same_curves_note(result) + \
        _blown_note(result, racer)


def _same_curves_note(result) -> str:
    """Say so when two samplers' figures agree at every step count (their curves lie on top of each other)."""
    by = {}
    for c in result.cells:
        if c.quality is not None:
            by.setdefault(c.sampler, {})[c.num_steps] = c.quality
    pairs = [(a, b) for i, a in enumerate(by) for b in list(by)[i + 1:]
             if by[a].keys() == by[b].keys() and all(abs(by[a][k] - by[b][k]) <= 1e-6 * max(1.0, abs(by[a][k]))
                                                     for k in by[a])]
    if not pairs:
        return ""
    names = "; ".join(f"{a} and {b}" for a, b in pairs)
    why = ""
    if any({a, b} == {"ddim", "euler"} for a, b in pairs):
        why = (" — DDIM with η = 0 and Euler on the probability-flow ODE are the same discretisation (one step of "
               "each is the same update of x/√ᾱ in σ), so on the same timesteps they give the same samples")
    return f" Identical figures at every step count: {names}; their curves lie on top of each other{why}."


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
    buf = io.BytesIO()
    figure.save(buf, "PNG")
    return cached_file(buf.getvalue(), "race.png")


_DEFAULT_RACE_LOCK = threading.Lock()
_DEFAULT_RACE: list = []


def _race_view(result, racer, n: int, seed: int):
    """(clouds, plot, table, summary, PNG file) of a finished toy race."""
    ref = racers.reference_points(racer, 1000, seed).numpy()
    clouds = figures.race_clouds(result, ref)
    plot = figures.race_plot(result)
    figure = figures.stack([figures.titled(clouds, f"Sampler race: {result.racer_label}, {n} points, seed {seed}"),
                            plot])
    return clouds, plot, _race_table(result), _race_summary(result, racer), _race_png(result, figure)


def default_race():
    """The race at its defaults (the Toy lab's default model), run once per server -- at the first visitor's page
    load, at low priority -- and shown on every page: the Compare tab opens with a race to read, not empty boxes."""
    with _DEFAULT_RACE_LOCK:
        if not _DEFAULT_RACE:
            racer = _racer(TOY_DEFAULT)
            d = DEFAULT_RACE
            steps = _parse_steps(d["steps"])
            sp = None if d["spacing"] == EACH_DEFAULT or racer.flow else d["spacing"]
            samplers = [x for x in d["samplers"] if x in racer.samplers] if racer.flow else d["samplers"]
            plan = race.check_race(racer, samplers, steps, d["points"], d["seed"], sp)
            result = in_background(race.race, racer, samplers, steps, d["points"], d["seed"], sp, plan=plan)
            _DEFAULT_RACE.append(_race_view(result, racer, d["points"], d["seed"]))
        return _DEFAULT_RACE[0]


def default_race_view():
    """The page-load event of the race section: a line while the default model trains, then the default race."""
    if not SHARED.wait(timeout=0.05):
        yield (gr.update(), gr.update(), gr.update(), "The default race appears here once the Toy lab's default "
               "model is trained (once per server).", gr.update())
    try:
        yield default_race()
    except gr.Error as exc:
        yield gr.update(), gr.update(), gr.update(), str(exc), gr.update()


def run_race(session, model=DEFAULT_RACE["model"], samplers=DEFAULT_RACE["samplers"], steps=DEFAULT_RACE["steps"],
             points=DEFAULT_RACE["points"], images=DEFAULT_RACE["images"], seed=DEFAULT_RACE["seed"],
             spacing=DEFAULT_RACE["spacing"], toy_session=None, progress=gr.Progress()):
    """/race: every chosen sampler at every step count, from one x_T; clouds (or images), quality vs NFE, a table,
    and the whole figure as a PNG file. Stop (/race_stop) ends it and keeps the finished cells."""
    session = _session(session)
    model = choice("model", model, RACE_MODELS + [TOY_YOURS])
    if not samplers:
        raise refusal("No sampler chosen: tick at least one.")
    samplers = [samplers] if isinstance(samplers, str) else list(samplers)
    step_counts = _parse_steps(steps)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    spacing = choice("spacing", spacing, RACE_SPACINGS)
    racer = _racer(model, toy_session)
    image = racer.kind == "image"
    n = (number("images", images, 1, race.MAX_IMAGES, integer=True) if image
         else number("points", points, 2, race.MAX_TOY_POINTS, integer=True))
    if racer.flow:
        dropped = [s for s in samplers if s not in racer.samplers]
        samplers = [s for s in samplers if s in racer.samplers]
        if dropped:
            gr.Warning(f"A flow-matching model integrates its ODE with euler or heun; left out {dropped}.")
        if not samplers:
            samplers = racer.samplers
    sp = None if spacing == EACH_DEFAULT or racer.flow else spacing
    try:
        plan = race.check_race(racer, samplers, step_counts, n, seed, sp)
    except ValueError as exc:
        raise refusal(str(exc)) from None
    box: dict = {"done": 0, "total": plan.total_calls, "text": f"about {plan.estimate_s:.0f} s"}

    def on_progress(done, total, text):
        box.update(done=done, total=total, text=text)

    job = StreamedJob(session, lambda: race.race(racer, samplers, step_counts, n, seed, sp, on_progress=on_progress,
                                                  should_stop=session.stop.is_set, plan=plan),
                      "compare-race", "A race is already running in this session: press Stop first.")
    for _ in job.running(POLL_S):
        progress((box["done"], max(box["total"], 1)), desc=f"race: {box['text']}", unit="calls")
        yield (session, gr.update(), gr.update(), gr.update(),
               f"Racing… {box['done']} of {box['total']} network calls ({box['text']}).", gr.update())
    try:
        result = job.result()
    except Exception as exc:  # reported on the page; the session keeps working
        message = str(exc) if isinstance(exc, ValueError) else f"The race failed ({type(exc).__name__}: {exc})."
        yield session, gr.update(), gr.update(), gr.update(), f"**The race failed:** {message}", gr.update()
        raise refusal(message) from None
    session.result = result
    plot = None
    if image:
        clouds = figures.race_images(result)
        figure = figures.titled(clouds, f"Sampler race: {result.racer_label}, seed {seed}")
        yield session, clouds, plot, _race_table(result), _race_summary(result, racer), _race_png(result, figure)
    else:
        yield (session, *_race_view(result, racer, n, seed))


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
        ref = racers.reference_points(racers.toy_racer(model), 1000, seed)
    else:
        panels = breakit.EXPERIMENTS[experiment](n=BREAK_POINTS, seed=seed)
        if experiment == "T too small":
            racer = racers.exact_racer("gaussians8", shift=breakit.OFF_CENTRE)
        else:
            racer = racers.exact_racer("gaussians8")
        ref = racers.reference_points(racer, 1000, seed)
    ref = ref.numpy()
    items = [(f"{p.label}: {figures._quality_label(p.quality)}", p.samples.numpy(), "") for p in panels]
    image = figures.cells_row(items, figures.cloud_bounds(ref), reference=ref, size=300)
    nums = "\n".join(f"* **{p.label}** — quality {p.quality:.2f}, {p.nfe} network calls"
                     + (f"; {p.detail}" if p.detail else "") for p in panels)
    return image, f"{BREAK_SENTENCES[experiment]}\n\n{nums}"
