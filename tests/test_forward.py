"""Forward process and parameterisations, against closed forms and Gaussian algebra."""
import pytest
import torch

from diffusion import make_schedule, q_posterior, q_sample
from diffusion.forward import posterior_coefficients
from diffusion.parameterization import (PREDICTION_TYPES, convert, eps_from_score, eps_from_x0, score_from_eps,
                                        to_x0_eps, v_from_x0_eps, x0_eps_from_v, x0_from_eps)

S = make_schedule("cosine", 1000)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_q_sample_is_the_closed_form_with_the_callers_noise():
    x0, noise = torch.randn(5, 3, generator=_gen(0)), torch.randn(5, 3, generator=_gen(1))
    t = torch.tensor([0, 10, 500, 998, 999])
    ab = S.alphas_cumprod[t].float()[:, None]
    assert torch.allclose(q_sample(S, x0, t, noise), ab.sqrt() * x0 + (1 - ab).sqrt() * noise, atol=1e-6)
    x_int = q_sample(S, x0, 250, noise)         # an int t applies to the whole batch
    ab = S.alphas_cumprod[250].item()
    assert torch.allclose(x_int, ab**0.5 * x0 + (1 - ab) ** 0.5 * noise)
    assert x_int.dtype == torch.float32


def test_q_sample_monte_carlo_moments():
    # x_t | x0 ~ N(sqrt(ab) x0, 1 - ab): check mean and variance from 200k draws
    t, x0 = 300, torch.full((200_000, 1), 1.5)
    x_t = q_sample(S, x0, t, torch.randn(x0.shape, generator=_gen(2)))
    ab = S.alphas_cumprod[t].item()
    assert x_t.mean().item() == pytest.approx(ab**0.5 * 1.5, abs=0.01)
    assert x_t.var().item() == pytest.approx(1 - ab, rel=0.01)


@pytest.mark.parametrize("t", [1, 7, 500, 999])
def test_q_posterior_equals_bayes_rule_for_gaussians(t):
    # q(x_{t-1}|x0) = N(sqrt(ab_prev) x0, 1-ab_prev), q(x_t|x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t):
    # the posterior precision is the sum of precisions, the mean the precision-weighted means (DDPM eq. 6-7).
    s = make_schedule("linear", 1000)
    x0, x_t = torch.randn(4, 2, generator=_gen(3)).double(), torch.randn(4, 2, generator=_gen(4)).double()
    ab_prev, alpha, beta = s.alphas_cumprod[t - 1], s.alphas[t], s.betas[t]
    prec = 1 / (1 - ab_prev) + alpha / beta
    mean = (ab_prev.sqrt() * x0 / (1 - ab_prev) + alpha.sqrt() * x_t / beta) / prec
    m, v = q_posterior(s, x0, x_t, t)
    assert torch.allclose(m, mean, rtol=1e-10, atol=1e-12)
    assert torch.allclose(v, (1 / prec).expand_as(m), rtol=1e-10)
    beta_tilde = (1 - ab_prev) / (1 - s.alphas_cumprod[t]) * beta       # DDPM eq. 7
    assert torch.allclose(v, beta_tilde.expand_as(m), rtol=1e-12)


def test_q_posterior_monte_carlo():
    # draw x_{t-1} ~ q(.|x0), then x_t; among draws with x_t near a value, x_{t-1} has the posterior moments
    s, t, x0 = make_schedule("linear", 100), 40, torch.zeros(400_000, 1, dtype=torch.float64)
    x_prev = q_sample(s, x0, t - 1, torch.randn(x0.shape, generator=_gen(5), dtype=torch.float64))
    a = s.alphas[t].item()
    x_t = a**0.5 * x_prev + (1 - a) ** 0.5 * torch.randn(x0.shape, generator=_gen(6), dtype=torch.float64)
    near = (x_t - 0.5).abs() < 0.01
    m, v = q_posterior(s, torch.zeros(1, 1, dtype=torch.float64), torch.full((1, 1), 0.5, dtype=torch.float64), t)
    assert x_prev[near].mean().item() == pytest.approx(m.item(), abs=0.01)
    assert x_prev[near].var().item() == pytest.approx(v.item(), rel=0.05)


def test_q_posterior_at_t0_and_batched_t():
    x0, x_t = torch.randn(3, 2, generator=_gen(7)), torch.randn(3, 2, generator=_gen(8))
    m, v = q_posterior(S, x0, x_t, 0)
    assert torch.allclose(m, x0) and (v == 0).all()
    t = torch.tensor([0, 5, 900])
    m, v = q_posterior(S, x0, x_t, t)
    for i in range(3):
        mi, vi = q_posterior(S, x0[i:i + 1], x_t[i:i + 1], int(t[i]))
        assert torch.allclose(m[i], mi[0]) and torch.allclose(v[i], vi[0])
    c0, ct, var = posterior_coefficients(0.5, 0.8)
    assert (c0, ct) == pytest.approx((0.8**0.5 * 0.375 / 0.5, 0.625**0.5 * 0.2 / 0.5))
    assert var == pytest.approx(0.2 / 0.5 * 0.375)


