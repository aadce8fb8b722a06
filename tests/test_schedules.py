"""Schedules: equal to diffusers' DDPMScheduler betas, internally consistent, zero-terminal-SNR rescaling, bad input."""
import math

import numpy as np

import pytest
import torch
from diffusers import DDPMScheduler
from diffusers.schedulers.scheduling_ddpm import rescale_zero_terminal_snr

from diffusion import SCHEDULES, Schedule, make_schedule

DIFFUSERS_NAME = {"linear": "linear", "scaled_linear": "scaled_linear", "cosine": "squaredcos_cap_v2",
                  "sigmoid": "sigmoid"}


def test_every_schedule_is_tested_against_diffusers():
    assert set(SCHEDULES) == set(DIFFUSERS_NAME)


@pytest.mark.parametrize("name", sorted(DIFFUSERS_NAME))
@pytest.mark.parametrize("T", [1000, 50, 4000])
def test_betas_equal_diffusers_ddpm_scheduler(name, T):
    s = make_schedule(name, T)
    ref = DDPMScheduler(num_train_timesteps=T, beta_schedule=DIFFUSERS_NAME[name]).betas.double()
    assert s.betas.dtype == torch.float64 and s.betas.shape == (T,)
    assert (s.betas - ref).abs().max() <= 1e-6


@pytest.mark.parametrize("name", ["linear", "scaled_linear", "sigmoid"])
def test_beta_range_option_matches_diffusers(name):
    s = make_schedule(name, 1000, beta_start=0.00085, beta_end=0.012)   # Stable Diffusion's range
    ref = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule=DIFFUSERS_NAME[name]).betas.double()
    assert (s.betas - ref).abs().max() <= 1e-6


def test_known_values():
    lin = make_schedule("linear", 1000)
    assert lin.betas[0].item() == pytest.approx(1e-4) and lin.betas[-1].item() == pytest.approx(0.02)
    # DDPM's linear schedule leaves alpha_bar_T ~ 4.0e-5 (Ho et al.; Lin et al. 2023 Table 1: SNR 4e-5)
    assert lin.alphas_cumprod[-1].item() == pytest.approx(4.036e-5, rel=1e-3)
    cos = make_schedule("cosine", 1000)
    # Nichol & Dhariwal eq. 17 at t = T/2, away from the 0.999 clip: alpha_bar = f(t)/f(0)
    f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2
    assert cos.alphas_cumprod[499].item() == pytest.approx(f(0.5) / f(0.0), rel=1e-9)
    assert cos.betas.max().item() == pytest.approx(0.999)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_derived_quantities_are_consistent(name):
    s = make_schedule(name, 500)
    ab = s.alphas_cumprod
    assert torch.allclose(ab, torch.cumprod(1 - s.betas, 0))
    assert (ab[1:] < ab[:-1]).all() and (ab > 0).all() and ab[0] < 1
    assert torch.allclose(s.sqrt_alphas_cumprod**2 + s.sqrt_one_minus_alphas_cumprod**2, torch.ones_like(ab))
    assert torch.allclose(s.sigmas, s.sqrt_one_minus_alphas_cumprod / s.sqrt_alphas_cumprod)
    assert torch.allclose(s.snr, 1 / s.sigmas**2)
    assert torch.allclose(s.log_snr, torch.log(ab / (1 - ab)))
    for v in (s.betas, s.alphas_cumprod, s.sigmas, s.snr, s.log_snr, s.sqrt_alphas_cumprod):
        assert v.dtype == torch.float64 and v.shape == (500,)
    assert s.num_timesteps == 500 and s.name == name and not s.zero_terminal_snr


@pytest.mark.parametrize("name", ["linear", "scaled_linear", "cosine"])
def test_zero_terminal_snr_rescaling(name):
    plain = make_schedule(name, 1000)
    s = make_schedule(name, 1000, rescale_zero_terminal_snr=True)
    assert s.zero_terminal_snr and s.alphas_cumprod[-1] == 0 and s.snr[-1] == 0
    assert s.alphas_cumprod[0].item() == pytest.approx(plain.alphas_cumprod[0].item(), rel=1e-12)
    assert (s.alphas_cumprod[1:] < s.alphas_cumprod[:-1]).all()
    # Lin et al. 2023 Alg. 1, as diffusers implements it
    assert (s.betas - rescale_zero_terminal_snr(plain.betas.clone())).abs().max() <= 1e-12
    ref = DDPMScheduler(beta_schedule=DIFFUSERS_NAME[name], rescale_betas_zero_snr=True).betas.double()
    assert (s.betas - ref).abs().max() <= 1e-5   # diffusers rescales float32 betas
    assert torch.isinf(s.sigmas[-1]) and s.log_snr[-1] == -math.inf


