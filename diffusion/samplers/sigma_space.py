"""Samplers that step in sigma space (Karras et al. 2022): Euler, Heun and Euler ancestral.

They work on x_sigma = x_t / sqrt(alpha_bar) = x_0 + sigma eps (the variance-exploding view), where the
probability-flow ODE is dx/dsigma = (x - D(x; sigma)) / sigma, D the denoiser (Karras et al. eq. 3 with
s(t) = 1, sigma(t) = t). They scale x_T themselves, and yield x back in the VP scale.
Timesteps and sigmas follow diffusers' Euler/Heun/EulerAncestralDiscreteScheduler (quirks noted inline), with
``use_karras_sigmas`` as diffusers' option of that name (Karras et al. 2022, eq. 5, rho = 7).
"""
from __future__ import annotations

import numpy as np

from ..schedules import alpha_bar_from_sigma
from .common import randn
from .timesteps import float32_sigmas, karras_sigmas, sigma_timesteps, sigma_to_t


def _plan(schedule, num_steps, spacing, karras=False):
    """Timesteps and sigmas (N+1, last 0) as the discrete Karras-style schedulers set them."""
    ts = sigma_timesteps(schedule.num_timesteps, num_steps, spacing)
    # Quirk: fractional timesteps take sigma by linear interpolation in sigma between integer timesteps.
    sigmas = [float(schedule.sigma_at(t)) for t in ts]
    if karras:
        # use_karras_sigmas: N sigmas between the spacing's first and last (Karras et al. eq. 5), each called at
        # its fractional timestep (log-sigma interpolation), float32 as diffusers stores them
        sigmas = karras_sigmas(sigmas[0], sigmas[-1], num_steps).tolist()
        ts = [float(np.float32(t)) for t in sigma_to_t(sigmas, float32_sigmas(schedule))]
    return ts, sigmas + [0.0]


def _initial_scale(sigma_max, spacing):
    # Quirk (init_noise_sigma): x_sigma = x_T * sigma_max for linspace/trailing, but x_T * sqrt(sigma_max^2 + 1)
    # for leading. Only the latter is exactly x_T in the VP scale; the former shrinks it by sigma/sqrt(sigma^2+1)
    # (1 - 2e-5 for the linear schedule). Trajectory.xs[0] is the x_T given, either way.
    return sigma_max if spacing in ("linspace", "trailing") else (sigma_max**2 + 1) ** 0.5


def _denoise(model, x, sigma, t):
    """D(x; sigma): the wrapped model called in the VP scale, x_t = x_sigma / sqrt(sigma^2 + 1)."""
    alpha_bar = alpha_bar_from_sigma(sigma)
    x0_pred, _ = model(x * alpha_bar**0.5, t, alpha_bar)
    return x0_pred


def _to_vp(x, sigma):
    return x / (1 + sigma**2) ** 0.5


def euler(model, schedule, x, num_steps, generator=None, *, timestep_spacing="linspace",
          use_karras_sigmas=False):
    """Euler's method on the probability-flow ODE in sigma (Karras et al. 2022, Alg. 1 / eq. 3; Song et al. 2021)."""
    ts, sigmas = _plan(schedule, num_steps, timestep_spacing, use_karras_sigmas)
    x = x * _initial_scale(sigmas[0], timestep_spacing)
    for i, t in enumerate(ts):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        x0_pred = _denoise(model, x, sigma, t)
        d = (x - x0_pred) / sigma                     # dx/dsigma, Karras eq. 3
        x = x + d * (sigma_next - sigma)              # Alg. 1 line 5 (Euler step)
        yield t, _to_vp(x, sigma_next)


def heun(model, schedule, x, num_steps, generator=None, *, timestep_spacing="linspace",
         use_karras_sigmas=False):
    """Heun's 2nd-order method on the probability-flow ODE (Karras et al. 2022, Alg. 1, S_churn = 0)."""
    ts, sigmas = _plan(schedule, num_steps, timestep_spacing, use_karras_sigmas)
    x = x * _initial_scale(sigmas[0], timestep_spacing)
    for i, t in enumerate(ts):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        x0_pred = _denoise(model, x, sigma, t)
        d = (x - x0_pred) / sigma                     # Alg. 1 line 4
        dt = sigma_next - sigma
        if sigma_next == 0:
            x = x + d * dt                            # Alg. 1 line 5: last step is plain Euler (so 2N-1 calls)
        else:
            x_euler = x + d * dt
            # The correction evaluates D at sigma_next with the NEXT step's timestep (diffusers repeats it).
            x0_pred = _denoise(model, x_euler, sigma_next, ts[i + 1])
            d_prime = (x_euler - x0_pred) / sigma_next    # Alg. 1 line 7
            x = x + (d + d_prime) / 2 * dt                # Alg. 1 line 8 (trapezoidal rule)
        yield t, _to_vp(x, sigma_next)


def euler_ancestral(model, schedule, x, num_steps, generator=None, *, timestep_spacing="linspace"):
    """Reverse-SDE sampling: an Euler step down to sigma_down, then fresh noise of std sigma_up (k-diffusion)."""
    ts, sigmas = _plan(schedule, num_steps, timestep_spacing)
    x = x * _initial_scale(sigmas[0], timestep_spacing)
    for i, t in enumerate(ts):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        x0_pred = _denoise(model, x, sigma, t)
        # Split sigma_next^2 = sigma_down^2 + sigma_up^2 so the step is the DDPM posterior (ancestral step):
        # sigma_up = sigma_next sqrt(1 - sigma_next^2/sigma^2), sigma_down = sigma_next^2 / sigma. (diffusers and
        # k-diffusion compute sigma_down = sqrt(sigma_next^2 - sigma_up^2), the same number, but that cancels
        # catastrophically in float32 for a huge first sigma -- e.g. cosine's 2e4 -- and returns NaN.)
        sigma_up = sigma_next * (1 - sigma_next**2 / sigma**2) ** 0.5
        sigma_down = sigma_next**2 / sigma
        d = (x - x0_pred) / sigma
        x = x + d * (sigma_down - sigma)              # deterministic part: Euler to sigma_down
        noise = randn(x, generator)                   # diffusers draws noise on every step, the last included
        x = x + noise * sigma_up
        yield t, _to_vp(x, sigma_next)
