"""Numerical contract: each sampler equals its diffusers scheduler on the same model, betas, spacing and steps.

Criterion: max |ours - diffusers| of the final sample <= 1e-4 * max(1, max |diffusers' sample|).
Two models: a fixed random tiny MLP of (x, t), and the exact denoiser of Gaussian data (analytic epsilon).
"""
import itertools

import numpy as np
import pytest
import torch
from diffusers import (DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, HeunDiscreteScheduler)

from diffusion import make_schedule, sample


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tiny tensors: one thread is faster

TOL = 1e-4
T = 1000
DIFFUSERS_NAME = {"linear": "linear", "scaled_linear": "scaled_linear", "cosine": "squaredcos_cap_v2",
                  "sigmoid": "sigmoid"}
SCHEDULERS = {  # sampler -> (diffusers scheduler, constructor options that make defaults comparable)
    "ddim": (DDIMScheduler, {"clip_sample": False}),
    "ddpm": (DDPMScheduler, {"clip_sample": False}),
    "euler": (EulerDiscreteScheduler, {}),
    "heun": (HeunDiscreteScheduler, {"beta_start": 1e-4, "beta_end": 0.02}),
    "dpmpp_2m": (DPMSolverMultistepScheduler, {}),
    "euler_ancestral": (EulerAncestralDiscreteScheduler, {}),
}
NOISY = {"ddpm", "euler_ancestral"}     # step() takes the generator
STEPS = (1, 3, 20)
PREDICTIONS = ("epsilon", "v_prediction", "sample")


def _mlp_model(dim=2):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(dim + 1, 32), torch.nn.SiLU(), torch.nn.Linear(32, 32),
                              torch.nn.SiLU(), torch.nn.Linear(32, dim)).double()

    def model(x, t):   # computed in float64 whatever x's dtype, so the model is one fixed function
        return torch.tanh(net(torch.cat([x.double(), t.double()[:, None] / T], 1))).to(x.dtype)
    return model


MU, STD = 0.4, 0.7


def _exact_model(schedule, prediction_type):
    """The exact denoiser of data ~ N(MU, STD^2) per coordinate; alpha_bar at fractional t interpolated linearly."""
    ab_table = schedule.alphas_cumprod.numpy()

    def model(x, t):
        ab = torch.tensor(np.interp(t.double().numpy(), np.arange(T), ab_table))
        a = ab.reshape(-1, *[1] * (x.ndim - 1))
        resid = (x.double() - a.sqrt() * MU) / (a * STD**2 + 1 - a)     # x_t ~ N(sqrt(ab) MU, ab STD^2 + 1 - ab)
        x0, eps = MU + a.sqrt() * STD**2 * resid, (1 - a).sqrt() * resid  # E[x0 | x_t], E[eps | x_t]
        out = {"epsilon": eps, "sample": x0, "v_prediction": a.sqrt() * eps - (1 - a).sqrt() * x0}
        return out[prediction_type].to(x.dtype)
    return model


def run_diffusers(sampler, schedule_name, x_T, num_steps, spacing, prediction_type, model, seed, **options):
    cls, kwargs = SCHEDULERS[sampler]
    kwargs = {**kwargs, **{k: v for k, v in options.items() if k not in ("eta",)}}
    sch = cls(num_train_timesteps=T, beta_schedule=DIFFUSERS_NAME[schedule_name], timestep_spacing=spacing,
              prediction_type=prediction_type, **kwargs)
    sch.set_timesteps(num_steps)
    g = torch.Generator().manual_seed(seed)
    x = x_T * sch.init_noise_sigma
    xs, x0s = [], []
    with torch.no_grad():
        for t in sch.timesteps:
            out = model(sch.scale_model_input(x, t), t.expand(x.shape[0]).float())
            extra = {"generator": g} if sampler in NOISY or options.get("eta", 0) > 0 else {}
            if "eta" in options:
                extra["eta"] = options["eta"]
            res = sch.step(out, t, x, **extra)
            x = res.prev_sample
            xs.append(x)
            x0s.append(getattr(res, "pred_original_sample", None))
    return x, sch, xs, x0s


