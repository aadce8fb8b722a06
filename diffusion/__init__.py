"""Diffusion Lab's core: noise schedules, the forward process, samplers, toy data and models.

Conventions, stated once (DDPM, Ho et al. 2020; k-diffusion for the sigma view):

* A schedule has T discrete steps, indexed t = 0 .. T-1. ``betas[t]`` is the variance added at step t,
  ``alphas_cumprod[t]`` = alpha_bar_t = prod_{s<=t} (1 - beta_s). All schedule tensors are float64.
* Forward process (variance preserving): x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, eps ~ N(0, I).
* The same point in the variance-exploding ("sigma") scale: x_t / sqrt(alpha_bar_t) = x_0 + sigma_t eps with
  sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t).  SNR_t = alpha_bar_t / (1 - alpha_bar_t) = 1 / sigma_t^2,
  log-SNR = log(SNR).
* A model is any callable ``model(x_t, t)``: x_t in the variance-preserving scale, t a float tensor of shape
  [batch] of timesteps in [0, T-1] (fractional where a sampler interpolates). It returns what its
  ``prediction_type`` names: ``"epsilon"`` (the noise), ``"sample"`` (x_0) or ``"v_prediction"``
  (v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0, Salimans & Ho 2022). The network knows nothing else of the
  noise process.
* The score of the noised data is grad log p_t(x_t) = -eps / sqrt(1 - alpha_bar_t).
* Randomness always comes in through a ``torch.Generator`` argument.

* Fractional timesteps (where the sigma-space samplers step): ``schedule.sigma_at(t)`` interpolates sigma linearly
  in t on ``schedule.ode_sigmas``; ``schedule.alpha_bar_at(t)`` is exact at integers and 1 / (1 + sigma^2) between.

Public API: ``make_schedule`` / ``Schedule`` (schedules.py), ``q_sample`` / ``q_posterior`` (forward.py), the
prediction conversions (parameterization.py), and ``sample(model, schedule, x_T, sampler, num_steps, generator,
**options) -> Trajectory`` over ``SAMPLERS`` (samplers/). A ``callback(step)`` passed to ``sample`` runs after every
step with a ``Step`` record (t, noise level, x_t, x0_pred, eps_pred, the new x); raising ``StopSampling`` inside it
ends the run and returns what was done so far.

Layout: this package is the library (no lab, no UI); ``diffusion.toy`` holds the toy data, network and training;
``diffusion.hub`` loads pretrained image models; ``diffusion.editing`` samples given a measurement (inpainting,
super-resolution, denoising) and ``diffusion.posterior`` gives the exact posterior of a Gaussian-mixture prior it is
measured against; ``diffusion.labs`` holds the labs' back-ends built on all of it.
"""

from .forward import q_posterior, q_sample
from .parameterization import (PREDICTION_TYPES, convert, eps_from_score, eps_from_x0, score_from_eps, to_x0_eps,
                               v_from_x0_eps, x0_eps_from_v, x0_from_eps)
from .samplers import (FLOW_SAMPLERS, LAB_DEFAULT, LAB_SPACINGS, SAMPLER_OPTIONS, SAMPLERS, SPACINGS, VARIANCE_TYPES, Step,
                       StopSampling, Trajectory, flow_sample, model_calls, options_for, sample, seeded_noise)
from .schedules import SCHEDULES, Schedule, alpha_bar_from_sigma, make_schedule, sigma_from_alpha_bar

__all__ = ["make_schedule", "Schedule", "SCHEDULES", "sigma_from_alpha_bar", "alpha_bar_from_sigma", "q_sample",
           "q_posterior", "sample", "flow_sample", "FLOW_SAMPLERS", "Trajectory", "Step", "StopSampling",
           "seeded_noise",
           "model_calls", "options_for", "SAMPLERS", "SAMPLER_OPTIONS", "LAB_DEFAULT", "LAB_SPACINGS", "SPACINGS", "VARIANCE_TYPES",
           "PREDICTION_TYPES", "to_x0_eps", "convert", "x0_from_eps", "eps_from_x0", "v_from_x0_eps", "x0_eps_from_v",
           "score_from_eps", "eps_from_score"]
