"""diffusion.labs.image_runs: recorded runs (frames, labels, memory), the time guard, Stop, SDEdit, forward frames."""
import numpy as np
import pytest
import torch

from diffusion import hub
from diffusion.forward import q_sample
from diffusion.labs.image_runs import MAX_BATCH, RunTooLong, check_run, forward_frames, generate, sdedit
from diffusion.samplers import SAMPLERS, model_calls
from tests.tiny_unet import make_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/conftest.py


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = make_checkpoint(tmp_path_factory.mktemp("m"), channels=1, size=8, attention=False)
    return hub.load_folder(folder, model_id="tiny")


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_every_sampler_runs_and_model_calls_are_predicted(model, sampler):
    calls = []
    run = generate(model, sampler, 6, seed=0, batch=2, on_step=lambda done, total: calls.append((done, total)))
    assert run.nfe == model_calls(sampler, 6)
    assert calls[-1] == (6, 6) and len(calls) == 6
    assert run.final.shape == (2, 8, 8) and run.final.dtype == np.uint8
    assert run.x_t.shape == run.x0_pred.shape == run.eps_pred.shape == (7, 2, 8, 8)
    assert run.num_frames == 7 and run.timesteps[0] == -1 and run.timesteps[-1] > run.timesteps[1]
    assert np.array_equal(run.x0_pred[0], run.final)           # frame 0 is the clean end


def test_frames_hold_the_actual_states(model):
    """Frame k (counted from the noisy end) is x_t before step k: the last frame is x_T itself."""
    from diffusion.labs.image_runs import initial_noise
    from diffusion.images import tensor_to_uint8
    run = generate(model, "ddim", 10, seed=4, batch=3)
    x_T, _ = initial_noise(model, 3, 4)
    assert np.array_equal(run.x_t[-1], tensor_to_uint8(x_T))
    assert "step 1/10" in run.labels[-1] and "t = 900" in run.labels[-1]
    assert run.labels[0].startswith("end (10/10 steps)")


def test_same_seed_same_images_other_seed_other_images(model):
    a, b = generate(model, "ddpm", 20, seed=1, batch=2), generate(model, "ddpm", 20, seed=1, batch=2)
    c = generate(model, "ddpm", 20, seed=2, batch=2)
    assert np.array_equal(a.final_float, b.final_float) and not np.array_equal(a.final_float, c.final_float)


def test_long_runs_are_subsampled_and_bounded_in_memory(model):
    run = generate(model, "ddpm", 250, seed=0, batch=1, max_frames=20, limit_s=1e9)
    assert run.num_frames == 20                                  # first and last kept, evenly spread
    assert run.timesteps[-1] == 996 and run.timesteps[0] == -1   # leading spacing: 996, 992, ..., 0
    assert run.nbytes() < 20 * 4 * 64 + 10_000
    small = generate(model, "ddim", 50, seed=0, batch=MAX_BATCH, max_bytes=3 * 16 * 64 * 10, limit_s=1e9)
    assert small.num_frames == 10                                # the byte budget sets the frame count


def test_time_guard_refuses_with_a_useful_message(model):
    slow = hub.ImageModel(**{**vars(model), "call_cost_s": (0.01, 0.27)})   # google/ddpm-cifar10-32's cost here
    with pytest.raises(RunTooLong, match=r"about 4\d\d\d s .* over the lab's 120 s limit: at most ~27 steps fit"):
        check_run(slow, "ddpm", 1000, 16)
    assert check_run(slow, "ddim", 20, 16) < 120
    with pytest.raises(RunTooLong):
        generate(slow, "ddim", 100, batch=16)


def test_finished_runs_never_change_the_estimate(model):
    # the estimate is the cost measured at load: a run that took far longer (a busy machine, another mode) leaves
    # it as it was, so it cannot make the lab refuse another visitor's run
    m = hub.ImageModel(**{**vars(model), "call_cost_s": (0.0, 0.05)})
    before = m.estimate_seconds(2, 100)
    generate(m, "ddim", 100, batch=2, limit_s=1e9)
    sdedit(m, torch.zeros(1, *m.shape), 400, num_steps=20, limit_s=1e9)
    assert m.estimate_seconds(2, 100) == before and not hasattr(m, "observe")


