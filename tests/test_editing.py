"""Editing with an unconditional model (diffusion.editing) and the exact posteriors it is measured against
(diffusion.posterior): closed forms, invariants, bad input."""
import math

import pytest
import torch

from diffusion import make_schedule, seeded_noise
from diffusion.editing import (EDIT_METHODS, Downsample, Identity, Linear, Mask, denoise, edit, matched_timestep,
                               measure, noisy_start, repaint_calls, repaint_path, tweedie)
from diffusion.exact import GaussianMixture
from diffusion.posterior import mixture_posterior

SCHED = make_schedule("linear", 1000)
# a 2-D mixture with unequal weights and full (correlated) covariances, so every term of the update matters
MIX = GaussianMixture([0.5, 0.3, 0.2], [[-1.0, 0.5], [1.0, 1.0], [0.5, -1.2]],
                      [[[0.20, 0.08], [0.08, 0.10]], [[0.05, -0.02], [-0.02, 0.15]], [[0.10, 0.0], [0.0, 0.04]]])
MODEL = MIX.model(SCHED, "epsilon")


def gen(seed):
    return torch.Generator().manual_seed(seed)


def grid_posterior(A, y, sigma_y, cells=700, span=4.0):
    """Mean and covariance of p(x | y) by brute force on a grid: prior density times likelihood, normalised."""
    xs = torch.linspace(-span, span, cells, dtype=torch.float64)
    pts = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    log_prior = MIX.log_prob_noised(pts, 1.0, 0.0)
    resid = y - pts @ torch.as_tensor(A, dtype=torch.float64).T
    w = torch.softmax(log_prior - 0.5 * (resid**2).sum(1) / sigma_y**2, 0)
    mean = w @ pts
    cov = (w[:, None] * (pts - mean)).T @ (pts - mean)
    return mean, cov


# --- exact posteriors --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("A, y, sigma_y", [([[1.0, 0.5]], [0.8], 0.3), ([[1.0, 0.0], [0.0, 1.0]], [0.2, 0.4], 0.5),
                                           ([[0.0, 1.0]], [-0.9], 0.2)])
def test_posterior_matches_brute_force_bayes_on_a_grid(A, y, sigma_y):
    post = mixture_posterior(MIX, A, y, sigma_y)
    mean, cov = grid_posterior(A, torch.tensor(y, dtype=torch.float64), sigma_y)
    torch.testing.assert_close(post.mean(), mean, atol=2e-3, rtol=0)
    torch.testing.assert_close(post.covariance(), cov, atol=2e-3, rtol=0)
    assert math.isclose(float(post.weights.sum()), 1.0, abs_tol=1e-12)


def test_exact_coordinate_posterior_is_the_conditional_along_the_line():
    # sigma_y = 0: x_0 = c is known; p(x_1 | x_0 = c) is proportional to the prior density along the line
    c = 0.7
    post = mixture_posterior(MIX, [[1.0, 0.0]], [c], 0.0)
    ys = torch.linspace(-5, 5, 20001, dtype=torch.float64)
    line = torch.stack([torch.full_like(ys, c), ys], 1)
    dens = MIX.log_prob_noised(line, 1.0, 0.0).exp()
    dens = dens / torch.trapezoid(dens, ys)
    torch.testing.assert_close(post.log_prob(line).exp(), dens, atol=1e-8, rtol=1e-6)   # a density along the line
    mean = torch.trapezoid(dens * ys, ys)
    torch.testing.assert_close(post.mean(), torch.tensor([c, float(mean)], dtype=torch.float64), atol=1e-9, rtol=0)
    draws = post.sample(20000, gen(0), torch.float64)
    assert (draws[:, 0] - c).abs().max() < 1e-9                                        # every draw on the line
    assert abs(float(draws[:, 1].mean()) - float(mean)) < 4 * float(draws[:, 1].std()) / math.sqrt(20000)


