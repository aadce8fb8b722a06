"""Training-free editing with an unconditional model: sample x_0 given a measurement y = A x_0 (+ noise).

Each method is a sampler loop of the usual shape (``method(model, schedule, x, num_steps, generator, **options)``
yielding ``(t, x)`` after every step, driven by :func:`edit`); the unconditional step inside is DDIM's
(:func:`~diffusion.samplers.ancestral.ddim_step`; eta = 1, the default, is DDPM's ancestral step), over integer
timesteps with "trailing" spacing by default (the first step is at t = T - 1, where x_T is pure noise). What makes
each method is what it does to x around that step:

* **replacement** / **ilvr** (one function): after each step to level t', put back what is measured, noised to t':
  x <- x + A^+ (y_t' - A x) with y_t' = sqrt(ab_t') y + A(sqrt(1 - ab_t') z), the distribution of A x_t' given A x_0
  = y. For a mask this is "naive" replacement (Song et al. 2021, App. I; RePaint without resampling): the known
  pixels are pasted in at every step, exactly at the last one. For down-sampling it is ILVR (Choi et al. 2021,
  Alg. 1): the low frequencies A^+ A x come from the reference, the high ones from the model. It treats y as exact
  (measurement noise is ignored).
* **repaint** (Lugmayr et al. 2022, Alg. 1 and the jump schedule of their code): replacement, but every
  ``jump_length`` steps the run goes back up ``jump_length`` levels by the forward process (q(x_b | x_a), a fresh
  noise draw) and comes down again, ``resample`` times in all: the model gets to harmonise the unknown part with
  the pasted-in known part. resample = 1 is replacement. Model calls: :func:`repaint_calls`.
* **dps** (Chung et al. 2023, Alg. 1): after the unconditional step, x <- x - step_size * grad_{x_t} ||y - A
  x0_hat(x_t)||, through the network (one backward pass per step). ``step_size`` is their zeta' in the form their
  code uses (the gradient of the norm, not of its square). It uses the measurement's noise honestly (y need not
  be consistent with any x_0) and works for any differentiable A.

:func:`denoise` is the exact one for a noisy copy y = x_0 + s n: with alpha_bar_t = 1 / (1 + s^2),
sqrt(alpha_bar_t) y = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) n *is* a draw of x_t (DDPM eq. 4), so the
reverse process started there samples p(x_0 | y) -- up to the schedule's grid: t* is the first timestep whose sigma_t
is at least s, and the missing noise sqrt(1 - ab - ab s^2) z is added. :func:`tweedie` is the one-step estimate
E[x_0 | x_t*] from the same x_t*: the posterior mean, best in mean squared error and blurry.
"""
from __future__ import annotations

import math

import torch

from ..parameterization import check_prediction_type
from ..samplers import Trajectory, sample
from ..samplers.ancestral import ddim_step
from ..samplers.common import Denoiser, alpha_bar_or_one, drive, randn
from ..samplers.timesteps import check_spacing, discrete_timesteps
from ..schedules import Schedule, truncated
from .operators import Operator

__all__ = ["edit", "EDIT_METHODS", "EDIT_OPTIONS", "repaint_path", "repaint_calls", "denoise", "tweedie",
           "matched_timestep", "noisy_start", "DENOISE_SAMPLERS"]

# samplers that start exactly at x_t in the VP scale on a truncated schedule (denoise, noise-and-restore)
DENOISE_SAMPLERS = ("ddim", "ddpm", "dpmpp_2m", "pc")


def _levels(schedule: Schedule, num_steps: int, spacing: str) -> list[int]:
    """The timesteps visited, noisiest first, then -1 (the clean end, alpha_bar = 1)."""
    ts = discrete_timesteps(schedule.num_timesteps, num_steps, spacing)
    if len(set(ts)) != len(ts) or min(ts) < 0:
        raise ValueError(f"timestep_spacing {spacing!r} with num_steps={num_steps} repeats timesteps; use fewer steps")
    return ts + [-1]