def compare(sampler, schedule_name, spacing, num_steps, prediction_type, model_kind, shape=(16, 2), **options):
    """(error, allowed): max |ours - diffusers| of the final sample, and what the contract allows for it.

    allowed = 1e-4 * max(1, max|x|), plus, only where float32 itself cannot resolve 1e-4 (see below), the size of
    diffusers' own float32 rounding error.
    """
    schedule = make_schedule(schedule_name, T, **({"rescale_zero_terminal_snr": True}
                                                  if options.pop("zero_snr", False) else {}))
    zero_snr = schedule.zero_terminal_snr
    model = _mlp_model() if model_kind == "mlp" else _exact_model(schedule, prediction_type)
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    dopts = dict(options, **({"rescale_betas_zero_snr": True} if zero_snr else {}))
    ref, sch, _, _ = run_diffusers(sampler, schedule_name, x_T, num_steps, spacing, prediction_type, model, 7, **dopts)
    traj = sample(model, schedule, x_T, sampler, num_steps, torch.Generator().manual_seed(7),
                  prediction_type=prediction_type, timestep_spacing=spacing, **options)
    visited = sch.timesteps.double() if sampler != "heun" else sch.timesteps[::2].double()
    # Karras timesteps are log-sigma interpolations on diffusers' float32 table (its alpha_bar a float32 cumprod):
    # they agree to a fiftieth of a timestep, not to float precision
    atol = 0.02 if options.get("use_karras_sigmas") else 1e-8
    assert torch.allclose(traj.timesteps, visited, atol=atol), (traj.timesteps, visited)
    assert torch.isfinite(traj.x0).all()
    if not torch.isfinite(ref).all():
        # euler_ancestral, cosine, first sigma 2e4: diffusers' sqrt(sigma_next^2 - sigma_up^2) cancels to a
        # negative number in float32 and returns NaN; our algebraically equal sigma_next^2 / sigma does not.
        assert sampler == "euler_ancestral", (sampler, "diffusers returned NaN")
        return 0.0, 1.0
    scale = max(1.0, ref.abs().max().item())
    allowed = TOL * scale
    sigma_first = float(sch.sigmas.max()) if hasattr(sch, "sigmas") else 0.0
    if sampler == "heun":
        # Heun's trapezoid step from sigma_i to sigma_{i+1} amplifies rounding by ~sigma_i / sigma_{i+1}: with a
        # big ratio (cosine's 2e4 -> 6, or 157 -> 3.4 -> 0.01 in 3 linspace steps) no float32 run is accurate to
        # 1e-4. HeunDiscreteScheduler runs in float64 when given float64, so measure its own float32 error and
        # allow 5x that on top (it is ~1e-7 where the steps are well conditioned, i.e. the strict contract).
        ref64, _, _, _ = run_diffusers(sampler, schedule_name, x_T.double(), num_steps, spacing, prediction_type,
                                       model, 7, **dopts)
        allowed += 5 * (ref.double() - ref64).abs().max().item()
    elif sigma_first > 1e4:
        # cosine's last step has alpha_bar = 2.4e-9 (beta clipped at 0.999): sigma = 2.03e4. The Euler-type and
        # DPM-Solver schedulers compute in float32 (they cast the sample), which resolves x_sigma = sigma x_T only
        # to ~2^-23 sigma |x_T| ~ 4e-3: diffusers' answer is itself no better, so allow two such ulps.
        allowed += 2 * 2.0**-23 * sigma_first * x_T.abs().max().item()
    return (traj.x0 - ref).abs().max().item(), allowed


def _schedules_for(sampler):
    return ["linear", "scaled_linear", "cosine"] + (["sigmoid"] if sampler == "ddpm" else [])


@pytest.mark.parametrize("sampler, schedule_name", [(s, n) for s in SCHEDULERS for n in _schedules_for(s)])
@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_equals_diffusers(sampler, schedule_name, spacing):
    bad = []
    preds = PREDICTIONS if sampler != "euler_ancestral" else PREDICTIONS[:2]   # diffusers: no "sample" there
    for steps, pred, kind in itertools.product(STEPS, preds, ["mlp", "exact"]):
        err, allowed = compare(sampler, schedule_name, spacing, steps, pred, kind)
        if not err <= allowed:
            bad.append((steps, pred, kind, err, allowed))
    assert not bad, bad


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m"])      # diffusers: none for euler_ancestral
@pytest.mark.parametrize("schedule_name", ["linear", "scaled_linear"])
# not cosine: its clipped last step (sigma 2e4) puts most Karras sigmas at t > 998, where diffusers' float32
# interpolation and truncation land one timestep away from the exact 999 (998.99 -> 998): a float32 artefact
@pytest.mark.parametrize("spacing", ["leading", "linspace"])
def test_karras_sigmas_equal_diffusers(sampler, schedule_name, spacing):
    # use_karras_sigmas=True: the sigmas spaced by Karras et al.'s eq. 5 (rho = 7), the model called at each one's
    # log-sigma-interpolated timestep (rounded by DPM-Solver except on cosine), as diffusers does
    bad = []
    for steps, pred, kind in itertools.product((3, 20), PREDICTIONS[:2], ["mlp", "exact"]):
        err, allowed = compare(sampler, schedule_name, spacing, steps, pred, kind, use_karras_sigmas=True)
        if not err <= allowed:
            bad.append((steps, pred, kind, err, allowed))
    assert not bad, bad


