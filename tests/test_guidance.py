"""Classifier-free guidance (diffusion/samplers/guidance.py) for every sampler: the invariants that pin it down
(w = 0 is unconditional sampling, w = 1 conditional, one batched call equals two separate ones) and the rule
prediction = uncond + w (cond - uncond), checked step by step on a conditional model with a closed form."""
import numpy as np
import pytest
import torch

from diffusion import SAMPLERS, flow_sample, make_schedule, sample
from diffusion.samplers.guidance import Guided

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SCHED = make_schedule("linear", 200, beta_end=0.1)
MEANS = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 0.0]], dtype=torch.float64)   # class 0, class 1, "no label"
NULL = 2


class Gaussians:
    """A conditional eps-model with a closed form: class k is N(MEANS[k], 0.1^2 I); y=None (or the null label) is
    N(0, 0.1^2 I) -- exact eps of each, so guided runs are deterministic functions of the labels."""

    def __init__(self, null_label=NULL):
        self.null_label, self.calls, self.batches = null_label, 0, []

    def __call__(self, x, t, y):
        self.calls += 1
        self.batches.append(len(x))
        ab = SCHED.alpha_bar_at(t).to(x.dtype)[:, None]
        mu = MEANS[torch.full((len(x),), NULL) if y is None else y].to(x.dtype)
        var = ab * 0.01 + (1 - ab)
        return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / var       # eps = -sqrt(1 - ab) * score of N(a mu, var)


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_w0_is_unconditional_w1_conditional_and_batched_equals_separate(sampler):
    x_T = torch.randn(16, 2, generator=gen(0), dtype=torch.float64)
    y = torch.tensor([0, 1] * 8)
    uncond_model = lambda x, t: Gaussians()(x, t, None)          # noqa: E731
    cond_model = lambda x, t: Gaussians()(x, t, y)               # noqa: E731
    w0 = sample(Gaussians(), SCHED, x_T, sampler, 8, gen(1), y=y, guidance_scale=0.0)
    torch.testing.assert_close(w0.x0, sample(uncond_model, SCHED, x_T, sampler, 8, gen(1)).x0)
    w1 = sample(Gaussians(), SCHED, x_T, sampler, 8, gen(1), y=y)                      # guidance_scale 1 by default
    torch.testing.assert_close(w1.x0, sample(cond_model, SCHED, x_T, sampler, 8, gen(1)).x0)
    batched, separate = Gaussians(), Gaussians(null_label=None)
    a = sample(batched, SCHED, x_T, sampler, 8, gen(1), y=y, guidance_scale=3.0)
    b = sample(separate, SCHED, x_T, sampler, 8, gen(1), y=y, guidance_scale=3.0)
    torch.testing.assert_close(a.x0, b.x0, rtol=1e-12, atol=1e-12)
    assert batched.calls == a.nfe and set(batched.batches) == {32}              # one call of both halves a step
    assert separate.calls == 2 * b.nfe and set(separate.batches) == {16}