def _noised(operator: Operator, y: torch.Tensor, ab: float, x: torch.Tensor, generator) -> torch.Tensor:
    """A draw of A x_t given A x_0 = y at alpha_bar ``ab``: sqrt(ab) y + A(sqrt(1 - ab) z)   (DDPM eq. 4, measured)."""
    if ab >= 1:
        return y
    return ab**0.5 * y + operator((1 - ab) ** 0.5 * randn(x, generator))


def replacement(model, schedule, x, num_steps, generator=None, *, operator, y, eta=1.0, timestep_spacing="trailing"):
    """Replace the measured part after every step (naive inpainting for a mask; ILVR for down-sampling)."""
    levels = _levels(schedule, num_steps, timestep_spacing)
    for t, t_prev in zip(levels[:-1], levels[1:]):
        ab_t, ab_prev = alpha_bar_or_one(schedule, t), alpha_bar_or_one(schedule, t_prev)
        x0_pred, eps = model(x, t, ab_t)
        x = ddim_step(x0_pred, eps, ab_t, ab_prev, eta, generator)
        y_prev = _noised(operator, y, ab_prev, x, generator)
        model.note(measured=y_prev)
        x = operator.replace(x, y_prev)
        yield t, x


def repaint_path(num_steps: int, jump_length: int, resample: int) -> list[int]:
    """RePaint's walk over the grid of levels 0 (x_T) .. num_steps (x_0): one level down at a time; on arriving at
    a jump point (every ``jump_length`` levels up from the last noisy one) go back ``jump_length`` levels, until
    that stretch has been run ``resample`` times."""
    left = {p: resample - 1 for p in range(num_steps - 1, jump_length - 1, -jump_length)}
    p, path = 0, [0]
    while p < num_steps:
        p += 1
        path.append(p)
        if left.get(p, 0) > 0:
            left[p] -= 1
            p -= jump_length
            path.append(p)
    return path


def repaint_calls(num_steps: int, jump_length: int, resample: int) -> int:
    """Model calls of a RePaint run: one per step down the path."""
    path = repaint_path(num_steps, jump_length, resample)
    return sum(b > a for a, b in zip(path[:-1], path[1:]))


def repaint(model, schedule, x, num_steps, generator=None, *, operator, y, jump_length=5, resample=5,
            timestep_spacing="trailing"):
    """RePaint: replacement with DDPM steps, and jumps back up the noise to resample (Lugmayr et al. 2022)."""
    levels = _levels(schedule, num_steps, timestep_spacing)
    path = repaint_path(num_steps, jump_length, resample)
    jumped_from = None
    for a, b in zip(path[:-1], path[1:]):
        ab_a, ab_b = alpha_bar_or_one(schedule, levels[a]), alpha_bar_or_one(schedule, levels[b])
        if b < a:            # back up the noise: x_b ~ q(x_b | x_a) = N(sqrt(ab_b / ab_a) x_a, (1 - ab_b / ab_a) I)
            x = (ab_b / ab_a) ** 0.5 * x + (1 - ab_b / ab_a) ** 0.5 * randn(x, generator)
            jumped_from = levels[a]
            continue
        x0_pred, eps = model(x, levels[a], ab_a)
        if jumped_from is not None:
            model.note(jumped_from=jumped_from)
            jumped_from = None
        x = ddim_step(x0_pred, eps, ab_a, ab_b, 1.0, generator)         # RePaint Alg. 1 line 7 (DDPM step)
        y_b = _noised(operator, y, ab_b, x, generator)                     # line 5 (the known part, noised)
        model.note(measured=y_b)
        x = operator.replace(x, y_b)                                       # line 8
        yield levels[a], x


def dps(model, schedule, x, num_steps, generator=None, *, operator, y, step_size=0.3, eta=1.0,
        timestep_spacing="trailing"):
    """Diffusion posterior sampling: the unconditional step, then a gradient step on ||y - A x0_hat(x_t)||."""
    levels = _levels(schedule, num_steps, timestep_spacing)
    for t, t_prev in zip(levels[:-1], levels[1:]):
        ab_t, ab_prev = alpha_bar_or_one(schedule, t), alpha_bar_or_one(schedule, t_prev)
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            x0_pred, eps = model(x_in, t, ab_t)                            # DPS Alg. 1 line 4
            residual = (y - operator(x0_pred)).flatten(1).norm(dim=1)      # ||y - A x0_hat||, per sample
            grad, = torch.autograd.grad(residual.sum(), x_in)
        x = ddim_step(x0_pred.detach(), eps.detach(), ab_t, ab_prev, eta, generator)   # lines 5-6
        model.note(residual=residual.detach())
        x = (x - step_size * grad).detach()                                # line 7
        yield t, x


