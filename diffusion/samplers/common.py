"""What every sampler shares: the model wrapper, the returned Trajectory, StopSampling, and the noise draw."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..parameterization import to_x0_eps
from ..schedules import Schedule


class StopSampling(Exception):
    """Raise inside a ``callback`` to stop a run; ``sample`` then returns the trajectory so far (stopped=True)."""


@dataclass
class Trajectory:
    """What a sampling run visited. xs are in the variance-preserving scale whatever the sampler's inner scale."""

    x0: torch.Tensor                      # final sample (or the last x0_pred when stopped), shape of x_T
    timesteps: torch.Tensor               # float64 [K]: the timestep each step started from, in order visited
    xs: Optional[torch.Tensor]            # [K+1, *x_T.shape]: x_T first; None when record=False
    x0_preds: Optional[torch.Tensor]      # [nfe, *x_T.shape]: x0_pred of every model call; None when record=False
    nfe: int                              # number of model calls
    stopped: bool = False                 # True when a callback raised StopSampling


class Denoiser:
    """The model, wrapped once at the edge (EDM's preconditioning, k-diffusion's wrappers).

    ``denoiser(x_t, t, alpha_bar) -> (x0_pred, eps_pred)``: calls ``model(x_t, t)`` with x_t in the VP scale and t a
    float tensor [batch]; checks the output's shape and finiteness; converts it from ``prediction_type``; clips
    x0_pred to [-clip_sample_range, clip_sample_range] when ``clip_sample`` (eps_pred stays the model's own, as
    diffusers' default use_clipped_model_output=False); counts calls (nfe) and records every x0_pred.
    """

    def __init__(self, model, prediction_type: str, clip_sample: bool, clip_sample_range: float, record: bool):
        self.model, self.prediction_type = model, prediction_type
        self.clip = clip_sample_range if clip_sample else None
        self.nfe = 0
        self.x0_preds = [] if record else None
        self.last_x0 = None

    def __call__(self, x_t: torch.Tensor, t: float, alpha_bar: float):
        out = self.model(x_t, torch.full((x_t.shape[0],), t, dtype=x_t.dtype, device=x_t.device))
        if not isinstance(out, torch.Tensor) or out.shape != x_t.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"model returned {got} at t={t:g}; expected a tensor of shape {tuple(x_t.shape)} "
                             f"(a {self.prediction_type!r} prediction shaped like x_t)")
        if not torch.isfinite(out).all():
            raise ValueError(f"model returned NaN/inf at t={t:g} (call {self.nfe + 1}); its output must be finite")
        x0, eps = to_x0_eps(out.to(x_t.dtype), x_t, alpha_bar, self.prediction_type)
        if self.clip is not None:
            x0 = x0.clamp(-self.clip, self.clip)
        self.nfe += 1
        self.last_x0 = x0
        if self.x0_preds is not None:
            self.x0_preds.append(x0)
        return x0, eps


def randn(x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """Standard-normal noise shaped like x, drawn as diffusers' randn_tensor draws it on the CPU."""
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def alpha_bar_at(schedule: Schedule, t: int) -> float:
    """alpha_bar_t as a python float; t = -1 means "before the first step": alpha_bar = 1 (x_0 itself)."""
    return 1.0 if t < 0 else float(schedule.alphas_cumprod[t])


def sigmas_for_ode(schedule: Schedule) -> torch.Tensor:
    """sigma_t of the schedule for sigma-space solvers (float64 [T]).

    Quirk (diffusers' Euler and DPM-Solver schedulers with rescale_betas_zero_snr): a zero terminal alpha_bar is
    replaced by 2**-24 so that sigma_{T-1} stays finite (~4096) instead of infinite.
    """
    ab = schedule.alphas_cumprod.clone()
    if ab[-1] == 0:
        ab[-1] = 2.0**-24
    return ((1 - ab) / ab).sqrt()