def test_noisy_posterior_density_integrates_to_one_and_samples_match_its_moments():
    post = mixture_posterior(MIX, torch.eye(2), [0.3, 0.1], 0.6)
    xs = torch.linspace(-5, 5, 501, dtype=torch.float64)
    pts = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    total = float(post.log_prob(pts).exp().sum() * (xs[1] - xs[0]) ** 2)
    assert abs(total - 1) < 1e-3
    draws = post.sample(40000, gen(1), torch.float64)
    torch.testing.assert_close(draws.mean(0), post.mean(), atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(draws.T), post.covariance(), atol=0.02, rtol=0)


def test_posterior_refuses_bad_input():
    with pytest.raises(ValueError, match="prior must be a GaussianMixture"):
        mixture_posterior("gaussians8", [[1.0, 0.0]], [0.0])
    with pytest.raises(ValueError, match=r"A must be a finite \[m, 2\] matrix"):
        mixture_posterior(MIX, [[1.0, 0.0, 0.0]], [0.0])
    with pytest.raises(ValueError, match="full row rank"):
        mixture_posterior(MIX, [[1.0, 0.0], [2.0, 0.0]], [0.0, 0.0])
    with pytest.raises(ValueError, match="sigma_y must be a finite number >= 0"):
        mixture_posterior(MIX, [[1.0, 0.0]], [0.0], -1.0)


# --- operators ---------------------------------------------------------------------------------------------------

def test_operators_pinv_is_a_right_inverse_and_replace_keeps_the_unmeasured_part():
    x = torch.randn(3, 1, 8, 8, generator=gen(2), dtype=torch.float64)
    target = torch.randn(3, 1, 8, 8, generator=gen(3), dtype=torch.float64)
    known = torch.zeros(1, 8, 8, dtype=torch.bool)
    known[..., :4] = True
    for op in (Mask(known), Downsample((1, 8, 8), 2), Downsample((1, 8, 8), 4), Identity((1, 8, 8))):
        y = op(target)
        torch.testing.assert_close(op(op.pinv(y)), y)                     # A A^+ = I on the range of A
        out = op.replace(x, y)
        torch.testing.assert_close(op(out), y)                            # measured part from y ...
        rest = out - op.pinv(op(out))
        torch.testing.assert_close(rest, x - op.pinv(op(x)))              # ... the rest from x
    assert torch.equal(Mask(known).replace(x, target)[..., :4], target[..., :4])   # bit for bit
    line = Linear([[0.6, 0.8]])
    v = torch.randn(5, 2, generator=gen(4), dtype=torch.float64)
    torch.testing.assert_close(line(line.replace(v, torch.full((5, 1), 0.3, dtype=torch.float64))),
                               torch.full((5, 1), 0.3, dtype=torch.float64))
    torch.testing.assert_close(Downsample((1, 8, 8), 2).matrix().sum(1), torch.ones(16, dtype=torch.float64))


def test_operators_refuse_bad_input():
    with pytest.raises(ValueError, match="bool tensor"):
        Mask(torch.ones(2))
    with pytest.raises(ValueError, match="knows nothing"):
        Mask(torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"must divide the image size 20 x 20: choose one of \[2, 4, 5, 10, 20\]"):
        Downsample((1, 20, 20), 3)
    with pytest.raises(ValueError, match="rank m"):
        Linear([[0.0, 0.0]])
    with pytest.raises(ValueError, match="noise std must be a finite number >= 0"):
        measure(Identity((2,)), torch.zeros(1, 2), -0.1)
    with pytest.raises(ValueError, match=r"x0 must have shape \[batch, 2\]"):
        measure(Identity((2,)), torch.zeros(1, 3))


# --- the methods -------------------------------------------------------------------------------------------------

def test_repaint_path_walks_down_with_the_jumps_and_resample_one_is_a_straight_walk():
    assert repaint_path(6, 2, 1) == list(range(7))
    path = repaint_path(10, 3, 3)
    assert path[0] == 0 and path[-1] == 10
    steps = [b - a for a, b in zip(path[:-1], path[1:])]
    assert set(steps) == {1, -3}
    assert steps.count(-3) == 3 * 2                   # jump points 9, 6, 3, each resampled twice more
    assert repaint_calls(10, 3, 3) == 10 + 3 * 2 * 3
    assert repaint_calls(50, 10, 5) == 210


