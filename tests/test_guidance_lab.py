"""Labelled toy data, conditional toy models and the Guidance lab's measurements (diffusion/toy/labels.py,
diffusion/labs/guidance.py), checked against the exact labelled mixture."""
import pytest
import torch

from diffusion import make_schedule, toy
from diffusion.labs import guidance as G
from diffusion.samplers.guidance import Guided
from diffusion.toy.labels import (LABELLED, base_dataset, class_names, class_weights, labelled_dataset,
                                  labelled_mixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", sorted(LABELLED) + ["text:HELLO"])
def test_labelled_points_are_the_data_sets_own_points(name):
    pts, labels, names = labelled_dataset(name, 3000, seed=4)
    torch.testing.assert_close(pts, toy.make_dataset(base_dataset(name), 3000, seed=4), atol=1e-5, rtol=0)
    assert labels.dtype == torch.int64 and labels.shape == (3000,)
    assert sorted(set(labels.tolist())) == list(range(len(names))) and names == class_names(name)


def test_labels_say_which_part_of_the_shape_a_point_is_on():
    pts, labels, _ = labelled_dataset("moons", 4000, seed=0)
    assert pts[labels == 0, 1].mean() > 0.3 > -0.3 > pts[labels == 1, 1].mean()      # upper moon above the lower
    # + and x: four Gaussians each, equal weights; each point's nearest component has the point's class
    pts, labels, names = labelled_dataset("gaussians8:plus-cross", 8000, seed=1)
    mix = labelled_mixture("gaussians8:plus-cross")
    assert mix.classes == [0, 1] and names[0].startswith("+") and names[1].startswith("×")
    torch.testing.assert_close(class_weights(labels, 2), torch.tensor([0.5, 0.5], dtype=torch.float64), atol=0.02,
                               rtol=0)
    nearest = torch.cdist(pts.double(), mix.means).argmin(1)
    assert (mix.labels[nearest] == labels).double().mean() > 0.999
    torch.testing.assert_close(mix.sub_mixture(0).weights, torch.full((4,), 0.25, dtype=torch.float64))
    # a word: one class per letter with ink, left to right; a repeated letter is one class per occurrence
    pts, labels, names = labelled_dataset("text:HELLO", 4000, seed=2)
    assert names == ["H", "E", "L1", "L2", "O"]
    centres = [pts[labels == k, 0].mean().item() for k in range(5)]
    assert centres == sorted(centres)
    assert class_names("text:A B") == ["A", "B"]                                    # a space has no ink: no class


def test_bad_labelled_data_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"unknown labelled data set 'spiral'; choose one of \[.*'moons'"):
        labelled_dataset("spiral", 100)
    with pytest.raises(ValueError, match="is too long"):
        labelled_dataset("text:" + "A" * 30, 100)
    data = G.GuidanceData.from_name("moons", n=500)
    with pytest.raises(ValueError, match=r"class must be an index in \[0, 1\] \(0: upper moon, 1: lower moon\)"):
        data.check_class(2)
    with pytest.raises(ValueError, match="p_uncond must be a number in"):
        toy.fit("moons", labels=True, steps=1, p_uncond=1.0)
    with pytest.raises(ValueError, match="labels must be 10 non-negative integers"):
        toy.fit(torch.randn(10, 2), labels=torch.ones(10), steps=1)
    with pytest.raises(ValueError, match="for a data set name pass labels=True"):
        toy.fit("moons", labels=torch.zeros(8000, dtype=torch.long), steps=1)


def test_a_conditional_toy_model_is_one_network_guided_in_one_batched_call():
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    labels = (x[:, 0] > 0).long()
    model = toy.fit(x, labels=labels, steps=30, hidden=16, depth=1, batch_size=64, class_names=["left", "right"])
    assert model.conditional and model.null_label == 2 and model.class_names == ["left", "right"]
    x_t, t = torch.randn(5, 2), torch.full((5,), 300.0)
    torch.testing.assert_close(model(x_t, t), model(x_t, t, torch.full((5,), 2)))     # None = the null label
    calls = []
    net = model.net
    original = net.forward
    net.forward = lambda *a: calls.append(len(a[0])) or original(*a)
    y = torch.tensor([0, 1, 0, 1, 1])
    guided = Guided(model, y, 3.0)(x_t, t)
    net.forward = original
    assert calls == [10]                                  # cond and uncond halves in one call of twice the batch
    cond, uncond = model(x_t, t, y), model(x_t, t)
    torch.testing.assert_close(guided, uncond + 3.0 * (cond - uncond))
    with pytest.raises(ValueError, match=r"y must hold 5 class indices in \[0, 2\]"):
        model(x_t, t, torch.tensor([0, 1, 2, 3, 0]))
    plain = toy.fit(x, steps=5, hidden=16, depth=1, batch_size=64)
    with pytest.raises(ValueError, match="this toy model is unconditional"):
        plain(x_t, t, y)


class ExactLearned:
    """The exact conditional model of a mixture dressed as a trained toy model, so the lab's 'learned' runs are
    exact too and every figure has a closed-form answer."""

    conditional = True

    def __init__(self, mixture, prediction_type="v_prediction"):
        self.schedule = make_schedule("linear", 1000)
        self.prediction_type = prediction_type
        self.exact = mixture.model(self.schedule, prediction_type)
        self.null_label = mixture.null_label

    def __call__(self, x_t, t, y=None):
        return self.exact(x_t.double(), t, y).to(x_t.dtype)