@pytest.mark.parametrize("fn, args", [
    (q_sample, (torch.zeros(2, 2), 1000, torch.zeros(2, 2))),
    (q_sample, (torch.zeros(2, 2), -1, torch.zeros(2, 2))),
    (q_sample, (torch.zeros(2, 2), 0.5, torch.zeros(2, 2))),
    (q_sample, (torch.zeros(2, 2), torch.tensor([1, 2, 3]), torch.zeros(2, 2))),
    (q_sample, (torch.zeros(2, 2), 3, torch.zeros(2, 3))),
    (q_posterior, (torch.zeros(2, 2), torch.zeros(3, 2), 3)),
])
def test_forward_bad_input(fn, args):
    with pytest.raises(ValueError):
        fn(S, *args)


# ---------------------------------------------------------------- parameterisations

def _triple(seed=9):
    x0 = torch.randn(6, 2, generator=_gen(seed), dtype=torch.float64)
    eps = torch.randn(6, 2, generator=_gen(seed + 1), dtype=torch.float64)
    ab = torch.tensor([0.9999, 0.9, 0.5, 0.1, 1e-3, 0.3], dtype=torch.float64)
    x_t = ab.sqrt()[:, None] * x0 + (1 - ab).sqrt()[:, None] * eps
    return x0, eps, ab, x_t


def test_conversions_recover_the_truth():
    x0, eps, ab, x_t = _triple()
    v = v_from_x0_eps(x0, eps, ab)
    assert torch.allclose(v, ab.sqrt()[:, None] * eps - (1 - ab).sqrt()[:, None] * x0)   # Salimans & Ho
    truth = {"epsilon": eps, "sample": x0, "v_prediction": v}
    for src in PREDICTION_TYPES:
        x0_hat, eps_hat = to_x0_eps(truth[src], x_t, ab, src)
        assert torch.allclose(x0_hat, x0, atol=1e-9) and torch.allclose(eps_hat, eps, atol=1e-9)
        for dst in PREDICTION_TYPES:
            assert torch.allclose(convert(truth[src], x_t, ab, src, dst), truth[dst], atol=1e-9)
    assert torch.allclose(x0_from_eps(eps, x_t, ab), x0) and torch.allclose(eps_from_x0(x0, x_t, ab), eps)
    assert all(torch.allclose(a, b) for a, b in zip(x0_eps_from_v(v, x_t, ab), (x0, eps)))


def test_conversions_with_float_alpha_bar_and_images():
    x0 = torch.randn(2, 3, 4, 4, generator=_gen(11))
    eps = torch.randn(2, 3, 4, 4, generator=_gen(12))
    x_t = 0.6**0.5 * x0 + 0.4**0.5 * eps
    assert torch.allclose(convert(eps, x_t, 0.6, "epsilon", "sample"), x0, atol=1e-5)
    ab = torch.tensor([0.6, 0.6], dtype=torch.float64)     # [batch] broadcasts over C, H, W
    assert torch.allclose(convert(eps, x_t, ab, "epsilon", "v_prediction"),
                          convert(eps, x_t, 0.6, "epsilon", "v_prediction"), atol=1e-6)
    assert convert(eps, x_t, ab, "epsilon", "sample").dtype == torch.float32


def test_score_is_the_gradient_of_the_log_density():
    # x0 = 0 exactly: p_t(x) = N(0, 1 - ab), so grad log p_t(x) = -x / (1 - ab), and eps = x / sqrt(1 - ab)
    ab, x_t = 0.3, torch.randn(5, 2, generator=_gen(13), dtype=torch.float64)
    eps = eps_from_x0(torch.zeros_like(x_t), x_t, ab)
    assert torch.allclose(score_from_eps(eps, ab), -x_t / (1 - ab))
    assert torch.allclose(eps_from_score(score_from_eps(eps, ab), ab), eps)


def test_unknown_prediction_type():
    with pytest.raises(ValueError, match=r"unknown prediction_type 'noise'.*epsilon"):
        to_x0_eps(torch.zeros(1), torch.zeros(1), 0.5, "noise")
    with pytest.raises(ValueError, match=r"unknown prediction_type 'x0'"):
        convert(torch.zeros(1), torch.zeros(1), 0.5, "epsilon", "x0")


def test_flow_conversions_invert_each_other_on_the_straight_path():
    from diffusion.parameterization import velocity_from_x0, velocity_from_x0_eps, x0_eps_from_velocity
    g = torch.Generator().manual_seed(11)
    x0, eps = torch.randn(6, 2, generator=g, dtype=torch.float64), torch.randn(6, 2, generator=g, dtype=torch.float64)
    for t in (0.05, 0.5, 0.97):
        x_t = (1 - t) * x0 + t * eps                                # rectified flow, Liu et al. eq. 1
        v = velocity_from_x0_eps(x0, eps)
        back_x0, back_eps = x0_eps_from_velocity(v, x_t, t)
        torch.testing.assert_close(back_x0, x0, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(back_eps, eps, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(velocity_from_x0(x0, x_t, t), v, rtol=1e-12, atol=1e-12)


def test_tweedie_score_from_x0_equals_the_score_from_eps():
    from diffusion.parameterization import score_from_x0
    g = torch.Generator().manual_seed(12)
    x0, eps = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    ab = 0.3
    x_t = ab**0.5 * x0 + (1 - ab) ** 0.5 * eps
    torch.testing.assert_close(score_from_x0(x0, x_t, ab**0.5, (1 - ab) ** 0.5), score_from_eps(eps, ab),
                               rtol=1e-12, atol=1e-12)
