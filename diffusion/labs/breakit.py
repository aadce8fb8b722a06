"""Break it: four classic mistakes, each run beside the correct setting from the same x_T, with numbers.

* :func:`too_few_timesteps` -- T too small for a fixed-beta schedule: with DDPM's linear betas (1e-4 .. 0.02),
  alpha_bar_{T-1} = prod (1 - beta_t) is ~4e-5 at T = 1000 but ~0.6 at T = 50, so x_{T-1} still holds most of the
  data while sampling starts from pure noise. Run with the exact denoiser, so the mismatch is the only error.
* :func:`wrong_ddpm_variance` -- DDPM's reverse variance: beta_tilde_t (the true posterior's, "fixed_small") vs
  beta_t ("fixed_large"). Ho et al. (2020, §3.2) found both fine at T = 1000 steps; at few (strided) steps beta_t
  is far larger than the posterior's, and the extra noise is never removed.
* :func:`no_time_embedding` -- a network that is not told t must use one denoiser for every noise level.
* :func:`clipped_x0` -- clipping x0_pred to [-1, 1] (diffusers' ``clip_sample``) is right for images, whose
  pixels live there, and wrong for data that does not: the toy cloud is squashed into the square.

Each returns a list of :class:`Panel` (correct first, broken second) whose ``quality`` is
:func:`diffusion.metrics.quality` (1.0 = as close as a fresh draw of the data).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..schedules import make_schedule
from .racers import Racer, draw_x_T, exact_racer, quality_of, run_one, toy_racer

__all__ = ["Panel", "EXPERIMENTS", "too_few_timesteps", "wrong_ddpm_variance", "no_time_embedding", "clipped_x0",
           "mode_spread", "OFF_CENTRE"]

# Centred, unit-variance toy data hide the mismatch between x_T and N(0, I): sqrt(ab) x_0 + sqrt(1 - ab) eps is then
# already close to N(0, I) in mean and covariance, whatever ab is. Real data is not centred (MNIST pixels average
# about -0.74 on [-1, 1]), so the experiments about x_T move the 8 Gaussians off-centre by this much.
OFF_CENTRE = (1.5, 0.0)


@dataclass
class Panel:
    label: str
    samples: torch.Tensor       # final samples in the data's space
    quality: float
    nfe: int
    detail: str = ""            # one line of numbers for this panel


def mode_spread(mixture, x: torch.Tensor) -> float:
    """RMS distance of points [n, d] from the mean of their most likely mixture component (the data's own spread
    is sqrt(tr Sigma_k)): blur that the sliced-Wasserstein quality figure barely sees."""
    x = torch.as_tensor(x, dtype=torch.float64)
    k = mixture.responsibilities(x).argmax(1)
    return float((x - mixture.means[k]).pow(2).sum(1).mean().sqrt())


def _panel(racer: Racer, x_T, sampler, num_steps, seed, label, detail="", spacing=None, **options) -> Panel:
    """One run from x_T, scored."""
    traj = run_one(racer, x_T, sampler, num_steps, seed, spacing, **options)
    samples = racer.to_data(traj.x0).detach().float()
    return Panel(label, samples, quality_of(racer, samples), traj.nfe, detail)


def too_few_timesteps(small_T: int = 50, data: str = "gaussians8", n: int = 2000, seed: int = 0,
                      num_steps: int = 25, shift=OFF_CENTRE) -> list[Panel]:
    """Linear betas with T = 1000 vs T = ``small_T``; DDIM, ``min(num_steps, T)`` steps, trailing spacing, on the
    exact denoiser of ``data`` moved off-centre by ``shift`` (see :data:`OFF_CENTRE`)."""
    if isinstance(small_T, bool) or not isinstance(small_T, int) or not 2 <= small_T <= 1000:
        raise ValueError(f"small_T must be a whole number in [2, 1000], got {small_T!r}")
    panels = []
    for T, label in ((1000, "T = 1000 (right)"), (small_T, f"T = {small_T} (too small)")):
        schedule = make_schedule("linear", T)
        racer = exact_racer(data, schedule, shift=shift)
        signal = float(schedule.alphas_cumprod[-1]) ** 0.5
        panels.append(_panel(racer, draw_x_T(racer, n, seed), "ddim", min(num_steps, T), seed, label,
                             f"√ᾱ_T = {signal:.3g}: x_T keeps {100 * signal:.1f} % of the data", "trailing"))
    return panels


def wrong_ddpm_variance(num_steps: int = 10, data: str = "gaussians8", n: int = 2000, seed: int = 0,
                        schedule: str = "cosine") -> list[Panel]:
    """DDPM, ``num_steps`` strided steps, variance beta_tilde (right) vs beta (too large at few steps)."""
    racer = exact_racer(data, make_schedule(schedule, 1000))
    x_T = draw_x_T(racer, n, seed)
    mixture = racer.model.denoiser
    spread = mode_spread(mixture, mixture.sample(n, torch.Generator().manual_seed(seed + 1)))
    panels = [_panel(racer, x_T, "ddpm", num_steps, seed, "σ² = β̃_t (posterior variance)",
                     variance_type="fixed_small"),
              _panel(racer, x_T, "ddpm", num_steps, seed, "σ² = β_t (too large here)", variance_type="fixed_large")]
    for p in panels:
        p.detail = f"spread around the modes {mode_spread(mixture, p.samples):.3f} (the data's: {spread:.3f})"
    return panels


def no_time_embedding(model, model_without_t, n: int = 2000, seed: int = 0, sampler: str = "dpmpp_2m",
                      num_steps: int = 20, spacing: str | None = "leading") -> list[Panel]:
    """Two toy models trained alike (``toy.fit(..., time_embedding=False)`` for the second), sampled alike."""
    panels = []
    for m, label in ((model, "network sees t (right)"), (model_without_t, "network does not see t")):
        racer = toy_racer(m)
        panels.append(_panel(racer, draw_x_T(racer, n, seed), sampler, num_steps, seed, label, spacing=spacing))
    return panels


def clipped_x0(data: str = "gaussians8", n: int = 2000, seed: int = 0, sampler: str = "ddim",
               num_steps: int = 20, clip_range: float = 1.0) -> list[Panel]:
    """DDIM on the exact denoiser, x0_pred clipped to [-clip_range, clip_range] or not (trailing spacing)."""
    racer = exact_racer(data, make_schedule("cosine", 1000))
    x_T = draw_x_T(racer, n, seed)
    outside = float((racer.model.denoiser.sample(20_000, torch.Generator().manual_seed(seed)).abs() > clip_range)
                    .any(1).double().mean())
    return [_panel(racer, x_T, sampler, num_steps, seed, "x̂₀ not clipped (right here)", "", "trailing"),
            _panel(racer, x_T, sampler, num_steps, seed, f"x̂₀ clipped to [−{clip_range:g}, {clip_range:g}]",
                   f"{100 * outside:.0f} % of the data lies outside that box", "trailing",
                   clip_sample=True, clip_sample_range=clip_range)]


EXPERIMENTS = {
    "T too small": too_few_timesteps,
    "wrong DDPM variance": wrong_ddpm_variance,
    "no time embedding": no_time_embedding,
    "clipped x̂₀": clipped_x0,
}