@pytest.mark.parametrize("method", ["replacement", "repaint"])
def test_known_entries_are_exact_after_the_last_step(method):
    known = torch.tensor([True, False])
    y = torch.tensor([[0.7, 0.0]], dtype=torch.float64)
    x_T, g = seeded_noise((64, 2), 0, torch.float64)
    opts = dict(jump_length=5, resample=3) if method == "repaint" else {}
    traj = edit(MODEL, SCHED, x_T, method, 20, g, operator=Mask(known), y=y, **opts)
    assert torch.equal(traj.x0[:, 0], torch.full((64,), 0.7, dtype=torch.float64))
    assert traj.nfe == (20 if method == "replacement" else repaint_calls(20, 5, 3))
    if method == "repaint":   # the trajectory shows the jumps back up the noise
        ts = traj.timesteps.tolist()
        assert any(b > a for a, b in zip(ts[:-1], ts[1:]))


def test_a_zero_noise_down_sampling_measurement_is_reproduced_by_ilvr():
    from tests.tiny_unet import make_checkpoint
    from diffusion import hub
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        model = hub.load_folder(make_checkpoint(f"{tmp}/tiny", channels=1, size=8, attention=False), measure=False)
    op = Downsample((1, 8, 8), 2)
    truth = torch.rand(2, 1, 8, 8, generator=gen(5)) * 2 - 1
    y = measure(op, truth)
    x_T, g = seeded_noise((2, 1, 8, 8), 1)
    traj = edit(model, model.schedule, x_T, "ilvr", 10, g, operator=op, y=y, prediction_type=model.prediction_type)
    torch.testing.assert_close(op(traj.x0), y, atol=2e-5, rtol=0)   # float32 rounding
    out = edit(model, model.schedule, x_T, "dps", 4, seeded_noise((2, 1, 8, 8), 1)[1], operator=op, y=y,
               prediction_type=model.prediction_type, step_size=0.5)
    assert torch.isfinite(out.x0).all() and not out.x0.requires_grad
    steps = []
    edit(model, model.schedule, x_T, "dps", 3, gen(0), operator=op, y=y, prediction_type=model.prediction_type,
         callback=steps.append)
    assert [s.extra["residual"].shape for s in steps] == [(2,)] * 3


def test_same_seed_same_edit_and_every_method_runs():
    op, y = Mask(torch.tensor([True, False])), torch.tensor([[0.5, 0.0]], dtype=torch.float64)
    for method in EDIT_METHODS:
        a = edit(MODEL, SCHED, seeded_noise((16, 2), 3, torch.float64)[0], method, 8, gen(4), operator=op, y=y)
        b = edit(MODEL, SCHED, seeded_noise((16, 2), 3, torch.float64)[0], method, 8, gen(4), operator=op, y=y)
        assert torch.equal(a.x0, b.x0) and torch.isfinite(a.x0).all()
        assert a.xs.shape[1:] == (16, 2) and len(a.xs) == len(a.timesteps) + 1


def test_dps_moves_toward_the_measurement_and_step_size_zero_is_unconditional_sampling():
    from diffusion import sample
    op, c = Mask(torch.tensor([True, False])), 0.9
    y = torch.tensor([[c, 0.0]], dtype=torch.float64)
    x_T, _ = seeded_noise((400, 2), 5, torch.float64)
    plain = sample(MODEL, SCHED, x_T, "ddpm", 30, gen(6), timestep_spacing="trailing")
    free = edit(MODEL, SCHED, x_T, "dps", 30, gen(6), operator=op, y=y, step_size=0.0)
    torch.testing.assert_close(free.x0, plain.x0, atol=1e-8, rtol=0)      # no guidance: DDPM's sampler
    guided = edit(MODEL, SCHED, x_T, "dps", 30, gen(6), operator=op, y=y, step_size=0.3)
    assert float((guided.x0[:, 0] - c).abs().mean()) < 0.5 * float((plain.x0[:, 0] - c).abs().mean())


