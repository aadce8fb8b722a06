"""Samplers in the variance-preserving scale over integer timesteps: DDPM (ancestral) and DDIM.

Each is a generator: ``for t, x in ddpm(...)`` yields after every step the timestep it started from and
the new x (VP scale). ``diffusion.sample`` drives it and records the trajectory.
"""
from __future__ import annotations

from ..forward import posterior_coefficients
from .common import alpha_bar_or_one, randn
from .timesteps import discrete_timesteps


def ddpm(model, schedule, x, num_steps, generator=None, *, timestep_spacing="leading",
         variance_type="fixed_small"):
    """Ancestral sampling of the reverse Markov chain (Ho et al. 2020, Algorithm 2), strided as DDPMScheduler."""
    ts = discrete_timesteps(schedule.num_timesteps, num_steps, timestep_spacing)
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1  # the next timestep visited; -1 = alpha_bar 1 (clean data)
        ab_t, ab_prev = alpha_bar_or_one(schedule, t), alpha_bar_or_one(schedule, t_prev)
        x0_pred, _ = model(x, t, ab_t)                                     # DDPM eq. 15 (via the wrapper)
        coef_x0, coef_xt, beta_tilde = posterior_coefficients(ab_t, ab_prev)
        mean = coef_x0 * x0_pred + coef_xt * x                             # DDPM eq. 7: posterior mean
        if t > 0:
            # diffusers adds noise whenever t > 0, even on a final strided step to alpha_bar = 1 (trailing
            # spacing): then fixed_small's variance is 0 (clamped to 1e-20) but fixed_large's is 1 - alpha_bar_t.
            beta = 1 - ab_t / ab_prev
            var = max(beta_tilde, 1e-20) if variance_type == "fixed_small" else beta   # DDPM §3.2: beta~ or beta
            x = mean + var**0.5 * randn(x, generator)                      # Alg. 2 line 4
        else:
            x = mean
        yield t, x


def ddim(model, schedule, x, num_steps, generator=None, *, timestep_spacing="leading", eta=0.0):
    """Denoising diffusion implicit models (Song, Meng & Ermon 2021, eq. 12); eta=0 deterministic, eta=1 DDPM-like."""
    T = schedule.num_timesteps
    ts = discrete_timesteps(T, num_steps, timestep_spacing)
    for t in ts:
        # Quirk (DDIMScheduler.step): the step goes to t - T // N, not to the next timestep in the list; they
        # differ for trailing/linspace spacing (the next call then starts from a slightly different level).
        t_prev = t - T // num_steps
        ab_t, ab_prev = alpha_bar_or_one(schedule, t), alpha_bar_or_one(schedule, t_prev)  # set_alpha_to_one: ab_-1 = 1
        x0_pred, eps = model(x, t, ab_t)
        x = ddim_step(x0_pred, eps, ab_t, ab_prev, eta, generator)
        yield t, x


def ddim_step(x0_pred, eps, ab_t: float, ab_prev: float, eta: float, generator=None):
    """One DDIM step from alpha_bar ab_t to ab_prev given the model's (x0_pred, eps) (Song et al. 2021, eq. 12).

    eta = 0: deterministic; eta = 1: the variance of DDPM's posterior, beta~ (eq. 16), so the step is DDPM's
    ancestral step (Ho et al. 2020, eq. 7) written through eps."""
    var = (1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)                # DDIM eq. 16 with eta = 1
    sigma = eta * var**0.5
    x_next = ab_prev**0.5 * x0_pred + (1 - ab_prev - sigma**2) ** 0.5 * eps  # DDIM eq. 12
    if eta > 0:
        x_next = x_next + sigma * randn(x0_pred, generator)                # eq. 12, last term
    return x_next
