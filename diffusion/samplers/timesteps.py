"""Which timesteps a sampler visits: the ``timestep_spacing`` recipes, each exactly as diffusers computes it.

"leading", "trailing" and "linspace" are the three spacings of Lin et al. 2023 (Table 2). diffusers implements
them slightly differently per scheduler, and we reproduce each variant because our samplers must equal diffusers'
schedulers step for step. Every quirk is named where it happens.
"""
from __future__ import annotations

import numpy as np

SPACINGS = ("leading", "trailing", "linspace")


def check_spacing(spacing: str) -> None:
    if spacing not in SPACINGS:
        raise ValueError(f"unknown timestep_spacing {spacing!r}; choose one of {list(SPACINGS)}")


def _trailing(T: int, num_steps: int, start: int) -> np.ndarray:
    # diffusers: np.arange(start, 0, -T / N).round() - 1. With a float step np.arange sometimes yields one extra
    # element that rounds to timestep -1 (e.g. T=1000, N=61): a diffusers bug we do not reproduce -- we keep N.
    return (np.arange(start, 0, -T / num_steps).round() - 1)[:num_steps]


def discrete_timesteps(T: int, num_steps: int, spacing: str) -> list[int]:
    """Integer timesteps, descending, as DDPMScheduler / DDIMScheduler ``set_timesteps`` (steps_offset=0)."""
    check_spacing(spacing)
    if spacing == "linspace":  # N points from 0 to T-1, rounded to integers
        ts = np.linspace(0, T - 1, num_steps).round()[::-1]
    elif spacing == "leading":  # multiples of T // N starting at 0: never visits T-1 (Lin et al.'s complaint)
        ts = (np.arange(num_steps) * (T // num_steps))[::-1]
    else:  # trailing: from T-1 down in steps of T / N
        ts = _trailing(T, num_steps, T)
    return [int(t) for t in ts]


def sigma_timesteps(T: int, num_steps: int, spacing: str) -> list[float]:
    """Float timesteps, descending, as Euler/Heun/EulerAncestralDiscreteScheduler ``set_timesteps``.

    Quirk: ``linspace`` here is NOT rounded -- Euler and Heun visit fractional timesteps (999, 978.6, ...), and
    diffusers stores them as float32, so we round to float32 too.
    """
    check_spacing(spacing)
    if spacing == "linspace":
        ts = np.linspace(0, T - 1, num_steps)[::-1]
    elif spacing == "leading":
        ts = (np.arange(num_steps) * (T // num_steps))[::-1]
    else:
        ts = _trailing(T, num_steps, T)
    return [float(np.float32(t)) for t in ts]


def dpm_timesteps(T: int, num_steps: int, spacing: str) -> list[int]:
    """Integer timesteps, descending, as DPMSolverMultistepScheduler ``set_timesteps`` (lambda_min_clipped=-inf).

    Quirk: ``linspace`` and ``leading`` lay out N+1 points and drop the last one (timestep 0), so the last model
    call is at t ~ T/(N+1) and the final step jumps straight to sigma = 0. ``leading`` uses T // (N+1).
    """
    check_spacing(spacing)
    if spacing == "linspace":
        ts = np.linspace(0, T - 1, num_steps + 1).round()[::-1][:-1]
    elif spacing == "leading":
        ts = (np.arange(num_steps + 1) * (T // (num_steps + 1)))[::-1][:-1]
    else:
        ts = _trailing(T, num_steps, T)
    return [int(t) for t in ts]


def check_distinct(timesteps, sampler: str, spacing: str, num_steps: int) -> None:
    """Refuse a spacing that repeats a timestep (e.g. leading with N close to T): the steps would divide by 0."""
    if len(set(timesteps)) != len(timesteps) or min(timesteps) < 0:
        raise ValueError(f"timestep_spacing {spacing!r} with num_steps={num_steps} repeats timesteps for sampler "
                         f"{sampler!r}; use fewer steps or another spacing")


# --- Karras sigmas: the noise levels themselves spaced, not the timesteps ------------------------------------------
KARRAS_RHO = 7.0   # Karras et al. 2022, eq. 5 and Table 1: rho = 7 (diffusers hard-codes the same)


def karras_sigmas(sigma_max: float, sigma_min: float, num_steps: int, rho: float = KARRAS_RHO) -> np.ndarray:
    """N noise levels from sigma_max down to sigma_min, evenly spaced in sigma^(1/rho) (Karras et al. 2022, eq. 5):
    with rho = 7 most steps go to low noise, where the fine detail is decided. float64 [N], descending."""
    ramp = np.linspace(0, 1, num_steps)
    hi, lo = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def float32_sigmas(schedule) -> np.ndarray:
    """The sigma table as diffusers holds it for these conversions: computed in float32 from alpha_bar."""
    ab = schedule.alphas_cumprod.float().numpy()
    return ((1 - ab) / ab) ** 0.5


def sigma_to_t(sigmas, table) -> np.ndarray:
    """The fractional timestep of each sigma: linear interpolation in log sigma on the schedule's sigma table
    (ascending, [T]), clamped to [0, T-1] -- diffusers' ``_sigma_to_t``."""
    log_table = np.log(np.asarray(table, dtype=np.float64))
    log_sigma = np.log(np.maximum(np.asarray(sigmas, dtype=np.float64), 1e-10))
    low = (log_sigma[None, :] - log_table[:, None] >= 0).cumsum(0).argmax(0).clip(max=len(log_table) - 2)
    w = np.clip((log_table[low] - log_sigma) / (log_table[low] - log_table[low + 1]), 0, 1)
    return (1 - w) * low + w * (low + 1)
