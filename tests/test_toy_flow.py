"""Flow matching (diffusion/toy/flow.py and fit(objective="flow_matching")): path, samplers, trajectories."""
import pytest
import torch

from diffusion import StopSampling, Trajectory, toy
from diffusion.exact import GaussianMixture
from diffusion.metrics import quality
from diffusion.samplers.flow import flow_path, flow_sample, flow_velocity_target

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/conftest.py


@pytest.fixture(scope="module")
def flow_model():
    return toy.fit("moons", seed=0, objective="flow_matching", steps=300, hidden=64, batch_size=256)


def test_path_and_target():
    x0, eps = torch.randn(4, 2), torch.randn(4, 2)
    t = torch.tensor([0.0, 0.25, 0.5, 1.0])
    x_t = flow_path(x0, eps, t)
    torch.testing.assert_close(x_t[0], x0[0])
    torch.testing.assert_close(x_t[3], eps[3])
    torch.testing.assert_close(x_t[1], 0.75 * x0[1] + 0.25 * eps[1])
    torch.testing.assert_close(flow_velocity_target(x0, eps), eps - x0)    # d x_t / dt


def test_flow_model_api(flow_model):
    m = flow_model
    assert m.objective == "flow_matching" and m.prediction_type == "velocity" and m.schedule is None
    assert m(torch.randn(3, 2), 0.5).shape == (3, 2)


@pytest.mark.parametrize("sampler, steps, nfe", [("euler", 20, 20), ("heun", 10, 19)])
def test_flow_sampling_trajectory(flow_model, sampler, steps, nfe):
    traj = flow_model.sample(500, sampler=sampler, num_steps=steps, seed=3)
    assert isinstance(traj, Trajectory) and not traj.stopped
    assert traj.nfe == nfe and traj.x0_preds.shape == (nfe, 500, 2) and traj.xs.shape == (steps + 1, 500, 2)
    torch.testing.assert_close(traj.timesteps, torch.linspace(1, 0, steps + 1, dtype=torch.float64)[:-1])
    x1 = torch.randn(500, 2, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(traj.xs[0], flow_model.to_data(x1))         # from noise ...
    torch.testing.assert_close(traj.xs[-1], traj.x0)                       # ... to the sample
    assert quality(traj.x0, "moons") < 3


def test_default_flow_model_matches_the_data():
    m = toy.fit("moons", seed=0, objective="flow_matching")
    assert quality(m.sample(4000, sampler="euler", num_steps=50, seed=0).x0, "moons") < 1.5


@pytest.mark.parametrize("sampler, steps, tol", [("euler", 100, 0.03), ("heun", 20, 0.01), ("heun", 100, 5e-4)])
def test_exact_flow_of_a_gaussian_follows_the_analytic_ode(sampler, steps, tol):
    """x_0 ~ N(mu, sd^2 I): x_t ~ N((1 - t) mu, ((1 - t)^2 sd^2 + t^2) I), and the marginal flow ODE moves each point as
    x_t = (1 - t) mu + sqrt((1 - t)^2 sd^2 + t^2) x_1. (Not a straight line: only the conditional paths
    (1 - t) x_0 + t eps that training regresses on are straight.) Heun's error falls ~ as steps^-2, Euler's ~ 1/steps.
    """
    mu, sd = torch.tensor([2.0, -1.0], dtype=torch.float64), 0.5
    gm = GaussianMixture.isotropic([1.0], [mu.tolist()], [sd])
    x1 = torch.randn(300, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    traj = flow_sample(gm.flow_model(), x1, sampler=sampler, num_steps=steps)
    t = torch.linspace(1, 0, steps + 1, dtype=torch.float64)[:, None, None]
    exact = (1 - t) * mu + ((1 - t) ** 2 * sd**2 + t**2).sqrt() * x1
    assert (traj.xs - exact).abs().max() < tol


def test_diffusion_samplers_are_refused_for_flow_models(flow_model):
    with pytest.raises(ValueError, match=r"unknown sampler 'ddpm' for a flow-matching model; choose one of "
                                         r"\['euler', 'heun'\]"):
        flow_model.sample(10, sampler="ddpm")
    with pytest.raises(ValueError, match="num_steps"):
        flow_model.sample(10, num_steps=0)
    with pytest.raises(ValueError, match=r"\['eta'\] do not apply to a flow-matching model"):
        flow_model.sample(10, eta=1.0)


def test_stop_and_record_false(flow_model):
    def cb(step):
        assert step.total == 10 and step.x.shape == step.x0_pred.shape == (50, 2)
        # the flow path x_t = (1 - t) x0 + t eps: the record's level and its x0 / eps agree with it
        assert (step.a, step.s) == pytest.approx((1 - step.t, step.t))
        torch.testing.assert_close(step.a * step.x0_pred + step.s * step.eps_pred, step.x_t)
        if step.step == 3:
            raise StopSampling
    traj = flow_model.sample(50, num_steps=10, callback=cb)
    assert traj.stopped and len(traj.timesteps) == 4 and traj.nfe == 4
    torch.testing.assert_close(traj.x0, traj.x0_preds[-1])
    quiet = flow_model.sample(50, sampler="heun", num_steps=10, record=False)
    assert quiet.xs is None and quiet.x0_preds is None and quiet.nfe == 19
    torch.testing.assert_close(quiet.x0, flow_model.sample(50, sampler="heun", num_steps=10).x0)


def test_flow_sample_rejects_bad_models_and_inputs():
    with pytest.raises(ValueError, match="model returned"):
        flow_sample(lambda x, t: x[:, :1], torch.randn(4, 2))
    with pytest.raises(ValueError, match="NaN"):
        flow_sample(lambda x, t: x * float("nan"), torch.randn(4, 2))
    with pytest.raises(ValueError, match="x1 must be"):
        flow_sample(lambda x, t: x, torch.full((4, 2), float("inf")))