def test_strict_tolerance_holds_wherever_float32_allows():
    # the slack in compare() is not a blanket: away from cosine's last step it is zero (or ~1e-7 for heun)
    for sampler in SCHEDULERS:
        err, allowed = compare(sampler, "scaled_linear", "trailing", 10, "epsilon", "exact")
        assert err <= allowed <= TOL * 4.01, (sampler, err, allowed)    # max |x| < 4 for these 16 points


def test_default_spacing_and_more_steps_equal_diffusers_defaults():
    # no timestep_spacing given: each sampler uses its diffusers scheduler's default
    for sampler, (cls, kwargs) in SCHEDULERS.items():
        model, x_T = _mlp_model(), torch.randn(32, 2, generator=torch.Generator().manual_seed(3))
        sch = cls(beta_schedule="linear", **kwargs)
        ref, _, _, _ = run_diffusers(sampler, "linear", x_T, 50, sch.config.timestep_spacing, "epsilon", model, 4)
        traj = sample(model, make_schedule("linear"), x_T, sampler, 50, torch.Generator().manual_seed(4))
        assert (traj.x0 - ref).abs().max() <= TOL * max(1.0, ref.abs().max().item()), sampler


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_ddpm_fixed_large_and_eta_and_clipping(spacing):
    bad = []
    for steps, kind in itertools.product((3, 20), ["mlp", "exact"]):
        cases = [("ddpm", dict(variance_type="fixed_large")), ("ddim", dict(eta=1.0)), ("ddim", dict(eta=0.5)),
                 ("ddim", dict(clip_sample=True)), ("ddpm", dict(clip_sample=True)),
                 ("heun", dict(clip_sample=True, clip_sample_range=0.5))]
        for sampler, opts in cases:
            for pred in PREDICTIONS:
                err, allowed = compare(sampler, "linear", spacing, steps, pred, kind, **dict(opts))
                if not err <= allowed:
                    bad.append((sampler, opts, steps, pred, kind, err))
    assert not bad, bad


@pytest.mark.parametrize("sampler", ["ddim", "ddpm", "euler", "dpmpp_2m", "euler_ancestral"])
@pytest.mark.parametrize("schedule_name", ["linear", "scaled_linear"])
def test_zero_terminal_snr_v_prediction_equals_diffusers(sampler, schedule_name):
    for steps, kind in itertools.product((1, 4, 25), ["mlp", "exact"]):
        err, allowed = compare(sampler, schedule_name, "trailing", steps, "v_prediction", kind, zero_snr=True)
        assert err <= allowed, (steps, kind, err)


@pytest.mark.parametrize("sampler", list(SCHEDULERS))
def test_image_shaped_samples(sampler):
    for pred in PREDICTIONS[:2]:
        err, allowed = compare(sampler, "linear", "trailing", 10, pred, "exact", shape=(2, 3, 8, 8))
        assert err <= allowed, (pred, err)


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_recorded_trajectory_equals_diffusers_steps(sampler):
    schedule, model = make_schedule("linear"), _mlp_model()
    x_T = torch.randn(16, 2, generator=torch.Generator().manual_seed(2))
    _, _, xs, x0s = run_diffusers(sampler, "linear", x_T, 20, "leading", "epsilon", model, 3)
    traj = sample(model, schedule, x_T, sampler, 20, torch.Generator().manual_seed(3))
    scale = max(1.0, max(x.abs().max().item() for x in xs))
    assert torch.equal(traj.xs[0], x_T)
    assert (traj.xs[1:] - torch.stack(xs)).abs().max() <= TOL * scale
    assert (traj.x0_preds - torch.stack(x0s)).abs().max() <= TOL * scale
