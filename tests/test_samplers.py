"""Contract over every sampler (shape, dtype, determinism, nfe, recording, callback, stop), exact-data accuracy,
identities between samplers, and bad input."""
import numpy as np
import pytest
import torch

from diffusion import SAMPLERS, StopSampling, make_schedule, sample
from diffusion.samplers import SAMPLER_OPTIONS


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tiny tensors: one thread is faster

T = 200
SCHED = make_schedule("linear", T, beta_end=0.1)   # a toy-sized schedule: T = 200, alpha_bar_T ~ 4e-5
STOCHASTIC = {"ddpm", "euler_ancestral", "pc"}
MU, STD = torch.tensor([0.5, -1.0]), torch.tensor([0.3, 0.8])


def gen(seed):
    return torch.Generator().manual_seed(seed)


def expected_nfe(sampler, n):
    return {"heun": 2 * n - 1, "pc": 2 * n}.get(sampler, n)


def gaussian_model(schedule, prediction_type="epsilon", mu=MU, std=STD):
    """Exact denoiser of data ~ N(mu, diag(std^2)); fractional t read through sigma interpolation."""
    sigmas = schedule.sigmas.numpy()

    def model(x, t):
        sigma = torch.tensor(np.interp(t.double().numpy(), np.arange(len(sigmas)), sigmas))
        a = (1 / (1 + sigma**2)).reshape(-1, *[1] * (x.ndim - 1))
        resid = (x.double() - a.sqrt() * mu) / (a * std**2 + 1 - a)
        x0, eps = mu + a.sqrt() * std**2 * resid, (1 - a).sqrt() * resid
        out = {"epsilon": eps, "sample": x0, "v_prediction": a.sqrt() * eps - (1 - a).sqrt() * x0}
        return out[prediction_type].to(x.dtype)
    return model


MODEL = gaussian_model(SCHED)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_contract(sampler, dtype):
    x_T = torch.randn(32, 2, generator=gen(0), dtype=dtype)
    seen = []

    def model(x, t):
        assert t.shape == (32,) and t.dtype == dtype and 0 <= t.min() and t.max() <= T - 1
        seen.append(float(t[0]))
        return MODEL(x, t)

    calls = []
    traj = sample(model, SCHED, x_T, sampler, 8, gen(1), callback=calls.append)
    assert traj.x0.shape == x_T.shape and traj.x0.dtype == dtype and torch.isfinite(traj.x0).all()
    assert traj.nfe == expected_nfe(sampler, 8) == len(seen) and not traj.stopped
    assert traj.xs.shape == (9, 32, 2) and torch.equal(traj.xs[0], x_T) and torch.equal(traj.xs[-1], traj.x0)
    assert traj.x0_preds.shape == (traj.nfe, 32, 2)
    assert traj.timesteps.dtype == torch.float64 and traj.timesteps.shape == (8,)
    assert (traj.timesteps[1:] < traj.timesteps[:-1]).all() and traj.timesteps.min() >= 0
    # one Step record per step: where it starts (t, level, the x_t the model saw, its x0 and eps), where it ends
    assert [c.step for c in calls] == list(range(8)) and all(c.total == 8 for c in calls)
    assert [c.t for c in calls] == traj.timesteps.tolist() and [c.nfe for c in calls][-1] == traj.nfe
    firsts = [0] + [c.nfe for c in calls[:-1]]                   # index of each step's first model call
    for c, k in zip(calls, firsts):
        assert torch.equal(c.x, traj.xs[c.step + 1])
        assert torch.equal(c.x0_pred, traj.x0_preds[k])
        ab = float(SCHED.alpha_bar_at(c.t))
        assert c.a == pytest.approx(ab**0.5, rel=1e-9) and c.alpha_bar == pytest.approx(ab, rel=1e-9)
        # the record is self-consistent: x_t = a x0 + s eps (DDPM eq. 4), to float precision
        torch.testing.assert_close(c.a * c.x0_pred + c.s * c.eps_pred, c.x_t, rtol=1e-4, atol=1e-4)
        if c.step > 0:
            torch.testing.assert_close(c.x_t, traj.xs[c.step], rtol=1e-5, atol=1e-5)
    again = sample(MODEL, SCHED, x_T, sampler, 8, gen(1))        # same seed -> same result
    assert torch.equal(again.x0, traj.x0)
    other = sample(MODEL, SCHED, x_T, sampler, 8, gen(2))
    assert torch.equal(other.x0, traj.x0) == (sampler not in STOCHASTIC)
    lean = sample(MODEL, SCHED, x_T, sampler, 8, gen(1), record=False)
    assert lean.xs is None and lean.x0_preds is None and torch.equal(lean.x0, traj.x0) and lean.nfe == traj.nfe


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_stop_sampling_from_the_callback(sampler):
    x_T = torch.randn(16, 2, generator=gen(3))

    def stop_after_three(step):
        if step.step == 2:
            raise StopSampling

    traj = sample(MODEL, SCHED, x_T, sampler, 10, gen(4), callback=stop_after_three)
    assert traj.stopped and traj.timesteps.shape == (3,) and traj.xs.shape[0] == 4
    assert traj.nfe == expected_nfe(sampler, 3) + (1 if sampler == "heun" else 0)  # heun's step 3 made 2 calls
    assert torch.equal(traj.x0, traj.x0_preds[-1])
    lean = sample(MODEL, SCHED, x_T, sampler, 10, gen(4), callback=stop_after_three, record=False)
    assert lean.stopped and torch.equal(lean.x0, traj.x0)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
