"""One entry point, :func:`sample`, over a registry of samplers that share one signature.

Every sampler is a plain generator function ``sampler(model, schedule, x, num_steps, generator, **options)``
that loops over consecutive timesteps and yields ``(t, x_t, x0_pred)`` after each step (x_t in the VP scale).
``model`` there is the :class:`~diffusion.samplers.common.Denoiser` wrapper, which turns the network's output into
(x0_pred, eps_pred); samplers never see the raw prediction type.
"""
from __future__ import annotations

import torch

from ..parameterization import check_prediction_type
from ..schedules import Schedule
from .ancestral import ddim, ddpm
from .common import Denoiser, StopSampling, Trajectory
from .dpm_solver import dpmpp_2m
from .langevin import pc
from .sigma_space import euler, euler_ancestral, heun
from .timesteps import SPACINGS, check_spacing

__all__ = ["sample", "SAMPLERS", "SAMPLER_OPTIONS", "LAB_DEFAULT", "Trajectory", "StopSampling", "VARIANCE_TYPES",
           "SPACINGS", "default_num_steps"]

SAMPLERS = {
    "ddpm": ddpm,
    "ddim": ddim,
    "euler": euler,
    "heun": heun,
    "dpmpp_2m": dpmpp_2m,
    "euler_ancestral": euler_ancestral,
    "pc": pc,
}

VARIANCE_TYPES = ("fixed_small", "fixed_large")

# The options each sampler takes, with its default. timestep_spacing defaults follow diffusers' scheduler
# defaults (DDPM/DDIM: leading; Euler/Heun/DPM-Solver: linspace) so that defaults match defaults.
SAMPLER_OPTIONS = {
    "ddpm": {"timestep_spacing": "leading", "variance_type": "fixed_small"},
    "ddim": {"timestep_spacing": "leading", "eta": 0.0},
    "euler": {"timestep_spacing": "linspace"},
    "heun": {"timestep_spacing": "linspace"},
    "dpmpp_2m": {"timestep_spacing": "linspace"},
    "euler_ancestral": {"timestep_spacing": "linspace"},
    "pc": {"timestep_spacing": "leading", "snr": 0.16, "corrector_steps": 1},
}
# What the lab offers first (the UI's choice; sample()'s own defaults stay diffusers'). DPM-Solver++(2M) reaches
# ddpm-1000 quality in 20 calls (Lu et al. 2022b) -- 4,000 toy points in ~0.1 s. "leading" spacing (first call at
# t = 20 * (T // 21) = 940 for T = 1000) steps around the cosine schedule's last, clipped step (beta = 0.999,
# sigma_{T-1} = 2e4), where every sampler that starts at t = T-1 multiplies an epsilon-network's error by sigma:
# on a trained cosine/epsilon moons model the sliced-Wasserstein quality is 1.27 with leading vs 109 with
# diffusers' default linspace (1.22 for ddpm x 1000); on a linear schedule, 1.70 vs 1.68.
LAB_DEFAULT = {"sampler": "dpmpp_2m", "num_steps": 20, "timestep_spacing": "leading"}

_ALL_OPTIONS = {name for opts in SAMPLER_OPTIONS.values() for name in opts}


def default_num_steps(sampler: str, schedule: Schedule) -> int:
    """The full chain for ddpm and pc (as Ho et al. and Song et al.), else 50 (diffusers' pipelines), capped at T."""
    return schedule.num_timesteps if sampler in ("ddpm", "pc") else min(50, schedule.num_timesteps)


def _check_options(sampler: str, options: dict) -> dict:
    unknown = sorted(set(options) - _ALL_OPTIONS)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}; samplers take {sorted(_ALL_OPTIONS)} plus "
                         f"prediction_type, clip_sample, clip_sample_range, callback, record")
    takes = SAMPLER_OPTIONS[sampler]
    resolved = dict(takes)
    for name, value in options.items():
        if name in takes:
            if value is not None:
                resolved[name] = value
        elif value is not None and value != _default_anywhere(name):
            users = [s for s, o in SAMPLER_OPTIONS.items() if name in o]
            raise ValueError(f"option {name}={value!r} is not used by sampler {sampler!r} (only by {users})")
    if "timestep_spacing" in resolved:
        check_spacing(resolved["timestep_spacing"])
    if resolved.get("variance_type", "fixed_small") not in VARIANCE_TYPES:
        raise ValueError(f"unknown variance_type {resolved['variance_type']!r}; choose one of {list(VARIANCE_TYPES)}")
    if "eta" in resolved and not (isinstance(resolved["eta"], (int, float)) and resolved["eta"] >= 0):
        raise ValueError(f"eta must be a number >= 0, got {resolved['eta']!r}")
    if "snr" in resolved and not (isinstance(resolved["snr"], (int, float)) and resolved["snr"] > 0):
        raise ValueError(f"snr must be a number > 0, got {resolved['snr']!r}")
    steps = resolved.get("corrector_steps", 0)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"corrector_steps must be an int >= 0, got {steps!r}")
    return resolved