def test_from_betas_round_trip_and_copy():
    s = make_schedule("scaled_linear", 300)
    betas = s.betas.float().tolist()            # as a checkpoint's scheduler_config would hold them
    c = Schedule.from_betas(betas, name="ckpt")
    assert c.name == "ckpt" and c.num_timesteps == 300
    assert (c.betas - s.betas).abs().max() < 1e-8
    src = torch.linspace(1e-4, 0.02, 10, dtype=torch.float64)
    c2 = Schedule.from_betas(src)
    src[0] = 0.5                                # the schedule keeps its own copy
    assert c2.betas[0].item() == pytest.approx(1e-4)


def test_unknown_schedule_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown schedule 'quadratic'.*linear"):
        make_schedule("quadratic")


@pytest.mark.parametrize("kwargs, match", [
    (dict(name="cosine", beta_start=0.1), r"unknown option.*beta_start.*cosine"),
    (dict(name="linear", s=0.008), r"unknown option.*'s'"),
    (dict(name="linear", beta_end=1.5), r"beta_end"),
    (dict(name="linear", beta_start=0.0), r"beta_start"),
    (dict(name="linear", num_timesteps=1), r"num_timesteps"),
    (dict(name="linear", num_timesteps=10.5), r"num_timesteps"),
])
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_schedule(**kwargs)


@pytest.mark.parametrize("betas", [[], [[0.1, 0.2]], [0.1, float("nan")], [0.0, 0.1], [0.1, 1.5], [-0.1, 0.2]])
def test_bad_betas(betas):
    with pytest.raises(ValueError, match="betas"):
        Schedule.from_betas(betas)


def test_alpha_bar_at_is_exact_at_integers_and_follows_the_samplers_sigma_between():
    s = make_schedule("cosine", 1000)
    t = torch.tensor([0.0, 17.0, 999.0])
    assert torch.equal(s.alpha_bar_at(t), s.alphas_cumprod[[0, 17, 999]])
    for frac in (3.25, 500.5, 978.58):
        sigma = np.interp(frac, np.arange(1000), s.sigmas.numpy())      # diffusers' Euler: np.interp over sigmas
        assert float(s.sigma_at(frac)) == pytest.approx(sigma, rel=1e-12)
        assert float(s.alpha_bar_at(frac)) == pytest.approx(1 / (1 + sigma**2), rel=1e-12)
    with pytest.raises(ValueError, match=r"timesteps must lie in \[0, 999\]"):
        s.alpha_bar_at(1000.0)
    with pytest.raises(ValueError, match=r"timesteps must lie in \[0, 999\]"):
        s.sigma_at(-0.5)


def test_zero_terminal_snr_end_is_exact_at_the_integer_and_finite_between():
    # the last step has alpha_bar 0 (sigma inf); the sigma-space samplers step on a table clamped at 2**-24, and
    # every fractional lookup uses that same table, so no view of the schedule interpolates towards infinity
    z = make_schedule("linear", 1000, rescale_zero_terminal_snr=True)
    assert float(z.alpha_bar_at(999)) == 0.0 and torch.isinf(z.sigmas[-1])
    assert float(z.sigma_at(999)) == pytest.approx((1 - 2.0**-24) ** 0.5 / 2.0**-12, rel=1e-9)
    # (the clamp makes sigma_999 ~ 4096 smaller than sigma_998 ~ 1.5e4: diffusers' quirk, reproduced on purpose)
    mid_sigma = 0.5 * float(z.ode_sigmas[998] + z.ode_sigmas[999])
    assert float(z.sigma_at(998.5)) == pytest.approx(mid_sigma, rel=1e-12)
    assert float(z.alpha_bar_at(998.5)) == pytest.approx(1 / (1 + mid_sigma**2), rel=1e-12)


def test_sigma_and_alpha_bar_convert_both_ways():
    from diffusion import alpha_bar_from_sigma, sigma_from_alpha_bar
    ab = torch.tensor([0.999, 0.5, 1e-4], dtype=torch.float64)
    torch.testing.assert_close(alpha_bar_from_sigma(sigma_from_alpha_bar(ab)), ab, rtol=1e-12, atol=0)
    assert sigma_from_alpha_bar(0.5) == pytest.approx(1.0) and alpha_bar_from_sigma(0.0) == 1.0
