"""What a model predicts, and the conversions among epsilon, x_0, v, the score and a flow's velocity.

All diffusion formulas follow from x_t = sqrt(alpha_bar) x_0 + sqrt(1 - alpha_bar) eps (DDPM eq. 4) and
v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0 (Salimans & Ho 2022, §4 / appendix D).
``alpha_bar`` may be a python float, a 0-d tensor, or a tensor of shape [batch] (broadcast over the other dims).
The flow-matching ones follow from the rectified-flow path x_t = (1 - t) x_0 + t eps, whose velocity is
eps - x_0 (Liu et al. 2022, eq. 1; Lipman et al. 2022); ``t`` is a float there.
"""
from __future__ import annotations

import torch

__all__ = ["PREDICTION_TYPES", "to_x0_eps", "x0_from_eps", "eps_from_x0", "v_from_x0_eps", "x0_eps_from_v",
           "convert", "score_from_eps", "eps_from_score", "score_from_x0", "velocity_from_x0_eps",
           "x0_eps_from_velocity", "velocity_from_x0"]

PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")


def check_prediction_type(prediction_type: str) -> None:
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"unknown prediction_type {prediction_type!r}; choose one of {list(PREDICTION_TYPES)}")


def _coeffs(alpha_bar, like: torch.Tensor):
    """(sqrt(alpha_bar), sqrt(1 - alpha_bar)) as floats or tensors shaped to broadcast against ``like``."""
    if isinstance(alpha_bar, (int, float)):
        return alpha_bar**0.5, (1 - alpha_bar) ** 0.5
    a = torch.as_tensor(alpha_bar, dtype=torch.float64)
    if a.ndim == 1 and like.ndim > 1:
        a = a.reshape(-1, *([1] * (like.ndim - 1)))
    return a.sqrt().to(like.dtype), (1 - a).sqrt().to(like.dtype)


def x0_from_eps(eps, x_t, alpha_bar):
    """x_0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar)   (DDPM eq. 15; undefined at alpha_bar = 0)."""
    a, s = _coeffs(alpha_bar, x_t)
    return (x_t - s * eps) / a


def eps_from_x0(x0, x_t, alpha_bar):
    """eps = (x_t - sqrt(alpha_bar) x_0) / sqrt(1 - alpha_bar)   (DDPM eq. 4 solved for eps)."""
    a, s = _coeffs(alpha_bar, x_t)
    return (x_t - a * x0) / s


def v_from_x0_eps(x0, eps, alpha_bar):
    """v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0   (Salimans & Ho 2022, §4)."""
    a, s = _coeffs(alpha_bar, x0)
    return a * eps - s * x0


def x0_eps_from_v(v, x_t, alpha_bar):
    """x_0 = sqrt(ab) x_t - sqrt(1-ab) v,  eps = sqrt(ab) v + sqrt(1-ab) x_t   (Salimans & Ho 2022, appendix D)."""
    a, s = _coeffs(alpha_bar, x_t)
    return a * x_t - s * v, a * v + s * x_t


def to_x0_eps(model_output, x_t, alpha_bar, prediction_type: str):
    """(x0_pred, eps_pred) from a model's output, whatever it predicts."""
    if prediction_type == "epsilon":
        return x0_from_eps(model_output, x_t, alpha_bar), model_output
    if prediction_type == "sample":
        return model_output, eps_from_x0(model_output, x_t, alpha_bar)
    if prediction_type == "v_prediction":
        return x0_eps_from_v(model_output, x_t, alpha_bar)
    check_prediction_type(prediction_type)


def convert(model_output, x_t, alpha_bar, from_type: str, to_type: str):
    """Re-express a prediction of kind ``from_type`` as ``to_type`` (both in PREDICTION_TYPES)."""
    check_prediction_type(to_type)
    x0, eps = to_x0_eps(model_output, x_t, alpha_bar, from_type)
    if to_type == "epsilon":
        return eps
    if to_type == "sample":
        return x0
    return v_from_x0_eps(x0, eps, alpha_bar)


def score_from_eps(eps, alpha_bar):
    """grad_x log p_t(x_t) = -eps / sqrt(1 - alpha_bar)   (Song et al. 2021, SDE paper; Tweedie's formula)."""
    _, s = _coeffs(alpha_bar, eps)
    return -eps / s


def eps_from_score(score, alpha_bar):
    """eps = -sqrt(1 - alpha_bar) * score   (inverse of :func:`score_from_eps`)."""
    _, s = _coeffs(alpha_bar, score)
    return -s * score


def score_from_x0(x0, x_t, a, s):
    """grad log p_t(x_t) = (a x_0_hat - x_t) / s^2 for x_t = a x_0 + s eps at any noise level (a, s): Tweedie's
    formula (Efron 2011) with the posterior mean x_0_hat = E[x_0 | x_t]; a, s floats."""
    return (a * x0 - x_t) / (s * s)


# --- rectified flow: x_t = (1 - t) x_0 + t eps ----------------------------------------------------------------
def velocity_from_x0_eps(x0, eps):
    """v = d x_t / dt = eps - x_0: the regression target of conditional flow matching (Lipman et al. 2022 eq. 23)."""
    return eps - x0


def x0_eps_from_velocity(v, x_t, t: float):
    """(x_0, eps) from a velocity at time t: x_0 = x_t - t v (the straight line's end), eps = x_t + (1 - t) v."""
    return x_t - t * v, x_t + (1 - t) * v


def velocity_from_x0(x0, x_t, t: float):
    """v = (x_t - x_0) / t: the velocity whose straight line from x_t ends at x_0 (undefined at t = 0)."""
    return (x_t - x0) / t
