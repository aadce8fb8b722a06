"""Score-based predictor-corrector sampling (Song et al. 2021, "Score-Based Generative Modeling through SDEs").

The corrector runs Langevin MCMC at a fixed noise level using the score s = -eps / sqrt(1 - alpha_bar); the predictor
then takes one reverse-diffusion step to the next level. This is the SGM view of the same model.
"""
from __future__ import annotations

from ..forward import posterior_coefficients
from ..parameterization import score_from_eps
from .common import alpha_bar_or_one, randn
from .timesteps import discrete_timesteps


def _mean_norm(v):
    """Mean over the batch of each sample's L2 norm (as Song et al.'s LangevinCorrector)."""
    return v.reshape(v.shape[0], -1).norm(dim=-1).mean()


def pc(model, schedule, x, num_steps, generator=None, *, timestep_spacing="leading", snr=0.16,
       corrector_steps=1):
    """Predictor-corrector sampler (Song et al. 2021, Alg. 1 and Alg. 5): Langevin corrector, ancestral predictor.

    ``snr`` is the corrector's signal-to-noise ratio r, which sets the Langevin step size
    eps = 2 alpha_t (r ||z|| / ||score||)^2 (Alg. 5; Song et al. use r = 0.16); ``corrector_steps`` (M) Langevin
    steps run at every level before the predictor, so a run makes num_steps * (M + 1) model calls.
    ``corrector_steps=0`` leaves plain ancestral sampling (= ddpm).
    """
    ts = discrete_timesteps(schedule.num_timesteps, num_steps, timestep_spacing)
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        ab_t, ab_prev = alpha_bar_or_one(schedule, t), alpha_bar_or_one(schedule, t_prev)
        alpha_t = float(schedule.alphas[t])               # 1 - beta_t of the training chain, as Song et al.
        for _ in range(corrector_steps):                  # corrector: Langevin MCMC at level t (Alg. 5, lines 7-11)
            _, eps = model(x, t, ab_t)
            score = score_from_eps(eps, ab_t)
            z = randn(x, generator)
            step = 2 * alpha_t * (snr * _mean_norm(z) / _mean_norm(score)) ** 2
            x = x + step * score + (2 * step) ** 0.5 * z  # Langevin step: x + eps s + sqrt(2 eps) z
        x0_pred, _ = model(x, t, ab_t)                    # predictor: ancestral step (DDPM eq. 7, fixed_small)
        coef_x0, coef_xt, beta_tilde = posterior_coefficients(ab_t, ab_prev)
        x = coef_x0 * x0_pred + coef_xt * x
        if t_prev >= 0:
            x = x + beta_tilde**0.5 * randn(x, generator)
        yield t, x