def test_each_step_mixes_the_two_predictions_by_the_rule_and_records_both():
    x_T = torch.randn(6, 2, generator=gen(2), dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    steps = []
    sample(Gaussians(), SCHED, x_T, "ddim", 5, gen(3), y=y, guidance_scale=4.0, callback=steps.append)
    ref = Gaussians()
    for st in steps:
        t = torch.full((6,), st.t, dtype=torch.float64)
        cond, uncond = ref(st.x_t, t, y), ref(st.x_t, t, None)
        torch.testing.assert_close(st.extra["eps_cond"], cond)
        torch.testing.assert_close(st.extra["eps_uncond"], uncond)
        torch.testing.assert_close(st.eps_pred, uncond + 4.0 * (cond - uncond))
    # guidance pushes each class's samples away from the unconditional mean (0), along its own class mean
    out = sample(Gaussians(), SCHED, x_T, "ddim", 50, gen(3), y=y, guidance_scale=2.0).x0
    plain = sample(Gaussians(), SCHED, x_T, "ddim", 50, gen(3), y=y).x0
    assert (out[:3, 0] > plain[:3, 0]).all() and (out[3:, 0] < plain[3:, 0]).all()


def test_a_flow_model_is_guided_on_its_velocity():
    def velocity(x, t, y):                                       # straight paths to the class means
        mu = MEANS[torch.full((len(x),), NULL) if y is None else y].to(x.dtype)
        return (x - mu) / t[:, None].clamp(min=1e-3)             # v = (x_t - x_0) / t
    x1 = torch.randn(8, 2, generator=gen(4), dtype=torch.float64)
    y = torch.tensor([0, 1] * 4)
    steps = []
    out = flow_sample(velocity, x1, "euler", 10, y=y, guidance_scale=2.0, callback=steps.append)
    assert {"v_cond", "v_uncond"} <= set(steps[0].extra)
    torch.testing.assert_close(out.x0, 2.0 * MEANS[y], rtol=1e-6, atol=1e-6)     # uncond + 2 (cond - uncond)


def test_bad_guidance_input_is_refused_with_a_message():
    x_T = torch.zeros(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="guidance_scale=2.0 needs class labels y"):
        sample(Gaussians(), SCHED, x_T, "ddim", 3, guidance_scale=2.0)
    with pytest.raises(ValueError, match=r"y must be an int or an integer tensor of shape \[4\]"):
        sample(Gaussians(), SCHED, x_T, "ddim", 3, y=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"y must be an int or an integer tensor of shape \[4\]"):
        sample(Gaussians(), SCHED, x_T, "ddim", 3, y=torch.zeros(4))
    with pytest.raises(ValueError, match="class labels must be >= 0"):
        sample(Gaussians(), SCHED, x_T, "ddim", 3, y=torch.tensor([0, -1, 0, 0]))
    with pytest.raises(ValueError, match="guidance_scale must be a finite number >= 0"):
        sample(Gaussians(), SCHED, x_T, "ddim", 3, y=1, guidance_scale=float("nan"))
    assert Guided(Gaussians(), torch.tensor([0]), 2.0).null_label == NULL


# --- labelled drawings: a class per colour or per layer ----------------------------------------------------------------
def _canvas(h=40, w=80):
    return np.full((h, w, 3), 255, dtype=np.uint8)


def test_a_drawing_gives_one_class_per_colour_in_proportion_to_its_ink():
    from diffusion.toy.labels import DRAWING_COLOURS, labelled_drawing
    im = _canvas()
    im[5:25, 5:15] = DRAWING_COLOURS["orange"]           # 200 px on the left
    im[5:25, 40:70] = DRAWING_COLOURS["sky blue"]        # 600 px on the right
    im[30, 30] = DRAWING_COLOURS["vermillion"]           # one stray pixel: under 1 % of the ink, not a class
    pts, labels, names = labelled_drawing(im, n=8000, seed=3)
    assert names == ["orange", "sky blue"] and pts.shape == (8000, 2) and set(labels.tolist()) == {0, 1}
    share = float((labels == 0).float().mean())
    assert abs(share - 200 / 800) < 0.015                # binomial sd ~0.005
    assert pts[labels == 0, 0].max() < pts[labels == 1, 0].min()          # orange is left of sky blue
    assert torch.allclose((pts.double() ** 2).sum(1).mean(), torch.tensor(2.0, dtype=torch.float64), atol=0.1)


def test_a_drawing_with_layers_gives_one_class_per_layer():
    from diffusion.toy.labels import labelled_drawing
    a, b = np.zeros((40, 80, 4), np.uint8), np.zeros((40, 80, 4), np.uint8)
    a[5:25, 5:25] = (0, 0, 0, 255)
    b[5:25, 50:60] = (0, 0, 0, 255)                      # same pen colour: only the layers tell them apart
    empty = np.zeros((40, 80, 4), np.uint8)
    pts, labels, names = labelled_drawing(None, layers=[a, empty, b], n=3000)
    assert names == ["layer 1", "layer 2"]
    assert abs(float((labels == 0).float().mean()) - 400 / 600) < 0.03
    assert pts[labels == 0, 0].max() < pts[labels == 1, 0].min()


def test_a_drawing_with_one_class_or_none_is_refused_in_words():
    from diffusion.toy.labels import labelled_drawing
    im = _canvas()
    im[5:25, 5:15] = 0
    with pytest.raises(ValueError, match="needs two or more classes: draw with two or more colours .* only black"):
        labelled_drawing(im)
    with pytest.raises(ValueError, match="the drawing is empty"):
        labelled_drawing(_canvas())
    with pytest.raises(ValueError, match="the drawing is empty: draw with two or more colours"):
        labelled_drawing(None)
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, "):
        labelled_drawing(im, n=0)