def test_the_sweep_shows_guidance_is_not_the_tilted_density():
    data = G.GuidanceData.from_name("gaussians8")
    rows = {r["w"]: r for r in G.sweep(ExactLearned(data.mixture), data, 0, scales=(0.0, 1.0, 5.0), n=3000,
                                       sampler="heun", num_steps=50, spacing="karras")}
    # w = 0: the whole mixture (one Gaussian of eight is class 0); w = 1: exactly p(x | y)
    assert rows[0.0]["exact"]["in_class"] == pytest.approx(1 / 8, abs=0.02)
    one = rows[1.0]["exact"]
    assert one["in_class"] > 0.99 and one["diversity"] == pytest.approx(1, abs=0.05)
    assert one["off_centre"] == pytest.approx(1, abs=0.05)
    for w in (0.0, 1.0, 5.0):                 # the tilted density, drawn on the grid, is what it should be
        assert rows[w]["tilted"]["in_class"] == pytest.approx(rows[w]["exact"]["in_class"] if w < 5 else 1, abs=0.03)
    # w = 5: the tilted density p(x|y)^5 p(x)^-4 is still ~ p(x | y) here (the classes are far apart) ...
    assert rows[5.0]["tilted"]["diversity"] == pytest.approx(1, abs=0.05)
    assert rows[5.0]["tilted"]["off_centre"] == pytest.approx(1, abs=0.05)
    # ... but the guided ODE's samples are narrower and pushed out of the component
    assert rows[5.0]["exact"]["diversity"] < 0.75 and rows[5.0]["exact"]["off_centre"] > 1.3
    # the "learned" model is the exact one here, run by the same code path: the same figures
    assert rows[5.0]["learned"]["diversity"] == pytest.approx(rows[5.0]["exact"]["diversity"], abs=1e-3)


def test_the_tilted_density_is_its_formula():
    mix = labelled_mixture("gaussians8:plus-cross")
    x = torch.randn(20, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    sub = mix.sub_mixture(1)
    torch.testing.assert_close(G.tilted_density(mix, 1, 3.0, x), 3 * sub.log_prob(x) - 2 * mix.log_prob(x))
    torch.testing.assert_close(G.tilted_density(mix, 1, 1.0, x), sub.log_prob(x))


def test_guided_runs_share_x_T_and_a_flow_model_is_guided_too():
    data = G.GuidanceData.from_name("gaussians8:plus-cross", n=2000)
    model = toy.fit("gaussians8:plus-cross", labels=True, steps=150, hidden=32, depth=1, batch_size=256)
    runs = G.guided_runs(model, data, 1, 3.0, n=300)
    assert set(runs) == {"unconditional", "conditional", "guided", "exact guided", "classifier guided"}
    starts = [r.frames[-1] for r in runs.values()]
    for s in starts[1:]:
        assert abs(s - starts[0]).max() < 1e-5                 # one x_T for all five
    # the learned unconditional model steered by the exact classifier lands in the class asked for
    assert G.in_class(runs["classifier guided"].x0, data, 1) > 0.95 > G.in_class(runs["unconditional"].x0, data, 1)
    assert runs["guided"].w == 3.0 and runs["exact guided"].exact and runs["unconditional"].w == 0.0
    flow = toy.fit("gaussians8:plus-cross", labels=True, steps=150, hidden=32, depth=1, batch_size=256,
                   objective="flow_matching")
    runs = G.guided_runs(flow, data, 0, 2.0, n=200)
    assert runs["exact guided"].frames.shape == (51, 200, 2)           # euler, 50 steps: 51 states
    assert "classifier guided" not in runs                             # a velocity model: no classifier panel
    assert G.in_class(runs["exact guided"].x0, data, 0) > 0.95
    with pytest.raises(ValueError, match="guidance needs a conditional model"):
        G.guided_runs(toy.fit("moons", steps=2, hidden=8, depth=1), data, 0, 1.0)


def test_the_classifier_panel_converts_the_models_prediction_and_with_the_exact_model_is_cfg():
    """The classifier-guided run takes any prediction type to epsilon: with the exact mixture as the 'learned'
    v-prediction model, it lands where classifier-free guidance with the exact conditional model does."""
    from diffusion import make_schedule

    data = G.GuidanceData.from_name("gaussians8:plus-cross", n=2000)
    schedule = make_schedule("linear", 1000)
    exact_v = data.mixture.model(schedule, "v_prediction")

    class ExactV:                      # the exact mixture standing in for a learned v-prediction toy model
        prediction_type = "v_prediction"

        def __init__(self):
            self.schedule = schedule

        def __call__(self, x, t, y=None):
            return exact_v(x, t, y)
    model = ExactV()
    x_T = torch.randn(400, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    options = {}
    steered = G._classifier_run(model, data, x_T, 1, 2.5, "ddim", 50, 0, options)
    cfg = G._run(model, data, x_T, 1, 2.5, "ddim", 50, 0, options, exact=True)
    assert abs(steered.x0 - cfg.x0).max() < 1e-3
    plain = G._run(model, data, x_T, 1, 1.0, "ddim", 50, 0, options, exact=True).x0     # w = 1: not the same
    assert abs(steered.x0 - plain).max() > 0.05