def test_stop_returns_the_run_so_far(model):
    seen = []

    def stop_after_three():
        seen.append(1)
        return len(seen) >= 3
    run = generate(model, "ddpm", 200, seed=0, batch=2, should_stop=stop_after_three)
    assert run.stopped and run.nfe == 3 and "stopped" in run.note and "stopped after 3/200" in run.labels[0]


def test_deadline_stops_a_run_on_a_busy_machine(model, monkeypatch):
    import diffusion.labs.image_runs as S
    monkeypatch.setattr(S, "HARD_STOP_FACTOR", 0.0)
    monkeypatch.setattr(hub.ImageModel, "estimate_seconds", lambda self, batch, calls: 0.0)
    run = generate(model, "ddpm", 50, seed=0, batch=1)
    assert run.stopped and run.nfe == 1 and "time limit" in run.note


@pytest.mark.parametrize("bad, words", [
    (dict(sampler="nope"), "unknown sampler 'nope'"),
    (dict(batch=0), r"batch size must be a whole number in \[1, 16\]"),
    (dict(batch=17), r"batch size"),
    (dict(num_steps=0), r"steps must be a whole number in \[1, 1000\]"),
    (dict(num_steps=1001), r"steps"),
    (dict(num_steps=2.5), r"steps"),
])
def test_bad_settings_are_refused(model, bad, words):
    kwargs = {**dict(sampler="ddim", num_steps=10, batch=1), **bad}
    with pytest.raises(ValueError, match=words):
        generate(model, **kwargs)


def test_forward_frames_follow_q_sample(model):
    x0 = torch.rand(1, 1, 8, 8) * 2 - 1
    fwd = forward_frames(model, x0, seed=3, limit_s=float("inf"))   # x̂₀ too, however busy the machine
    assert fwd["t"][0] == 0 and fwd["t"][-1] == 999 and len(fwd["t"]) == 100
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3))
    from diffusion.images import tensor_to_uint8
    i = 50
    expect = tensor_to_uint8(q_sample(model.schedule, x0, fwd["t"][i], noise))[0]
    assert np.abs(fwd["x_t"][i].astype(int) - expect.astype(int)).max() <= 1
    assert fwd["alpha_bar"][i] == pytest.approx(float(model.schedule.alphas_cumprod[fwd["t"][i]]))
    assert fwd["x0_pred"].shape == (100, 8, 8)
    assert np.all(np.diff(fwd["alpha_bar"]) < 0)
    with pytest.raises(ValueError, match="one image of shape"):
        forward_frames(model, torch.zeros(1, 3, 8, 8))


@pytest.mark.parametrize("sampler", ["ddim", "ddpm", "dpmpp_2m", "pc"])
def test_sdedit_starts_exactly_at_t0(model, sampler):
    x0 = torch.rand(1, 1, 8, 8) * 2 - 1
    run = sdedit(model, x0, 300, seed=2, sampler=sampler, num_steps=10)
    assert "t = 300" in run.labels[-1]                          # the first step is at t0 exactly
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(2))
    from diffusion.images import tensor_to_uint8
    assert np.array_equal(run.extra["noised"], tensor_to_uint8(q_sample(model.schedule, x0, 300, noise))[0])
    assert np.array_equal(run.x_t[-1, 0], run.extra["noised"])
    assert run.final.shape == (1, 8, 8)


def test_sdedit_edge_cases(model):
    x0 = torch.zeros(1, 1, 8, 8)
    assert sdedit(model, x0, 0, num_steps=50).nfe == 1         # steps capped at t0 + 1
    with pytest.raises(ValueError, match=r"noise level t must be a whole number in \[0, 999\]"):
        sdedit(model, x0, 1000)
    with pytest.raises(ValueError, match="noise-and-restore supports the samplers"):
        sdedit(model, x0, 100, sampler="euler")
