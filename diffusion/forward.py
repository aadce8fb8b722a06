"""The forward (noising) process q(x_t | x_0) and its closed-form posterior q(x_{t-1} | x_t, x_0) (DDPM §2)."""
from __future__ import annotations

import torch

from .schedules import Schedule

__all__ = ["q_sample", "q_posterior", "posterior_coefficients"]


def _index(schedule: Schedule, t, x: torch.Tensor) -> torch.Tensor:
    """t as an int64 tensor [batch] (or 0-d), checked to lie in [0, T-1]."""
    t = torch.as_tensor(t)
    if t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"t must be an integer timestep index, got dtype {t.dtype}")
    if t.ndim > 1 or (t.ndim == 1 and (x.ndim == 0 or len(t) != x.shape[0])):
        raise ValueError(f"t must be an int or a tensor [batch] matching x's first dim {tuple(x.shape[:1])}, "
                         f"got shape {tuple(t.shape)}")
    if (t < 0).any() or (t >= schedule.num_timesteps).any():
        raise ValueError(f"t must be in [0, {schedule.num_timesteps - 1}], got {t.tolist()!r}")
    return t.long()


def _gather(values: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """values[t], shaped to broadcast over x, in x's dtype."""
    v = values[t]
    if t.ndim == 1:
        v = v.reshape(-1, *([1] * (x.ndim - 1)))
    return v.to(x.dtype)


def q_sample(schedule: Schedule, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, with the caller's eps   (DDPM eq. 4)."""
    if noise.shape != x0.shape:
        raise ValueError(f"noise shape {tuple(noise.shape)} must equal x0 shape {tuple(x0.shape)}")
    t = _index(schedule, t, x0)
    return _gather(schedule.sqrt_alphas_cumprod, t, x0) * x0 + _gather(schedule.sqrt_one_minus_alphas_cumprod,
                                                                       t, x0) * noise


def posterior_coefficients(alpha_bar_t, alpha_bar_prev):
    """(coef_x0, coef_xt, beta_tilde) of q(x_prev | x_t, x_0) between any two noise levels (DDPM eq. 6-7).

    With beta = 1 - alpha_bar_t / alpha_bar_prev (the variance added from prev to t):
    mean = sqrt(ab_prev) beta / (1 - ab_t) * x_0 + sqrt(1 - beta) (1 - ab_prev) / (1 - ab_t) * x_t,
    variance beta_tilde = (1 - ab_prev) / (1 - ab_t) * beta. Works on floats or float64 tensors.
    """
    beta = 1 - alpha_bar_t / alpha_bar_prev
    coef_x0 = alpha_bar_prev**0.5 * beta / (1 - alpha_bar_t)
    coef_xt = (1 - beta) ** 0.5 * (1 - alpha_bar_prev) / (1 - alpha_bar_t)
    return coef_x0, coef_xt, (1 - alpha_bar_prev) / (1 - alpha_bar_t) * beta


def q_posterior(schedule: Schedule, x0: torch.Tensor, x_t: torch.Tensor, t):
    """(mean, variance) of q(x_{t-1} | x_t, x_0)   (DDPM eq. 6-7); at t = 0, alpha_bar_{-1} = 1: mean x_0, var 0.

    The variance is expanded to the mean's shape.
    """
    if x0.shape != x_t.shape:
        raise ValueError(f"x0 shape {tuple(x0.shape)} must equal x_t shape {tuple(x_t.shape)}")
    t = _index(schedule, t, x_t)
    ab_prev_all = torch.cat([torch.ones(1, dtype=torch.float64), schedule.alphas_cumprod[:-1]])
    coef_x0, coef_xt, var = posterior_coefficients(schedule.alphas_cumprod, ab_prev_all)
    mean = _gather(coef_x0, t, x0) * x0 + _gather(coef_xt, t, x_t) * x_t
    return mean, _gather(var, t, x_t).expand_as(mean)
