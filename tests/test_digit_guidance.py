"""Classifier-free guidance on the bundled class-conditional MNIST model: the cheap invariants (the quality
figures are scripts/eval_mnist_cond.py's, in assets/mnist-ddpm-cond/TRAINING.md)."""
import numpy as np
import pytest
import torch

from diffusion import hub, sample
from diffusion.labs.digit_guidance import guidance_grid, guidance_sweep, guided_run
from diffusion.labs.image_runs import initial_noise

STEPS = 8


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return hub.load_model(hub.BUNDLED_COND_ID)


def _ddim(model, x_T, seed, **kw):
    opts = dict(model.sampler_options("ddim"), clip_sample=False)
    return sample(model, model.schedule, x_T, "ddim", STEPS, torch.Generator().manual_seed(seed), record=False,
                  **opts, **kw)


def test_the_bundled_conditional_model_loads_with_its_null_label(model):
    assert model.num_classes == 10 and model.null_label == 10
    assert "class-conditional (10 classes, label 10 = no label)" in model.describe()
    assert hub.resolve_name("mnist-ddpm-cond") == hub.BUNDLED_COND_ID


def test_w0_is_unconditional_w1_conditional_and_batched_guidance_equals_two_calls(model):
    x_T, _ = initial_noise(model, 4, 0)
    y = torch.tensor([0, 3, 5, 9])
    plain = _ddim(model, x_T, 1)                                      # no labels: the null label
    w0 = _ddim(model, x_T, 1, y=y, guidance_scale=0.0)
    assert torch.equal(plain.x0, w0.x0) and w0.nfe == STEPS
    w1 = _ddim(model, x_T, 1, y=y, guidance_scale=1.0)
    assert w1.nfe == STEPS and not torch.allclose(w1.x0, plain.x0, atol=1e-3)

    class Counted:                                  # network calls counted; without a null label Guided makes
        def __init__(self, m, batched):             # two calls a step instead of one batched call
            self.m, self.calls = m, 0
            if batched:
                self.null_label = m.null_label

        def __call__(self, x, t, y=None):
            self.calls += 1
            return self.m(x, t, y)
    one, two = Counted(model, True), Counted(model, False)
    opts = dict(model.sampler_options("ddim"), clip_sample=False)
    batched, separate = (sample(m, model.schedule, x_T, "ddim", STEPS, torch.Generator().manual_seed(1), record=False,
                                y=y, guidance_scale=3.0, **opts) for m in (one, two))
    torch.testing.assert_close(batched.x0, separate.x0, atol=1e-4, rtol=0)
    assert one.calls == STEPS and two.calls == 2 * STEPS


def test_the_grid_keeps_one_x_T_per_row(model):
    g = guidance_grid(model, digits=(1, 7), scales=(0.0, 1.0, 3.0), steps=STEPS, seed=4)
    assert g["grid"].shape == (2, 3, 20, 20)
    x_T, _ = initial_noise(model, 2, 4)
    alone = _ddim(model, x_T[1:], 5, y=torch.tensor([7]), guidance_scale=3.0)
    want = ((alone.x0.clamp(-1, 1)[0, 0] + 1) * 127.5).round().numpy()
    assert np.abs(g["grid"][1, 2].astype(float) - want).max() <= 1            # row 7, w = 3: its own x_T
    assert not np.array_equal(g["grid"][0, 0], g["grid"][0, 2])               # w changes the picture


def test_a_guided_run_records_both_noises_and_refuses_bad_input(model):
    run = guided_run(model, 2, 3.0, batch=2, steps=STEPS)
    assert run.x_t.shape == run.eps_cond.shape == run.eps_uncond.shape == (STEPS + 1, 2, 20, 20)
    assert not np.array_equal(run.eps_cond[-1], run.eps_uncond[-1])
    with pytest.raises(ValueError, match=r"digits must be whole numbers in \[0, 9\], got \[10\]"):
        guided_run(model, 10, 3.0)
    with pytest.raises(ValueError, match=r"guidance scale w must be a number in \[0, 10\], got -1"):
        guidance_grid(model, scales=(-1,), steps=STEPS)
    with pytest.raises(ValueError, match="unconditional; guidance needs a class-conditional model"):
        guided_run(hub.load_model(hub.BUNDLED_ID), 2)


def test_the_image_lab_samples_the_conditional_model_unconditionally(model):
    from diffusion.labs.image_runs import generate
    run = generate(model, "ddim", 5, seed=0, batch=2)
    x_T, _ = initial_noise(model, 2, 0)
    plain = sample(model, model.schedule, x_T, "ddim", 5, torch.Generator().manual_seed(0), record=False,
                   y=torch.full((2,), 10), guidance_scale=1.0, **model.sampler_options("ddim"))
    torch.testing.assert_close(torch.from_numpy(run.final_float), plain.x0)     # no label = label 10


# --- the guidance sweep, judged by the bundled digit judge ------------------------------------------------------------
class _CountingJudge:
    """A stand-in judge: reads every image as a confident 3, keeps what it was shown; diversity = pixel spread."""
    confidence = 0.9

    def __init__(self):
        self.seen = []

    def read(self, x):
        self.seen.append(x.clone())
        label = torch.full((len(x),), 3)
        return label, torch.ones(len(x)), x.flatten(1)

    def diversity(self, x, digit):
        return float(x.flatten(1).std(0).mean())


def test_the_sweep_runs_every_w_from_one_x_T_and_judges_each_row(model):
    judge = _CountingJudge()
    out = guidance_sweep(model, judge, 3, scales=(0.0, 1.0, 3.0), n=3, steps=STEPS, seed=2)
    assert out["samples"].shape == (3, 3, 20, 20) and [r["w"] for r in out["rows"]] == [0.0, 1.0, 3.0]
    x_T, _ = initial_noise(model, 3, 2)
    alone = _ddim(model, x_T, 3, y=3, guidance_scale=3.0)                # the w = 3 row: the sweep's own x_T
    assert torch.allclose(judge.seen[2], alone.x0.clamp(-1, 1), atol=1e-5)
    assert all(r["as_asked"] == 1.0 and r["read_as"][3] == 3 and sum(r["read_as"]) == 3 for r in out["rows"])
    assert not np.array_equal(out["samples"][0], out["samples"][2])
    with pytest.raises(ValueError, match=r"samples per w must be a whole number in \[2, 16\], got 1"):
        guidance_sweep(model, judge, 3, n=1)
    with pytest.raises(ValueError, match=r"digits must be whole numbers in \[0, 9\], got \[12\]"):
        guidance_sweep(model, judge, 12, n=2, steps=STEPS)
    with pytest.raises(ValueError, match="a sweep takes 1 to 8 guidance scales, got 0"):
        guidance_sweep(model, judge, 3, scales=(), n=2)


def test_with_the_bundled_judge_guidance_draws_the_digit_asked_for_more_often(model):
    from diffusion.digit_judge import load_judge, BUNDLED_DIR
    out = guidance_sweep(model, load_judge(BUNDLED_DIR), 7, scales=(0.0, 3.0), n=16, steps=20, seed=0)
    unguided, guided = out["rows"]
    assert guided["as_asked"] >= 0.8 > 0.4 >= unguided["as_asked"], out["rows"]
