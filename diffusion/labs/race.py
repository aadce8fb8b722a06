"""The sampler race: one model, one starting noise x_T, several samplers at several step counts.

The question it answers is the practitioner's: *for a given budget of network calls (NFE, number of function
evaluations), which sampler gets closest to the data?* Every cell of the race starts from the **same** x_T and,
for the stochastic samplers, the same random stream, so the differences come from the samplers alone.

The models it races are :class:`~diffusion.labs.racers.Racer` s (toy, exact or image).

NFE per run: N steps of ddpm, ddim, euler, euler_ancestral and dpmpp_2m cost N calls; heun 2N - 1 (its last step
is plain Euler, Karras et al. 2022 Alg. 1); pc N (M + 1) with M corrector steps.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Optional

import torch

from ..samplers import check_spacing, visited_timesteps
from .racers import Cell, Racer, draw_x_T, estimate_seconds, nfe, quality_of, run_one, spacing_for
from .runner import Watch

__all__ = ["RaceResult", "RaceTooLarge", "plan_race", "race", "check_race", "RacePlan", "MAX_STEP_COUNTS",
           "MAX_TOY_POINTS", "MAX_IMAGES", "MAX_RACE_SECONDS", "DEFAULT_TOY_SAMPLERS", "DEFAULT_TOY_STEPS",
           "DEFAULT_IMAGE_SAMPLERS", "DEFAULT_IMAGE_STEPS"]

# Defaults: 5 samplers x 4 step counts on 2,000 points (toy), 4 x 3 on 4 images (image model).
DEFAULT_TOY_SAMPLERS = ("ddpm", "ddim", "euler", "heun", "dpmpp_2m")
DEFAULT_TOY_STEPS = (5, 10, 20, 50)
DEFAULT_IMAGE_SAMPLERS = ("ddpm", "ddim", "heun", "dpmpp_2m")
DEFAULT_IMAGE_STEPS = (5, 10, 25)

# Limits: what one race may ask for (the UI states them).
MAX_STEP_COUNTS = 6          # columns
MAX_TOY_POINTS = 5000        # points per cell (toy and exact models)
MAX_IMAGES = 8               # images per cell (image models)
MAX_RACE_SECONDS = 60.0      # a race estimated longer than this (from a measured network call) is refused
HARD_STOP_FACTOR = 2.0       # a race still running after this x the limit (a busy machine) is stopped


class RaceTooLarge(ValueError):
    """A race over the limits; the message says which limit and how to shrink the race."""


@dataclass
class RaceResult:
    racer_label: str
    kind: str
    cells: list = field(default_factory=list)    # Cells, in plan order: sampler by sampler, fewest steps first
    samplers: list = field(default_factory=list)
    step_counts: list = field(default_factory=list)
    spacing: Optional[str] = None                # None: every sampler's own default
    seed: int = 0
    n: int = 0
    seconds: float = 0.0
    stopped: bool = False
    timed_out: bool = False
    note: str = ""

    def best(self, max_nfe: int | None = None) -> Optional[Cell]:
        """The cell with the lowest quality figure among those with at most ``max_nfe`` network calls."""
        scored = [c for c in self.cells if c.quality is not None and math.isfinite(c.quality) and not c.stopped
                  and (max_nfe is None or c.nfe <= max_nfe)]
        return min(scored, key=lambda c: (c.quality, c.nfe)) if scored else None

    def cell(self, sampler: str, num_steps: int) -> Optional[Cell]:
        for c in self.cells:
            if c.sampler == sampler and c.num_steps == num_steps:
                return c
        return None


def _as_int_list(name: str, values) -> list[int]:
    if isinstance(values, (int, str)) or values is None:
        values = [values]
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            else:
                raise ValueError(f"{name} must be whole numbers, got {v!r}")
        out.append(v)
    return out


def plan_race(racer: Racer, samplers, step_counts, spacing: str | None = None) -> list[tuple[str, int]]:
    """The (sampler, steps) cells, checked: known samplers, 1 <= steps <= T, at most MAX_STEP_COUNTS columns, and a
    spacing that gives every sampler distinct timesteps. Raises ValueError / RaceTooLarge naming the problem."""
    samplers = [samplers] if isinstance(samplers, str) else list(samplers or [])
    if not samplers:
        raise ValueError("no samplers chosen: pick at least one")
    for s in samplers:
        if s not in racer.samplers:
            extra = " (a flow-matching model integrates its ODE with euler or heun)" if racer.flow else ""
            raise ValueError(f"unknown sampler {s!r} for {racer.label}; choose from {racer.samplers}{extra}")
    samplers = list(dict.fromkeys(samplers))
    steps = sorted(set(_as_int_list("step counts", step_counts or [])))
    if not steps:
        raise ValueError("no step counts chosen: give at least one, e.g. 5, 10, 20, 50")
    if len(steps) > MAX_STEP_COUNTS:
        raise RaceTooLarge(f"{len(steps)} step counts is over the race's limit of {MAX_STEP_COUNTS}; drop some")
    bad = [k for k in steps if not 1 <= k <= racer.max_steps]
    if bad:
        raise ValueError(f"step counts {bad} are out of range: each must be between 1 and {racer.max_steps} "
                         f"(the model's T -- a sampler visits distinct timesteps of its schedule)")
    if spacing is not None and not racer.flow:
        check_spacing(spacing)
    cells = [(s, k) for s in samplers for k in steps]
    if not racer.flow:
        for s, k in cells:   # e.g. leading spacing with N close to T repeats a timestep: refuse before running
            visited_timesteps(s, racer.schedule, k, spacing_for(racer, s, spacing))
    return cells


@dataclass
class RacePlan:
    """A checked race: its cells, the shared x_T, the network calls in all and the estimated seconds."""

    cells: list
    n: int
    x_T: torch.Tensor
    total_calls: int
    estimate_s: float
    limit_s: float


def check_race(racer: Racer, samplers=None, step_counts=None, n: int | None = None, seed: int = 0,
               spacing: str | None = None, limit_s: float | None = None) -> RacePlan:
    """Resolve the defaults and check a race without running it (see :func:`race`); raises ValueError /
    :class:`RaceTooLarge` naming what to change. Times two network calls to estimate the race's seconds."""
    image = racer.kind == "image"
    limit_s = MAX_RACE_SECONDS if limit_s is None else limit_s
    if samplers is None:
        samplers = racer.samplers if racer.flow else DEFAULT_IMAGE_SAMPLERS if image else DEFAULT_TOY_SAMPLERS
    step_counts = (DEFAULT_IMAGE_STEPS if image else DEFAULT_TOY_STEPS) if step_counts is None else step_counts
    n = (4 if image else 2000) if n is None else n
    cap = MAX_IMAGES if image else MAX_TOY_POINTS
    if isinstance(n, bool) or not isinstance(n, int) or not (1 if image else 2) <= n <= cap:
        raise RaceTooLarge(f"{'images' if image else 'points'} per run must be a whole number in "
                           f"[{1 if image else 2}, {cap}], got {n!r}")
    cells = plan_race(racer, samplers, step_counts, spacing)
    x_T = draw_x_T(racer, n, seed)
    total = sum(nfe(racer, s, k) for s, k in cells)
    estimate = estimate_seconds(racer, x_T, total)
    if estimate > limit_s:
        raise RaceTooLarge(f"this race would take about {estimate:.0f} s ({total} network calls on "
                           f"{n} {'image(s)' if image else 'points'}), over the lab's {limit_s:.0f} s limit; use "
                           f"fewer samplers, fewer or smaller step counts, or fewer {'images' if image else 'points'}")
    return RacePlan(cells, n, x_T, total, estimate, limit_s)


