"""The sampler race: one model, one starting noise x_T, several samplers at several step counts.

The question it answers is the practitioner's: *for a given budget of network calls (NFE, number of function
evaluations), which sampler gets closest to the data?* Every cell of the race starts from the **same** x_T and,
for the stochastic samplers, the same random stream, so the differences come from the samplers alone.

A :class:`Racer` is what the race needs of a model: ``model(x_t, t)``, its schedule and prediction type, the shape
of one sample, and -- for toy models -- the reference that :func:`diffusion.metrics.quality` compares with (1.0 =
as close as a fresh draw of the data). Build one with :func:`toy_racer` (a trained ``diffusion.toy`` model,
diffusion or flow matching), :func:`exact_racer` (the exact denoiser of a Gaussian-mixture data set, Tweedie's
formula: a model with no error at all, so only the sampler's own error is left) or :func:`image_racer` (a pretrained
image model from :mod:`diffusion.hub`; no quality figure there, the grid of images is the result).

NFE per run: N steps of ddpm, ddim, euler, euler_ancestral and dpmpp_2m cost N calls; heun 2N - 1 (its last step
is plain Euler, Karras et al. 2022 Alg. 1); pc N (M + 1) with M corrector steps.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from .image_sampling import model_calls as _diffusion_calls
from .metrics import quality
from .samplers import SAMPLER_OPTIONS, SAMPLERS, StopSampling, sample
from .schedules import Schedule, make_schedule

__all__ = ["Racer", "Cell", "RaceResult", "RaceTooLarge", "toy_racer", "exact_racer", "image_racer", "plan_race",
           "race", "check_race", "RacePlan", "run_one", "draw_x_T", "reference_points", "score", "nfe",
           "estimate_seconds", "MAX_STEP_COUNTS", "MAX_TOY_POINTS",
           "MAX_IMAGES", "MAX_RACE_SECONDS", "DEFAULT_TOY_SAMPLERS", "DEFAULT_TOY_STEPS", "DEFAULT_IMAGE_SAMPLERS",
           "DEFAULT_IMAGE_STEPS"]

# Defaults: the "5 samplers x 4 step counts, 2,000 points" (toy) and "4 x 3, 4 images" (image model).
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


@dataclass(frozen=True, eq=False)
class Racer:
    """A model entered in the race.

    ``model(x_t, t)``: x_t in the model's own space (VP scale), t a float tensor [batch] -- timesteps in [0, T-1] for
    diffusion, flow times in [0, 1] when ``schedule`` is None (flow matching: the output is the velocity).
    ``to_data`` maps a final sample back to the data's space; ``reference`` is what ``quality`` compares with
    (None: no figure). ``options(sampler)`` returns the fixed sampler options of this model (an image checkpoint's
    own variance type, clipping, spacing ...).
    """

    label: str
    kind: str                                    # "toy", "exact" or "image"
    model: Callable
    schedule: Optional[Schedule]
    prediction_type: str
    sample_shape: tuple
    to_data: Callable = lambda x: x
    reference: object = None
    options: Callable = lambda sampler: {}

    @property
    def flow(self) -> bool:
        return self.schedule is None

    @property
    def samplers(self) -> list[str]:
        if self.flow:
            from .toy.flow import FLOW_SAMPLERS
            return list(FLOW_SAMPLERS)
        return list(SAMPLERS)

    @property
    def max_steps(self) -> int:
        """Steps are timesteps of the schedule, so at most T (flow matching: up to 1000 steps on [0, 1])."""
        return 1000 if self.flow else self.schedule.num_timesteps


@dataclass
class Cell:
    """One run of the race: ``sampler`` with ``num_steps`` steps."""

    sampler: str
    num_steps: int
    nfe: int = 0
    samples: Optional[torch.Tensor] = None       # the final samples, in the data's space (toy) / [-1, 1] (image)
    quality: Optional[float] = None             # diffusion.metrics.quality; inf when the samples blew up
    seconds: float = 0.0
    error: str = ""                              # why this cell has no result (the race goes on)
    stopped: bool = False                        # the run was stopped part-way (samples = its last x0_pred)


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


# ----------------------------------------------------------------------------------------------------------------
# racers


def toy_racer(model, label: str | None = None) -> Racer:
    """A trained toy model (``diffusion.toy.fit``): diffusion (any sampler) or flow matching (euler, heun)."""
    reference = model.data_name if model.data_name is not None else model.data
    name = label or f"toy model ({model.objective}, {model.data_name or 'your data'})"
    return Racer(name, "toy", model, model.schedule, model.prediction_type, (model.dim,),
                 to_data=model.to_data, reference=reference)


def exact_racer(data: str = "gaussians8", schedule: Schedule | None = None, shift=None) -> Racer:
    """The exact denoiser E[x_0 | x_t] of a Gaussian-mixture data set (``toy.dataset_mixture``) on ``schedule``
    (default: the toy models' cosine, T = 1000). ``shift`` moves the data off-centre (a vector added to every point):
    the quality reference then draws from the shifted mixture. v-prediction on a zero-terminal-SNR schedule."""
    from .toy.data import dataset_mixture
    mixture = dataset_mixture(data)
    if mixture is None:
        raise ValueError(f"data set {data!r} is not a Gaussian mixture; choose one of ['gaussians8', 'gmm1d', "
                         f"'bimodal'] (the exact denoiser is in closed form only for mixtures)")
    schedule = schedule or make_schedule("cosine", 1000)
    reference: object = data
    label = f"exact denoiser ({data})"
    if shift is not None:
        mixture = mixture.affine(1.0, torch.as_tensor(shift, dtype=torch.float64))
        shifted = mixture
        reference = lambda n, seed: shifted.sample(n, torch.Generator().manual_seed(seed), dtype=torch.float64)
        label = f"exact denoiser ({data} moved off-centre by {list(map(float, shift))})"
    prediction = "v_prediction" if schedule.zero_terminal_snr else "epsilon"
    return Racer(label, "exact", mixture.model(schedule, prediction), schedule, prediction, (mixture.dim,),
                 reference=reference)


def image_racer(model) -> Racer:
    """A pretrained image model (``diffusion.hub.ImageModel``) with its checkpoint's own scheduler settings."""
    from .image_sampling import sampler_options

    def options(sampler):
        opts = sampler_options(model, sampler, 0.0, None)
        opts.pop("prediction_type")
        return opts
    return Racer(model.id, "image", model, model.schedule, model.prediction_type, tuple(model.shape),
                 options=options)


# ----------------------------------------------------------------------------------------------------------------
# planning and cost


def nfe(racer: Racer, sampler: str, num_steps: int) -> int:
    """Network calls of one run (heun: 2N - 1; pc: N (M + 1))."""
    if racer.flow:
        return 2 * num_steps - 1 if sampler == "heun" else num_steps
    return _diffusion_calls(sampler, num_steps, racer.options(sampler).get("corrector_steps"))


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
        from .samplers.timesteps import check_spacing
        check_spacing(spacing)
    cells = [(s, k) for s in samplers for k in steps]
    if not racer.flow:
        from .compare import visited_timesteps
        for s, k in cells:   # e.g. leading spacing with N close to T repeats a timestep: refuse before running
            visited_timesteps(s, racer.schedule, k, _spacing_for(racer, s, spacing))
    return cells


def _spacing_for(racer: Racer, sampler: str, spacing: str | None) -> str | None:
    if "timestep_spacing" not in SAMPLER_OPTIONS[sampler]:
        return None
    return spacing or racer.options(sampler).get("timestep_spacing") or SAMPLER_OPTIONS[sampler]["timestep_spacing"]


def draw_x_T(racer: Racer, n: int, seed: int) -> torch.Tensor:
    """x_T ~ N(0, I), [n, *sample_shape], from ``seed``: the same draw as the Toy and Image labs make for that seed."""
    dtype = getattr(getattr(racer.model, "unet", None), "dtype", torch.float32)   # an image UNet's own dtype
    return torch.randn((n, *racer.sample_shape), generator=torch.Generator().manual_seed(int(seed)), dtype=dtype)


def estimate_seconds(racer: Racer, x_T: torch.Tensor, calls: int) -> float:
    """Seconds for ``calls`` network calls on a batch like ``x_T``, from the faster of two timed calls."""
    mid = 0.5 if racer.flow else float(racer.schedule.num_timesteps // 2)
    t = torch.full((x_T.shape[0],), mid, dtype=x_T.dtype)
    best = math.inf
    with torch.no_grad():
        for _ in range(2):
            start = time.perf_counter()
            racer.model(x_T, t)
            best = min(best, time.perf_counter() - start)
    return calls * best


# ----------------------------------------------------------------------------------------------------------------
# running


def run_one(racer: Racer, x_T: torch.Tensor, sampler: str, num_steps: int, seed: int = 0,
            spacing: str | None = None, callback=None, **options):
    """One run from ``x_T``: the Trajectory (record=False). The sampler's own noise comes from a generator seeded
    with ``seed`` that has first drawn x_T, exactly as the Toy and Image labs do, so a cell reproduces their run.
    ``spacing`` overrides the timestep spacing; ``options`` override anything else (variance_type, clip_sample ...)."""
    generator = torch.Generator().manual_seed(int(seed))
    torch.randn(x_T.shape, generator=generator, dtype=x_T.dtype)   # advance past x_T, as the labs' generator is
    if racer.flow:
        from .toy.flow import flow_sample
        return flow_sample(racer.model, x_T, sampler, num_steps, generator, callback=callback, record=False)
    opts = dict(racer.options(sampler))
    if spacing is not None and "timestep_spacing" in SAMPLER_OPTIONS[sampler]:
        opts["timestep_spacing"] = spacing
    opts.update(options)
    return sample(racer.model, racer.schedule, x_T, sampler=sampler, num_steps=num_steps, generator=generator,
                  prediction_type=racer.prediction_type, callback=callback, record=False, **opts)


def reference_points(racer: Racer, n: int = 2000, seed: int = 0) -> Optional[torch.Tensor]:
    """n points of the data the racer is scored against (for drawing it behind the samples); None for images."""
    ref = racer.reference
    if ref is None:
        return None
    if isinstance(ref, str):
        from .toy.data import make_dataset
        return make_dataset(ref, n, seed)
    if callable(ref):
        return torch.as_tensor(ref(n, seed)).float()
    ref = torch.as_tensor(ref).float()
    return ref[:n]


def score(racer: Racer, samples: torch.Tensor) -> Optional[float]:
    """The quality figure of final samples (data space), inf when they are not finite; None for image models."""
    if racer.reference is None:
        return None
    if not torch.isfinite(samples).all():
        return math.inf
    return quality(samples, racer.reference)


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
    deadline = time.monotonic() + max(HARD_STOP_FACTOR * limit_s, 3 * estimate)
    done, start = 0, time.perf_counter()

    def stop_now() -> bool:
        if time.monotonic() > deadline:
            result.timed_out = True
            return True
        return bool(should_stop is not None and should_stop())

    for sampler, k in cells:
        if stop_now():
            result.stopped = True
            break
        calls = nfe(racer, sampler, k)
        per_step = calls / k

        def callback(step, total_steps, x, x0_pred, _before=done, _sampler=sampler, _k=k):
            if on_progress is not None:
                on_progress(min(_before + round((step + 1) * per_step), total), total,
                            f"{_sampler}, {_k} steps: step {step + 1}/{total_steps}")
            if stop_now():
                raise StopSampling

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
            cell.quality = score(racer, cell.samples)
        result.cells.append(cell)
        done += calls
        if traj.stopped:
            result.stopped = True
            break
    result.seconds = time.perf_counter() - start
    if result.timed_out:
        result.note = (f"stopped: the race passed {HARD_STOP_FACTOR:g} x the {limit_s:.0f} s limit (the machine is "
                       f"busy); the cells finished so far are shown")
    elif result.stopped:
        result.note = "stopped: the cells finished so far are shown"
    return result
