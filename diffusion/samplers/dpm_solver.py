"""DPM-Solver++(2M): a second-order multistep solver of the probability-flow ODE in x0 form (Lu et al. 2022b).

Works in the VP scale with alpha_s = sqrt(alpha_bar), sigma_s = sqrt(1 - alpha_bar) (called alpha_t, sigma_t in
the paper) and lambda = log(alpha_s / sigma_s) = -log(sigma), the half log-SNR. Follows diffusers'
DPMSolverMultistepScheduler defaults (solver_order=2, midpoint, lower_order_final, final sigma 0).
"""
from __future__ import annotations

import math

import numpy as np

from ..schedules import alpha_bar_from_sigma
from .timesteps import check_distinct, dpm_timesteps, float32_sigmas, karras_sigmas, sigma_to_t


def dpmpp_2m(model, schedule, x, num_steps, generator=None, *, timestep_spacing="linspace", use_karras_sigmas=False):
    """DPM-Solver++(2M) (Lu et al. 2022b, Algorithm 2), multistep with the previous x0_pred."""
    table = schedule.ode_sigmas
    if use_karras_sigmas:
        # diffusers: N Karras sigmas over the whole table (whatever the spacing), the model called at the rounded
        # timestep of each (truncated for the cosine schedule); the steps use the Karras sigmas themselves, so a
        # timestep repeated by rounding (two low sigmas near t = 0) is harmless
        table32 = float32_sigmas(schedule)
        sigmas = karras_sigmas(float(table32[-1]), float(table32[0]), num_steps).tolist()
        ts = sigma_to_t(sigmas, table32)     # quirk: rounded, except on cosine, where int64 storage truncates
        ts = [int(t) for t in (ts if schedule.name == "cosine" else ts.round())]
        sigmas = [float(np.float32(s)) for s in sigmas] + [0.0]
    else:
        ts = dpm_timesteps(schedule.num_timesteps, num_steps, timestep_spacing)
        check_distinct(ts, "dpmpp_2m", timestep_spacing, num_steps)  # N = T would repeat t and divide by h = 0
        sigmas = [float(table[t]) for t in ts] + [0.0]    # k-diffusion sigma (VE scale); 0 after the last step
    x0_prev, h_prev = None, None
    for i, t in enumerate(ts):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        x0_pred, _ = model(x, t, alpha_bar_from_sigma(sigma))
        if sigma_next == 0:
            # Quirk (lower_order_final / final_sigmas_type="zero"): the last step is first order, and a first-order
            # step to sigma 0 lands exactly on the denoised sample: x = x0_pred.
            x = x0_pred
        else:
            alpha_next = alpha_bar_from_sigma(sigma_next) ** 0.5
            h = math.log(sigma) - math.log(sigma_next)        # lambda_next - lambda
            if x0_prev is None:
                D = x0_pred                                   # first step: DPM-Solver++(1) = DDIM (eq. 10)
            else:
                r = h_prev / h                                # Alg. 2: r_i = h_{i-1} / h_i
                D = (1 + 1 / (2 * r)) * x0_pred - 1 / (2 * r) * x0_prev
            # x_next = (sigma_s_next / sigma_s) x - alpha_next (e^{-h} - 1) D   (Alg. 2; VP std sigma_s = sigma*alpha)
            ratio = sigma_next * alpha_next / (sigma * alpha_bar_from_sigma(sigma) ** 0.5)
            x = ratio * x - alpha_next * math.expm1(-h) * D
            h_prev = h
        x0_prev = x0_pred
        yield t, x
