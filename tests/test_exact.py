"""Exact denoisers (diffusion/exact.py): closed forms, Tweedie's formula, limits, and sampling with every sampler."""
import math

import pytest
import torch

from diffusion import SAMPLERS, make_schedule, sample
from diffusion.exact import GaussianMixture, MemorisingDenoiser
from diffusion.parameterization import convert
from diffusion.samplers.flow import flow_sample

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/conftest.py


def _mixture_2d():
    return GaussianMixture([0.25, 0.75], [[-1.0, 0.5], [1.0, -0.5]],
                           [[[0.30, 0.10], [0.10, 0.20]], [[0.10, -0.05], [-0.05, 0.40]]])


@pytest.mark.parametrize("alpha_bar", [0.999, 0.7, 0.3, 0.01])
def test_single_gaussian_matches_the_analytic_posterior(alpha_bar):
    # x_0 ~ N(mu, S): x_t ~ N(a mu, a^2 S + s^2 I), E[x_0|x_t] = mu + a S C^-1 (x_t - a mu), score = -C^-1 (x_t - a mu)
    mu = torch.tensor([0.5, -1.0], dtype=torch.float64)
    S = torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=torch.float64)
    g = GaussianMixture([1.0], mu[None], S[None])
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    a, s = math.sqrt(alpha_bar), math.sqrt(1 - alpha_bar)
    C = a * a * S + s * s * torch.eye(2, dtype=torch.float64)
    diff = x - a * mu
    sol = torch.linalg.solve(C, diff.T).T
    torch.testing.assert_close(g.x0_pred(x, alpha_bar), mu + a * sol @ S.T, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(g.score(x, alpha_bar), -sol, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(g.eps(x, alpha_bar), s * sol, rtol=1e-10, atol=1e-10)
    expected_logp = -0.5 * ((diff * sol).sum(1) + torch.logdet(C) + 2 * math.log(2 * math.pi))
    torch.testing.assert_close(g.log_prob(x, alpha_bar), expected_logp, rtol=1e-10, atol=1e-10)


def test_1d_gaussian_closed_form():
    # 1-D: x_0 ~ N(m, v). Posterior mean m + a v (x - a m) / (a^2 v + 1 - a^2).
    g = GaussianMixture.isotropic([1.0], [0.5], [0.3])
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)[:, None]
    ab = 0.4
    a, C = math.sqrt(ab), ab * 0.09 + 1 - ab
    torch.testing.assert_close(g.x0_pred(x, ab), 0.5 + a * 0.09 / C * (x - a * 0.5))


@pytest.mark.parametrize("denoiser", [_mixture_2d(), MemorisingDenoiser(torch.randn(40, 2, generator=torch.Generator()
                                                                                      .manual_seed(1)))])
def test_score_is_the_gradient_of_log_p_t(denoiser):
    """Tweedie: (a E[x0|x_t] - x_t) / s^2 equals grad log p_t, checked against autograd of the exact log-density."""
    x = torch.randn(12, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64).requires_grad_()
    for ab in (0.9, 0.5, 0.05):
        (grad,) = torch.autograd.grad(denoiser.log_prob(x, ab).sum(), x)
        torch.testing.assert_close(denoiser.score(x.detach(), ab), grad, rtol=1e-8, atol=1e-9)


def test_limits_of_the_mixture_posterior_mean():
    gm = _mixture_2d()
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    # no noise: E[x_0 | x_0] = x_0
    torch.testing.assert_close(gm.x0_pred(x, 1.0), x)
    # all noise: x_t says nothing, E[x_0 | x_t] = the mixture's mean
    torch.testing.assert_close(gm.x0_pred(x, 1e-12), gm.mean().expand(10, 2), rtol=0, atol=1e-5)


def test_density_is_normalised_and_clean_density_matches_the_mixture():
    gm = GaussianMixture.isotropic([0.2, 0.5, 0.3], [-2.0, 0.0, 2.5], [0.3, 0.5, 0.25])
    s = make_schedule("linear", 1000)
    grid = torch.linspace(-8, 8, 4001, dtype=torch.float64)
    dens = gm.density_map(s, grid, [0, 100, 500.5, 999])
    assert dens.shape == (4, 4001)
    mass = torch.trapezoid(dens, grid, dim=1)
    torch.testing.assert_close(mass, torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-6)
    clean = sum(w * torch.exp(-(grid - m) ** 2 / (2 * v)) / math.sqrt(2 * math.pi * v)
                for w, m, v in [(0.2, -2.0, 0.09), (0.5, 0.0, 0.25), (0.3, 2.5, 0.0625)])
    torch.testing.assert_close(gm.log_prob(grid[:, None], 1.0).exp(), clean)
    with pytest.raises(ValueError, match="1-D"):
        _mixture_2d().density_map(s, grid, [0])


def test_memorising_denoiser_returns_the_nearest_point_at_tiny_noise_and_the_mean_at_huge_noise():
    pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    m = MemorisingDenoiser(pts)
    x = torch.tensor([[0.1, -0.1], [0.8, 0.3], [-0.2, 1.5]], dtype=torch.float64)
    torch.testing.assert_close(m.x0_pred(x, 1 - 1e-6), pts)
    torch.testing.assert_close(m.x0_pred(x, 1e-9), pts.mean(0).expand(3, 2), rtol=0, atol=1e-3)
    # sampling with it reproduces training points (memorisation)
    s = make_schedule("linear", 1000)
    x_T = torch.randn(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = sample(m.model(s), s, x_T, sampler="ddim", num_steps=100).x0
    assert torch.cdist(out, pts).min(1).values.max() < 1e-2


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
def test_model_outputs_are_consistent_across_prediction_types(prediction_type):
    gm, s = _mixture_2d(), make_schedule("linear", 1000)
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    t = torch.full((8,), 321.0, dtype=torch.float64)
    ab = s.alphas_cumprod[321]
    out = gm.model(s, prediction_type)(x, t)
    torch.testing.assert_close(convert(out, x, ab, prediction_type, "epsilon"), gm.eps(x, ab))
    with pytest.raises(ValueError, match="prediction_type"):
        gm.model(s, "noise")


@pytest.mark.parametrize("bad, match", [
    (dict(weights=[1.0], means=[[0.0, 0.0, 0.0]], covariances=[1.0]), "means must be"),
    (dict(weights=[-1.0, 2.0], means=[0.0, 1.0], covariances=[1.0, 1.0]), "non-negative"),
    (dict(weights=[1.0], means=[0.0], covariances=[[[-1.0]]]), "positive definite"),
    (dict(weights=[1.0], means=[float("nan")], covariances=[1.0]), "finite"),
    (dict(weights=[1.0, 1.0], means=[0.0, 1.0], covariances=[1.0, 1.0, 1.0]), "covariances must be"),
])
def test_gaussian_mixture_rejects_bad_parameters(bad, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(**bad)


def test_memorising_denoiser_rejects_bad_points():
    with pytest.raises(ValueError, match="shape"):
        MemorisingDenoiser(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="finite"):
        MemorisingDenoiser(torch.tensor([[0.0], [float("inf")]]))
    with pytest.raises(ValueError, match="shape"):
        _mixture_2d().x0_pred(torch.zeros(4, 1), 0.5)


# --- every sampler, driven by the exact denoiser, reproduces the mixture ----------------------------------------
# Verified on a 1-D mixture 0.3 N(-1.5, 0.2^2) + 0.7 N(1.0, 0.4^2) under "linear" T=1000, 4000 samples (seed 0),
# component = the one with the larger posterior responsibility of the final sample:
#   steps: ddpm 1000 (full chain), pc 1000 (full chain, 1 corrector step), ddim 100, euler 100, heun 50,
#          dpmpp_2m 50, euler_ancestral 500 (at 200 steps ddpm and euler_ancestral both shrink the narrow
#          component's std by ~10 %: ancestral sampling under-disperses with few steps);
#   tolerances: each weight within 0.03 of the truth (binomial sd at n=4000 is ~0.007),
#               each component's std within 8 % of the truth, each component's mean within 0.05.
STEPS = {"ddpm": 1000, "ddim": 100, "euler": 100, "heun": 50, "dpmpp_2m": 50, "euler_ancestral": 500, "pc": 1000}
MIX_1D = dict(weights=[0.3, 0.7], means=[-1.5, 1.0], stds=[0.2, 0.4])


def _component_stats(gm, x):
    label = gm.responsibilities(x.to(torch.float64)).argmax(1)
    x = x[:, 0].to(torch.float64)
    return [((label == k).double().mean().item(), x[label == k].mean().item(), x[label == k].std().item())
            for k in range(gm.num_components)]


def test_every_sampler_is_listed():
    assert set(STEPS) == set(SAMPLERS), "add the new sampler to STEPS (and verify its tolerance)"


@pytest.mark.parametrize("sampler", list(STEPS))
def test_every_sampler_reproduces_the_mixtures_weights_and_spreads(sampler):
    gm = GaussianMixture.isotropic(MIX_1D["weights"], MIX_1D["means"], MIX_1D["stds"])
    s = make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(0)
    x_T = torch.randn(4000, 1, generator=g, dtype=torch.float64)
    out = sample(gm.model(s, "epsilon"), s, x_T, sampler=sampler, num_steps=STEPS[sampler], generator=g,
                 record=False).x0
    for (w, m, sd), w0, m0, sd0 in zip(_component_stats(gm, out), *MIX_1D.values()):
        assert abs(w - w0) < 0.03, (sampler, w, w0)
        assert abs(m - m0) < 0.05, (sampler, m, m0)
        assert abs(sd / sd0 - 1) < 0.08, (sampler, sd, sd0)


@pytest.mark.parametrize("sampler, steps", [("ddim", 100), ("heun", 200)])
def test_samplers_reproduce_the_eight_gaussians_in_2d(sampler, steps):
    """8 Gaussians (std 0.14 on a circle of radius 1.4), "cosine" T=1000, v-prediction, 4000 samples: every weight
    within 0.03 of 1/8, the pooled spread around the assigned means within 6 % of the truth. (Verified: heun needs
    ~200 steps here -- at 50 its linspace steps widen the components by ~20 % on this schedule; dpmpp_2m's final
    jump from t ~ T/(N+1) straight to x0_pred shrinks narrow components by ~15 % at 50 steps on "linear".)"""
    angles = torch.arange(8, dtype=torch.float64) * math.pi / 4
    gm = GaussianMixture.isotropic(torch.ones(8), 1.4 * torch.stack([angles.cos(), angles.sin()], 1),
                                   torch.full((8,), 0.14))
    s = make_schedule("cosine", 1000)
    x_T = torch.randn(4000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = sample(gm.model(s, "v_prediction"), s, x_T, sampler=sampler, num_steps=steps,
                 prediction_type="v_prediction", record=False).x0
    label = gm.responsibilities(out).argmax(1)
    weights = torch.bincount(label, minlength=8).double() / len(out)
    assert (weights - 1 / 8).abs().max() < 0.03
    spread = ((out - gm.means[label]).pow(2).sum(1).mean() / (2 * 0.14**2)).sqrt().item()
    assert abs(spread - 1) < 0.06, spread


@pytest.mark.parametrize("sampler, steps", [("euler", 100), ("heun", 30)])
def test_exact_flow_velocity_transports_noise_to_the_mixture(sampler, steps):
    gm = GaussianMixture.isotropic(MIX_1D["weights"], MIX_1D["means"], MIX_1D["stds"])
    x1 = torch.randn(4000, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    traj = flow_sample(gm.flow_model(), x1, sampler=sampler, num_steps=steps)
    for (w, m, sd), w0, m0, sd0 in zip(_component_stats(gm, traj.x0), *MIX_1D.values()):
        assert abs(w - w0) < 0.03 and abs(m - m0) < 0.05 and abs(sd / sd0 - 1) < 0.08, (w, m, sd)