def test_edit_refuses_bad_input():
    op, y = Mask(torch.tensor([True, False])), torch.tensor([[0.5, 0.0]])
    x_T = torch.zeros(4, 2)
    with pytest.raises(ValueError, match=r"unknown editing method 'paint'; choose one of \['replacement'"):
        edit(MODEL, SCHED, x_T, "paint", 5, operator=op, y=y)
    with pytest.raises(ValueError, match=r"measurement y must have shape \[batch or 1, 2\]"):
        edit(MODEL, SCHED, x_T, "dps", 5, operator=op, y=torch.zeros(3))
    with pytest.raises(ValueError, match=r"option\(s\) \['jump_length'\] do not apply to 'dps'"):
        edit(MODEL, SCHED, x_T, "dps", 5, operator=op, y=y, jump_length=3)
    with pytest.raises(ValueError, match=r"resample must be a whole number in \[1, 20\]"):
        edit(MODEL, SCHED, x_T, "repaint", 5, operator=op, y=y, resample=0)
    with pytest.raises(ValueError, match=r"eta must be a number in \[0, 1\]"):
        edit(MODEL, SCHED, x_T, "replacement", 5, operator=op, y=y, eta=2.0)
    with pytest.raises(ValueError, match="operator must be a diffusion.editing Operator"):
        edit(MODEL, SCHED, x_T, "dps", 5, operator="left half", y=y)
    with pytest.raises(ValueError, match=r"num_steps must be an int in \[1, 1000\]"):
        edit(MODEL, SCHED, x_T, "dps", 0, operator=op, y=y)
    with pytest.raises(ValueError, match="NaN or inf"):
        edit(MODEL, SCHED, x_T, "dps", 5, operator=op, y=torch.tensor([[math.nan, 0.0]]))


# --- a noisy copy ------------------------------------------------------------------------------------------------

def test_matched_timestep_is_the_first_with_enough_noise():
    t = matched_timestep(SCHED, 0.5)
    assert float(SCHED.sigmas[t]) >= 0.5 > float(SCHED.sigmas[t - 1])
    with pytest.raises(ValueError, match=r"noise std must be a number in \(0, "):
        matched_timestep(SCHED, 0.0)
    with pytest.raises(ValueError, match="largest sigma"):
        matched_timestep(SCHED, 1e6)


def test_tweedie_at_an_exact_grid_noise_level_is_the_exact_posterior_mean():
    # with s = sigma_t of a grid timestep no noise is missing: x_t* = sqrt(ab) y, and E[x_0 | x_t*] = E[x_0 | y]
    t = 300
    s = float(SCHED.sigmas[t])
    assert matched_timestep(SCHED, s) == t
    y = torch.tensor([[0.4, 0.2], [-1.5, 0.3]], dtype=torch.float64)
    got = tweedie(MODEL, SCHED, y, s)
    for i in range(2):
        want = mixture_posterior(MIX, torch.eye(2), y[i], s).mean()
        torch.testing.assert_close(got[i], want, atol=1e-6, rtol=0)


def test_denoise_with_ddpm_samples_the_exact_posterior_of_a_noisy_copy():
    s = 0.5
    y = torch.tensor([[0.3, 0.6]], dtype=torch.float64).expand(4000, 2)
    traj = denoise(MODEL, SCHED, y, s, "ddpm", generator=gen(7), record=False)
    post = mixture_posterior(MIX, torch.eye(2), y[0], s)
    torch.testing.assert_close(traj.x0.mean(0), post.mean(), atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(traj.x0.T), post.covariance(), atol=0.03, rtol=0)
    t, x_t = noisy_start(SCHED, y[:1], s, gen(0))
    assert traj.nfe == t + 1 and x_t.shape == (1, 2)
    with pytest.raises(ValueError, match=r"denoising starts exactly at x_t\* with the samplers"):
        denoise(MODEL, SCHED, y, s, "heun")