EDIT_METHODS = {"replacement": replacement, "ilvr": replacement, "repaint": repaint, "dps": dps}
# every option a method takes, with its default
EDIT_OPTIONS = {
    "replacement": {"eta": 1.0, "timestep_spacing": "trailing"},
    "ilvr": {"eta": 1.0, "timestep_spacing": "trailing"},
    "repaint": {"jump_length": 5, "resample": 5, "timestep_spacing": "trailing"},
    "dps": {"step_size": 0.3, "eta": 1.0, "timestep_spacing": "trailing"},
}


def _check_edit_options(method: str, options: dict, num_steps: int) -> dict:
    allowed = EDIT_OPTIONS[method]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"option(s) {unknown} do not apply to {method!r}; it takes {sorted(allowed)}")
    opts = {**allowed, **{k: v for k, v in options.items() if v is not None}}
    if "jump_length" in opts and options.get("jump_length") is None:
        opts["jump_length"] = min(opts["jump_length"], num_steps)     # the default, on a short run
    check_spacing(opts["timestep_spacing"])
    for name in ("eta", "step_size"):
        if name in opts:
            v = opts[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 \
                    or (name == "eta" and v > 1):
                bound = "in [0, 1]" if name == "eta" else ">= 0"
                raise ValueError(f"{name} must be a number {bound}, got {v!r}")
    for name, low, high in (("jump_length", 1, num_steps), ("resample", 1, 20)):
        if name in opts:
            v = opts[name]
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                raise ValueError(f"{name} must be a whole number in [{low}, {high}] (for {num_steps} steps), "
                                 f"got {v!r}")
    return opts


def edit(model, schedule: Schedule, x_T: torch.Tensor, method: str, num_steps: int, generator=None, *,
         operator: Operator, y: torch.Tensor, prediction_type: str = "epsilon", clip_sample: bool = False,
         clip_sample_range: float = 1.0, callback=None, record: bool = True, **options) -> Trajectory:
    """Sample x_0 given the measurement ``y`` = operator(x_0) (+ noise) with ``method`` (:data:`EDIT_METHODS`),
    from x_T, in ``num_steps`` unconditional steps; returns the Trajectory as :func:`diffusion.sample` does (a
    RePaint trajectory visits some timesteps more than once: ``timesteps`` shows the jumps back up). Step records'
    ``extra`` holds ``measured`` (the noised measurement put back), ``residual`` (DPS) and ``jumped_from``
    (RePaint, on the first step after a jump)."""
    if method not in EDIT_METHODS:
        raise ValueError(f"unknown editing method {method!r}; choose one of {list(EDIT_METHODS)}")
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a diffusion Schedule, got {type(schedule).__name__}")
    if not isinstance(operator, Operator):
        raise ValueError(f"operator must be a diffusion.editing Operator (Mask, Downsample, Linear, Identity), "
                         f"got {type(operator).__name__}")
    check_prediction_type(prediction_type)
    T = schedule.num_timesteps
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 1 <= num_steps <= T:
        raise ValueError(f"num_steps must be an int in [1, {T}] (the schedule's T), got {num_steps!r}")
    operator.check(x_T, "x_T")
    expected = operator(x_T[:1]).shape[1:]
    if not isinstance(y, torch.Tensor) or tuple(y.shape) not in ((len(x_T), *expected), (1, *expected)):
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"the measurement y must have shape [batch or 1, {', '.join(map(str, expected))}] for "
                         f"{operator!r}, got {got}")
    if not torch.isfinite(y).all():
        raise ValueError("the measurement y contains NaN or inf")
    opts = _check_edit_options(method, options, num_steps)
    y = operator.restrict(y.to(x_T.dtype).expand(len(x_T), *expected))
    total = repaint_calls(num_steps, opts["jump_length"], opts["resample"]) if method == "repaint" else num_steps
    denoiser = Denoiser(model, prediction_type, clip_sample, clip_sample_range, record)
    steps = EDIT_METHODS[method](denoiser, schedule, x_T, num_steps, generator, operator=operator, y=y, **opts)
    return drive(steps, denoiser, x_T, total, callback, record, grad=False)