def _default_anywhere(name: str):
    for opts in SAMPLER_OPTIONS.values():
        if name in opts:
            return opts[name]


def sample(model, schedule: Schedule, x_T: torch.Tensor, sampler: str = "ddim", num_steps: int | None = None,
           generator: torch.Generator | None = None, *, prediction_type: str = "epsilon", clip_sample: bool = False,
           clip_sample_range: float = 1.0, callback=None, record: bool = True, **options) -> Trajectory:
    """Run ``sampler`` from ``x_T`` (a standard-normal draw) for ``num_steps`` steps; return the Trajectory.

    ``model(x_t, t)`` predicts ``prediction_type`` ("epsilon", "sample", "v_prediction") from x_t in the VP scale and
    t a float tensor [batch]. ``num_steps`` means what diffusers means (heun: N steps = 2N-1 model calls);
    default: T for ddpm and pc, else 50. Options per sampler: see ``SAMPLER_OPTIONS`` (None = that sampler's default);
    an option a sampler does not use must be left at its default, else ValueError.
    ``clip_sample`` clips every x0_pred to [-clip_sample_range, clip_sample_range] (off by default: toy data is
    not in [-1, 1]). ``callback(step, total, x_t, x0_pred)`` runs after every step (step counts from 0); raising
    :class:`StopSampling` in it ends the run early: the trajectory so far comes back with ``stopped=True`` and
    ``x0`` = the last x0_pred. ``record=False`` keeps only x0 (xs and x0_preds are None). All randomness comes
    from ``generator``. On a zero-terminal-SNR schedule, epsilon-prediction is refused with a ValueError (x0 cannot
    be recovered from eps at SNR 0; diffusers would return inf/NaN there, or fudge alpha_bar to 2**-24).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {list(SAMPLERS)}")
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a diffusion Schedule, got {type(schedule).__name__}")
    check_prediction_type(prediction_type)
    if clip_sample and not (isinstance(clip_sample_range, (int, float)) and clip_sample_range > 0):
        raise ValueError(f"clip_sample_range must be a number > 0, got {clip_sample_range!r}")
    opts = _check_options(sampler, options)
    T = schedule.num_timesteps
    if num_steps is None:
        num_steps = default_num_steps(sampler, schedule)
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 1 <= num_steps <= T:
        raise ValueError(f"num_steps must be an int in [1, {T}] (the schedule's T), got {num_steps!r}")
    if not isinstance(x_T, torch.Tensor) or not x_T.is_floating_point() or x_T.ndim < 1 or x_T.shape[0] < 1:
        got = (x_T.dtype, tuple(x_T.shape)) if isinstance(x_T, torch.Tensor) else type(x_T).__name__
        raise ValueError(f"x_T must be a floating-point tensor of shape [batch, ...], got {got}")
    if not torch.isfinite(x_T).all():
        raise ValueError("x_T contains NaN or inf; it must be a finite standard-normal draw")
    if schedule.zero_terminal_snr and prediction_type == "epsilon":
        raise ValueError("prediction_type 'epsilon' is undefined on a zero-terminal-SNR schedule (x0 = (x_t - eps) / 0 "
                         "at the last step); use 'v_prediction' or 'sample' (Lin et al. 2023, §3.2)")
    denoiser = Denoiser(model, prediction_type, clip_sample, clip_sample_range, record)
    xs = [x_T] if record else None
    timesteps, x, stopped = [], x_T, False
    steps = SAMPLERS[sampler](denoiser, schedule, x_T, num_steps, generator, **opts)
    with torch.no_grad():
        try:
            for step, (t, x, x0_pred) in enumerate(steps):
                timesteps.append(t)
                if record:
                    xs.append(x)
                if callback is not None:
                    callback(step, num_steps, x, x0_pred)
        except StopSampling:
            stopped = True
            steps.close()
    return Trajectory(
        x0=denoiser.last_x0 if stopped else x,
        timesteps=torch.tensor(timesteps, dtype=torch.float64),
        xs=torch.stack(xs) if record else None,
        x0_preds=torch.stack(denoiser.x0_preds) if record and denoiser.x0_preds else None,
        nfe=denoiser.nfe,
        stopped=stopped,
    )