@pytest.mark.parametrize("shape", [(64, 1), (3, 3, 5, 5)])
def test_any_data_shape_and_extreme_step_counts(sampler, shape):
    x_T = torch.randn(shape, generator=gen(5))
    mu, std = torch.tensor(0.2), torch.tensor(0.5)
    model = gaussian_model(SCHED, mu=mu, std=std)
    for n in (1, 2, T if sampler != "dpmpp_2m" else T - 1):
        traj = sample(model, SCHED, x_T, sampler, n, gen(6), record=False)
        assert traj.x0.shape == shape and torch.isfinite(traj.x0).all() and traj.nfe == expected_nfe(sampler, n)


def flow_map(x_T, alpha_bar):
    """Where the probability-flow ODE takes x_T (at level alpha_bar) for Gaussian data: an affine map."""
    return MU + STD * (x_T - alpha_bar**0.5 * MU) / (alpha_bar * STD**2 + 1 - alpha_bar) ** 0.5


# deterministic samplers: (steps, max rms error vs the exact flow map), and their order of convergence
ODE = {"ddim": (100, 0.02, 1), "euler": (100, 0.02, 1), "heun": (50, 0.004, 2), "dpmpp_2m": (50, 0.006, 2)}


@pytest.mark.parametrize("sampler", list(ODE))
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_ode_samplers_follow_the_exact_flow_and_converge_at_their_order(sampler, prediction_type):
    steps, tol, order = ODE[sampler]
    x_T = torch.randn(2000, 2, generator=gen(7))
    exact = flow_map(x_T, SCHED.alphas_cumprod[-1].item())     # trailing spacing starts at t = T - 1
    model = gaussian_model(SCHED, prediction_type)

    def rms(n):
        x0 = sample(model, SCHED, x_T, sampler, n, prediction_type=prediction_type, timestep_spacing="trailing",
                    record=False).x0
        return (x0 - exact).pow(2).mean().sqrt().item()
    coarse, fine = rms(steps * 2 // 5), rms(steps)
    assert fine < tol
    measured_order = np.log(coarse / fine) / np.log(5 / 2)
    assert order - 0.35 < measured_order < order + 0.6, measured_order


def chain_moments(sampler, schedule, num_steps, variance_type="fixed_small"):
    """Exact mean and variance (per coordinate) of the sample an ancestral chain returns for Gaussian data.

    With the exact denoiser every step is linear-Gaussian, x' = g x + h + sqrt(v) z, so the moments follow a
    two-line recursion. Note fixed_small (beta~) under-disperses and fixed_large (beta) over-disperses unless the
    chain is fine (Ho et al. 2020, §3.2) -- the recursion knows, so the test checks the variance the code uses.
    """
    from diffusion.forward import posterior_coefficients
    from diffusion.samplers.timesteps import discrete_timesteps, sigma_timesteps
    T_, mean, var = schedule.num_timesteps, torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    mu, s2 = MU.double(), STD.double() ** 2
    if sampler == "ddpm":
        ts = discrete_timesteps(T_, num_steps, "leading")
        for i, t in enumerate(ts):
            ab = schedule.alphas_cumprod[t].item()
            ab_prev = schedule.alphas_cumprod[ts[i + 1]].item() if i + 1 < len(ts) else 1.0
            k = ab**0.5 * s2 / (ab * s2 + 1 - ab)                  # E[x0|x_t] = mu + k (x_t - sqrt(ab) mu)
            c0, c1, beta_tilde = posterior_coefficients(ab, ab_prev)
            v = beta_tilde if variance_type == "fixed_small" else 1 - ab / ab_prev
            mean = c0 * (mu + k * (mean - ab**0.5 * mu)) + c1 * mean
            var = (c0 * k + c1) ** 2 * var + (v if t > 0 else 0.0)
        return mean, var
    # euler_ancestral in sigma space: E[x0|x] = mu + s2/(s2+sigma^2) (x - mu); x' = x0 + (sd/s)(x - x0) + su z
    ts = sigma_timesteps(T_, num_steps, "linspace")
    table = schedule.sigmas.numpy()
    sig = [float(np.interp(t, np.arange(T_), table)) for t in ts] + [0.0]
    mean, var = torch.zeros(2, dtype=torch.float64), torch.full((2,), sig[0] ** 2, dtype=torch.float64)
    for s, sn in zip(sig[:-1], sig[1:]):
        shrink, sd, su2 = s2 / (s2 + s**2), sn**2 / s, sn**2 * (1 - sn**2 / s**2)
        g = shrink + sd / s * (1 - shrink)
        mean, var = mu + g * (mean - mu), g**2 * var + su2
    return mean, var


@pytest.mark.parametrize("sampler, steps, variance_type", [
    ("ddpm", T, "fixed_small"), ("ddpm", T, "fixed_large"), ("ddpm", 40, "fixed_small"), ("ddpm", 40, "fixed_large"),
    ("euler_ancestral", T, None), ("euler_ancestral", 40, None)])
def test_ancestral_samplers_have_the_exact_chain_moments(sampler, steps, variance_type):
    n = 20000
    x_T = torch.randn(n, 2, generator=gen(7), dtype=torch.float64)
    opts = {"variance_type": variance_type} if variance_type else {}
    x0 = sample(MODEL, SCHED, x_T, sampler, steps, gen(8), record=False, **opts).x0
    mean, var = chain_moments(sampler, SCHED, steps, variance_type)
    se_mean, se_var = (var / n).sqrt(), var * (2 / n) ** 0.5
    assert ((x0.mean(0) - mean).abs() < 4 * se_mean).all(), (x0.mean(0), mean)
    assert ((x0.var(0) - var).abs() < 4 * se_var).all(), (x0.var(0), var)
    if variance_type == "fixed_large" and steps == 40:    # the moments genuinely differ between the two variances
        _, var_small = chain_moments(sampler, SCHED, steps, "fixed_small")
        assert ((var - var_small) > 8 * se_var).all()


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_predictor_corrector_reproduces_the_data(prediction_type):
    # no closed form here (the Langevin step size depends on the batch); 8000 points, 4 standard errors
    n = 8000
    x_T = torch.randn(n, 2, generator=gen(7))
    x0 = sample(gaussian_model(SCHED, prediction_type), SCHED, x_T, "pc", T, gen(8), prediction_type=prediction_type,
                record=False).x0
    assert ((x0.mean(0) - MU).abs() < 4 * STD / n**0.5).all(), x0.mean(0)
    assert ((x0.std(0) - STD).abs() < 4 * STD / (2 * n) ** 0.5).all(), x0.std(0)


def test_identities_between_samplers():
    x_T = torch.randn(256, 2, generator=gen(9))
    ddim = sample(MODEL, SCHED, x_T, "ddim", 20).x0
    # Euler on the probability-flow ODE in sigma, with the same (leading) timesteps, is DDIM (Karras et al. §4)
    euler = sample(MODEL, SCHED, x_T, "euler", 20, timestep_spacing="leading").x0
    assert (euler - ddim).abs().max() < 1e-4
    # DDIM with eta = 1 is DDPM's ancestral step (Song et al. 2021, DDIM §4.1), noise drawn in the same order
    ddim1 = sample(MODEL, SCHED, x_T, "ddim", 20, gen(10), eta=1.0).x0
    ddpm = sample(MODEL, SCHED, x_T, "ddpm", 20, gen(10)).x0
    assert (ddim1 - ddpm).abs().max() < 1e-4
    # Euler ancestral visiting DDPM's timesteps is DDPM's ancestral step, written in sigma space
    ea = sample(MODEL, SCHED, x_T, "euler_ancestral", T, gen(10)).x0
    assert (ea - sample(MODEL, SCHED, x_T, "ddpm", T, gen(10)).x0).abs().max() < 1e-4
    # pc without corrector steps is ancestral sampling
    pc0 = sample(MODEL, SCHED, x_T, "pc", 20, gen(10), corrector_steps=0)
    assert (pc0.x0 - ddpm).abs().max() < 1e-5 and pc0.nfe == 20
    # fixed_large adds more noise than fixed_small (beta_t >= beta_tilde_t)
    large = sample(MODEL, SCHED, x_T, "ddpm", 20, gen(10), variance_type="fixed_large").x0
    assert not torch.equal(large, ddpm)


def test_clip_sample_bounds_every_x0_pred():
    x_T = torch.randn(256, 2, generator=gen(11))
    for sampler in SAMPLERS:
        traj = sample(MODEL, SCHED, x_T, sampler, 6, gen(12), clip_sample=True, clip_sample_range=0.7)
        assert traj.x0_preds.abs().max() <= 0.7 + 1e-6, sampler


def test_zero_terminal_snr_schedule_runs_with_v_prediction():
    s = make_schedule("linear", T, beta_end=0.1, rescale_zero_terminal_snr=True)
    x_T = torch.randn(2000, 2, generator=gen(13))
    exact = flow_map(x_T, 0.0)                       # SNR 0 at t = T-1: x_T holds no signal at all
    for sampler in ("ddim", "euler", "heun", "dpmpp_2m"):
        traj = sample(gaussian_model(s, "v_prediction"), s, x_T, sampler, 50, prediction_type="v_prediction",
                      timestep_spacing="trailing", record=False)
        assert (traj.x0 - exact).pow(2).mean().sqrt() < 0.03, sampler


def test_options_registry():
    assert set(SAMPLER_OPTIONS) == set(SAMPLERS)
    assert SAMPLER_OPTIONS["euler"]["timestep_spacing"] == "linspace"       # diffusers' defaults
    assert SAMPLER_OPTIONS["ddim"]["timestep_spacing"] == "leading"
    # an option at its default may be passed to any sampler (the app can pass one dict to all)
    sample(MODEL, SCHED, torch.randn(4, 2, generator=gen(0)), "euler", 3, eta=0.0, variance_type="fixed_small")


# ---------------------------------------------------------------- bad input

X = torch.randn(8, 2, generator=gen(0))


@pytest.mark.parametrize("kwargs, match", [
    (dict(sampler="dpm"), r"unknown sampler 'dpm'; choose one of .*ddim"),
    (dict(timestep_spacing="uniform"), r"unknown timestep_spacing 'uniform'.*leading.*trailing.*linspace"),
    (dict(sampler="ddpm", variance_type="learned"), r"unknown variance_type 'learned'.*fixed_small"),
    (dict(prediction_type="noise"), r"unknown prediction_type 'noise'.*v_prediction"),
    (dict(etta=0.5), r"unknown option.*etta"),
    (dict(sampler="euler", eta=0.5), r"eta=0.5 is not used by sampler 'euler'.*ddim"),
    (dict(eta=-1.0), r"eta"),
    (dict(sampler="pc", snr=0.0), r"snr"),
    (dict(clip_sample=True, clip_sample_range=0.0), r"clip_sample_range"),
    (dict(sampler="pc", corrector_steps=-1), r"corrector_steps"),
    (dict(num_steps=0), rf"num_steps must be an int in \[1, {T}\].*0"),
    (dict(num_steps=T + 1), rf"\[1, {T}\].*{T + 1}"),
    (dict(num_steps=2.5), r"num_steps.*2.5"),
    (dict(num_steps=True), r"num_steps"),
    (dict(sampler="dpmpp_2m", num_steps=T), r"repeats timesteps"),
])
def test_bad_options(kwargs, match):
    args = {"sampler": "ddim", "num_steps": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        sample(MODEL, SCHED, X, **args)


@pytest.mark.parametrize("x_T, match", [
    (torch.tensor([[float("nan"), 0.0]]), "NaN or inf"),
    (torch.tensor([[float("inf"), 0.0]]), "NaN or inf"),
    (torch.zeros(4, 2, dtype=torch.long), "floating-point"),
    (torch.tensor(1.0), r"\[batch, \.\.\.\]"),
    (np.zeros((4, 2)), "x_T must be"),
])
def test_bad_x_T(x_T, match):
    with pytest.raises(ValueError, match=match):
        sample(MODEL, SCHED, x_T, "ddim", 5)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
@pytest.mark.parametrize("model, match", [
    (lambda x, t: x[:, :1], r"model returned \(8, 1\).*expected a tensor of shape \(8, 2\)"),
    (lambda x, t: x.reshape(-1), r"model returned \(16,\)"),
    (lambda x, t: x.numpy(), r"model returned ndarray"),
    (lambda x, t: torch.where(t[:, None] < 100, torch.nan, 0.0) * x, r"NaN/inf at t="),
])
def test_bad_model_output(sampler, model, match):
    with pytest.raises(ValueError, match=match):
        sample(model, SCHED, X, sampler, 5)


def test_epsilon_on_zero_terminal_snr_is_refused():
    s = make_schedule("linear", T, rescale_zero_terminal_snr=True)
    with pytest.raises(ValueError, match=r"epsilon.*zero-terminal-SNR.*v_prediction"):
        sample(MODEL, s, X, "ddim", 5)


def test_schedule_must_be_a_schedule():
    with pytest.raises(ValueError, match="Schedule"):
        sample(MODEL, SCHED.betas, X, "ddim", 5)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_grad_flows_through_the_model_only_when_asked(sampler):
    # posterior sampling (DPS) differentiates through the network: grad=True leaves autograd on for the whole run
    x_T = torch.randn(8, 2, generator=gen(9), requires_grad=True)
    traj = sample(MODEL, SCHED, x_T, sampler, 4, gen(10), grad=True, record=False)
    assert traj.x0.requires_grad
    traj.x0.sum().backward()
    assert x_T.grad is not None and torch.isfinite(x_T.grad).all() and x_T.grad.abs().sum() > 0
    plain = sample(MODEL, SCHED, x_T, sampler, 4, gen(10), record=False)
    assert not plain.x0.requires_grad                     # the default run builds no graph
    torch.testing.assert_close(plain.x0, traj.x0.detach())


def test_the_lab_models_let_gradients_through_when_asked(tmp_path):
    # the toy network and the image-model wrapper no longer switch autograd off themselves: sample() decides
    from diffusion import hub, toy
    from tests.tiny_unet import make_checkpoint
    toy_model = toy.fit("moons", seed=0, steps=5, hidden=16, depth=1, batch_size=32, num_timesteps=50)
    image_model = hub.load_folder(make_checkpoint(tmp_path / "tiny", channels=1, size=8, attention=False),
                                  measure=False)
    for model, shape in ((toy_model, (4, 2)), (image_model, (1, 1, 8, 8))):
        x_T = torch.randn(shape, generator=gen(11), requires_grad=True)
        out = sample(model, model.schedule, x_T, "ddim", 3, grad=True, record=False,
                     prediction_type=model.prediction_type).x0
        out.sum().backward()
        assert x_T.grad is not None and x_T.grad.abs().sum() > 0
        assert not sample(model, model.schedule, x_T, "ddim", 3, record=False,
                          prediction_type=model.prediction_type).x0.requires_grad
