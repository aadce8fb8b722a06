"""One entry point, :func:`sample`, over a registry of samplers that share one signature.

Every sampler is a plain generator function ``sampler(model, schedule, x, num_steps, generator, **options)``
that loops over consecutive timesteps and yields ``(t, x_next)`` after each step (x in the VP scale).
``model`` there is the :class:`~diffusion.samplers.common.Denoiser` wrapper, which turns the network's output into
(x0_pred, eps_pred); samplers never see the raw prediction type. The flow-matching samplers (:mod:`.flow`) have
the same shape over flow times in [0, 1].
"""
from __future__ import annotations

import torch

from ..parameterization import check_prediction_type
from ..schedules import Schedule
from .ancestral import ddim, ddpm
from .common import Denoiser, Step, StopSampling, Trajectory, drive, seeded_noise
from .dpm_solver import dpmpp_2m
from .flow import FLOW_SAMPLERS, flow_sample
from .guidance import ClassifierGuided, Guided, check_guidance
from .langevin import pc
from .options import (LAB_DEFAULT, LAB_SPACINGS, SAMPLER_OPTIONS, VARIANCE_TYPES, check_options, default_num_steps,
                      model_calls, options_for, spacing_options)
from .sigma_space import euler, euler_ancestral, heun
from .timesteps import SPACINGS, check_spacing

__all__ = ["sample", "SAMPLERS", "SAMPLER_OPTIONS", "LAB_DEFAULT", "Trajectory", "Step", "StopSampling",
           "VARIANCE_TYPES", "SPACINGS", "default_num_steps", "model_calls", "options_for", "check_spacing",
           "seeded_noise", "LAB_SPACINGS", "spacing_options", "FLOW_SAMPLERS", "flow_sample", "visited_timesteps", "Guided", "ClassifierGuided"]

SAMPLERS = {
    "ddpm": ddpm,
    "ddim": ddim,
    "euler": euler,
    "heun": heun,
    "dpmpp_2m": dpmpp_2m,
    "euler_ancestral": euler_ancestral,
    "pc": pc,
}


def sample(model, schedule: Schedule, x_T: torch.Tensor, sampler: str = "ddim", num_steps: int | None = None,
           generator: torch.Generator | None = None, *, prediction_type: str = "epsilon", clip_sample: bool = False,
           clip_sample_range: float = 1.0, callback=None, record: bool = True, grad: bool = False,
           y=None, guidance_scale: float | None = None, **options) -> Trajectory:
    """Run ``sampler`` from ``x_T`` (a standard-normal draw) for ``num_steps`` steps; return the Trajectory.

    ``model(x_t, t)`` predicts ``prediction_type`` ("epsilon", "sample", "v_prediction") from x_t in the VP scale and
    t a float tensor [batch]. ``num_steps`` means what diffusers means (heun: N steps = 2N-1 model calls);
    default: T for ddpm and pc, else 50. Options per sampler: see ``SAMPLER_OPTIONS`` (None = that sampler's default);
    an option a sampler does not use must be left at its default, else ValueError.
    ``clip_sample`` clips every x0_pred to [-clip_sample_range, clip_sample_range] (off by default: toy data is
    not in [-1, 1]). ``callback(step)`` runs after every step with a :class:`Step` record (index, t, noise level,
    the x_t the model saw, its x0_pred and eps_pred, the new x); raising :class:`StopSampling` in it ends the run
    early: the trajectory so far comes back with ``stopped=True`` and ``x0`` = the last x0_pred. ``record=False``
    keeps only x0 (xs and x0_preds are None). ``grad=True`` runs with autograd on, for methods that differentiate
    through the model (posterior sampling); otherwise the loop runs under ``torch.no_grad()``. All randomness comes
    from ``generator``. ``y`` (class labels, a long tensor [batch] or one int) samples a conditional model
    ``model(x_t, t, y)`` with classifier-free guidance of scale ``guidance_scale`` (default 1: plain conditional;
    0: unconditional; see :mod:`diffusion.samplers.guidance`); the step record's ``extra`` then holds
    ``eps_cond`` / ``eps_uncond``. On a zero-terminal-SNR schedule, epsilon-prediction is refused with a ValueError
    (x0 cannot be recovered from eps at SNR 0; diffusers would return inf/NaN there, or fudge alpha_bar to 2**-24).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {list(SAMPLERS)}")
    if not isinstance(schedule, Schedule):
        raise ValueError(f"schedule must be a diffusion Schedule, got {type(schedule).__name__}")
    check_prediction_type(prediction_type)
    if clip_sample and not (isinstance(clip_sample_range, (int, float)) and clip_sample_range > 0):
        raise ValueError(f"clip_sample_range must be a number > 0, got {clip_sample_range!r}")
    opts = check_options(sampler, options)
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
    y, w = check_guidance(y, guidance_scale, x_T.shape[0])
    if y is not None:
        model = Guided(model, y, w)
    denoiser = Denoiser(model, prediction_type, clip_sample, clip_sample_range, record)
    steps = SAMPLERS[sampler](denoiser, schedule, x_T, num_steps, generator, **opts)
    return drive(steps, denoiser, x_T, num_steps, callback, record, grad)


def visited_timesteps(sampler: str, schedule: Schedule, num_steps: int, spacing: str | None = None) -> list[float]:
    """The timesteps at which ``sampler`` starts each of its ``num_steps`` steps under ``spacing`` (None: its default).

    Found by running the sampler itself with a model that predicts x_0 = 0, so there is no second copy of the
    spacing rules to drift from the samplers'. Raises the sampler's ValueError for an impossible combination."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {list(SAMPLERS)}")
    options = options_for(sampler, timestep_spacing=spacing)
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731 - a "model" that predicts x_0 = 0
    traj = sample(zero, schedule, torch.zeros(1, 1, dtype=torch.float64), sampler=sampler, num_steps=num_steps,
                  generator=torch.Generator().manual_seed(0), prediction_type="sample", record=False, **options)
    return traj.timesteps.tolist()