def race(racer: Racer, samplers=None, step_counts=None, n: int | None = None, seed: int = 0,
         spacing: str | None = None, *, on_progress=None, should_stop=None,
         limit_s: float | None = None, plan: RacePlan | None = None) -> RaceResult:
    """Run every (sampler, steps) cell from one x_T; return a :class:`RaceResult` (cells in plan order).

    Defaults: the toy race (``DEFAULT_TOY_*``, 2,000 points) or the image race (``DEFAULT_IMAGE_*``, 4 images).
    ``spacing``: one timestep spacing for every sampler that takes one (None: each sampler's / checkpoint's default).
    ``on_progress(calls_done, calls_total, text)`` after every step; ``should_stop()`` returning True stops the race
    (the cells finished so far come back, ``stopped=True``). A race estimated over ``limit_s`` seconds (None:
    :data:`MAX_RACE_SECONDS`) raises :class:`RaceTooLarge` before it starts; one still running after
    ``HARD_STOP_FACTOR`` x the limit is stopped. ``plan``: the :func:`check_race` of these same arguments, when the
    caller has checked already. A cell that fails (e.g. the model returns NaN) records its error and the race goes on.
    """
    if plan is None:
        plan = check_race(racer, samplers, step_counts, n, seed, spacing, limit_s)
    cells, n, x_T, total, estimate, limit_s = (plan.cells, plan.n, plan.x_T, plan.total_calls, plan.estimate_s,
                                               plan.limit_s)
    result = RaceResult(racer.label, racer.kind, samplers=list(dict.fromkeys(s for s, _ in cells)),
                        step_counts=sorted({k for _, k in cells}), spacing=spacing, seed=seed, n=n)
    watch = Watch(should_stop, time.monotonic() + max(HARD_STOP_FACTOR * limit_s, 3 * estimate))
    done, start = 0, time.perf_counter()

    for sampler, k in cells:
        if watch.stop_now():
            result.stopped = True
            break
        calls = nfe(racer, sampler, k)
        per_step = calls / k

        def callback(step, _before=done, _sampler=sampler, _k=k):
            if on_progress is not None:
                on_progress(min(_before + round((step.step + 1) * per_step), total), total,
                            f"{_sampler}, {_k} steps: step {step.step + 1}/{step.total}")
            watch.check()

        cell = Cell(sampler, k, nfe=calls)
        t0 = time.perf_counter()
        try:
            traj = run_one(racer, x_T, sampler, k, seed, spacing, callback)
        except ValueError as exc:       # e.g. the model returned NaN: say so in this cell, go on with the next
            cell.error, cell.seconds = str(exc), time.perf_counter() - t0
            result.cells.append(cell)
            done += calls
            continue
        cell.seconds = time.perf_counter() - t0
        cell.nfe, cell.stopped = traj.nfe, traj.stopped
        cell.samples = racer.to_data(traj.x0).detach().float()
        if not traj.stopped:
            cell.quality = quality_of(racer, cell.samples)
        result.cells.append(cell)
        done += calls
        if traj.stopped:
            result.stopped = True
            break
    result.seconds = time.perf_counter() - start
    result.timed_out = watch.timed_out
    if result.timed_out:
        result.note = (f"stopped: the race passed {HARD_STOP_FACTOR:g} x the {limit_s:.0f} s limit (the machine is "
                       f"busy); the cells finished so far are shown")
    elif result.stopped:
        result.note = "stopped: the cells finished so far are shown"
    return result