# --- a noisy copy: start where the noise matches ------------------------------------------------------------------


def matched_timestep(schedule: Schedule, noise_std: float) -> int:
    """The first timestep t whose sigma_t = sqrt((1 - ab_t) / ab_t) is at least ``noise_std`` (noise_std in the
    data's scale, x_0 + noise_std n)."""
    sigmas = schedule.sigmas
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) or not math.isfinite(noise_std) \
            or not 0 < noise_std <= float(sigmas[-1]):
        raise ValueError(f"noise std must be a number in (0, {float(sigmas[-1]):.4g}] (the schedule's largest "
                         f"sigma), got {noise_std!r}")
    return int(torch.searchsorted(sigmas, torch.tensor(float(noise_std), dtype=sigmas.dtype)).clamp(max=len(sigmas) - 1))


def noisy_start(schedule: Schedule, y: torch.Tensor, noise_std: float, generator=None) -> tuple[int, torch.Tensor]:
    """(t*, x_t*): the noisy copy y = x_0 + noise_std n as a draw of x_t* (the module docstring)."""
    t = matched_timestep(schedule, noise_std)
    ab = float(schedule.alphas_cumprod[t])
    missing = max(1 - ab - ab * noise_std**2, 0.0)          # the noise the grid's sigma_t >= s still asks for
    return t, ab**0.5 * y + missing**0.5 * randn(y, generator)


def denoise(model, schedule: Schedule, y: torch.Tensor, noise_std: float, sampler: str = "ddpm",
            num_steps: int | None = None, generator=None, **sample_options) -> Trajectory:
    """Clean a noisy copy y = x_0 + noise_std n: the reverse process from x_t* (:func:`noisy_start`) to 0 with
    ``sampler`` (one of :data:`DENOISE_SAMPLERS`; ddpm samples the posterior, ddim maps x_t* deterministically),
    ``num_steps`` (default: every step, t* + 1, for ddpm and pc; else at most 50). Other options go to
    :func:`diffusion.sample` (prediction_type, clipping, callback, record, eta, ...)."""
    if sampler not in DENOISE_SAMPLERS:
        raise ValueError(f"denoising starts exactly at x_t* with the samplers {list(DENOISE_SAMPLERS)}, got "
                         f"{sampler!r}")
    if not isinstance(y, torch.Tensor) or not y.is_floating_point() or not torch.isfinite(y).all():
        raise ValueError("the noisy observation y must be a finite floating-point tensor [batch, ...]")
    t, x_t = noisy_start(schedule, y, noise_std, generator)
    if num_steps is None:
        num_steps = t + 1 if sampler in ("ddpm", "pc") else min(50, t + 1)
    return sample(model, truncated(schedule, t), x_t, sampler, min(num_steps, t + 1) if isinstance(num_steps, int)
                  else num_steps, generator, timestep_spacing="trailing", **sample_options)


def tweedie(model, schedule: Schedule, y: torch.Tensor, noise_std: float, generator=None, *,
            prediction_type: str = "epsilon", clip_sample: bool = False, clip_sample_range: float = 1.0):
    """The one-step estimate x0_hat = E[x_0 | x_t*] (Tweedie's formula, via the model) from :func:`noisy_start`'s
    x_t* -- the same draw :func:`denoise` starts from with the same generator state."""
    check_prediction_type(prediction_type)
    t, x_t = noisy_start(schedule, y, noise_std, generator)
    denoiser = Denoiser(model, prediction_type, clip_sample, clip_sample_range, record=False)
    with torch.no_grad():
        x0, _ = denoiser(x_t, t, float(schedule.alphas_cumprod[t]))
    return x0
