"""The toy sample-quality figure (diffusion/metrics.py): normalisation, sensitivity, determinism, bad input."""
import math

import pytest
import torch

from diffusion import toy
from diffusion.metrics import CHUNK, measure, quality, sliced_wasserstein

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/conftest.py


def test_sliced_wasserstein_closed_forms():
    x = torch.randn(1000, 1, generator=torch.Generator().manual_seed(0))
    assert sliced_wasserstein(x, x + 0.7) == pytest.approx(0.7, rel=1e-6)        # 1-D: W1 of a shift
    y = torch.randn(1000, 2, generator=torch.Generator().manual_seed(1))
    # 2-D shift by v: mean over 64 evenly spaced directions of |v . u| = |v| * mean|cos| ~ |v| * 2 / pi
    assert sliced_wasserstein(y, y + torch.tensor([0.3, 0.4])) == pytest.approx(0.5 * 2 / math.pi, rel=2e-3)
    assert sliced_wasserstein(y, y[torch.randperm(1000)]) == 0.0                 # order does not matter
    # different sizes: W1 between the empirical measures, via their quantile functions
    assert sliced_wasserstein(torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [0.0], [1.0]])) == pytest.approx(1 / 6)
    assert sliced_wasserstein(torch.tensor([[0.0], [2.0]]), torch.tensor([[0.0], [1.0], [2.0]])) == pytest.approx(1 / 3)


@pytest.mark.parametrize("name", ["moons", "gaussians8", "checkerboard", "gmm1d", "text:HI"])
def test_a_fresh_draw_scores_about_one(name):
    scores = [quality(toy.make_dataset(name, 10_000, seed=100 + s), name) for s in range(3)]
    assert all(0.65 < q < 1.4 for q in scores), scores
    assert 0.8 < sum(scores) / 3 < 1.2, scores


@pytest.mark.parametrize("name", ["moons", "gaussians8", "gmm1d"])
def test_worse_clouds_score_clearly_more(name):
    x = toy.make_dataset(name, 10_000, seed=1)
    g = torch.Generator().manual_seed(0)
    fresh = quality(x, name)
    shifted = quality(x + 0.2, name)
    blurred = quality(x + 0.3 * torch.randn(x.shape, generator=g), name)
    shrunk = quality(0.8 * x, name)
    collapsed = quality(x.mean(0).expand_as(x) + 0.01 * torch.randn(x.shape, generator=g), name)
    assert shifted > 2 * fresh and shrunk > 2 * fresh and blurred > 1.5 * fresh, (fresh, shifted, shrunk, blurred)
    assert collapsed > 8, collapsed


def test_deterministic_and_independent_of_extra_points():
    x = toy.make_dataset("moons", 5_500, seed=3)
    assert quality(x, "moons") == quality(x.clone(), "moons")
    assert quality(x, "moons") == quality(x[:5000], "moons")               # 5 chunks of CHUNK; the rest unused
    assert CHUNK == 1000


def test_small_samples_are_compared_at_their_own_size():
    scores = [quality(toy.make_dataset("moons", 300, seed=s), "moons") for s in range(10, 16)]
    assert 0.7 < sum(scores) / len(scores) < 1.3
    assert quality(toy.make_dataset("moons", 300, seed=1) * 0.5, "moons") > 2


def test_array_callable_and_normal_references():
    data = toy.make_dataset("gaussians8", 20_000, seed=0)
    fresh = toy.make_dataset("gaussians8", 10_000, seed=9)
    for ref in (data, lambda n, seed: toy.make_dataset("gaussians8", n, seed=seed)):
        assert 0.7 < quality(fresh, ref) < 1.35
        assert quality(fresh * 0.8, ref) > 2
    noise = torch.randn(10_000, 2, generator=torch.Generator().manual_seed(0))
    assert 0.7 < quality(noise, "normal") < 1.35 and quality(noise + 0.2, "normal") > 2
    assert 0.7 < quality(noise[:, :1], "normal") < 1.35


def test_the_baseline_is_the_expected_distance_of_a_fresh_draw():
    """The closed-form baseline equals a Monte-Carlo average over fresh draws (within its error)."""
    from diffusion.metrics import POPULATION, SEED, _expected_fresh_distance, _projected
    pop = _projected(toy.make_dataset("gmm1d", POPULATION, SEED).double())
    draws = [sliced_wasserstein(toy.make_dataset("gmm1d", 500, seed=100 + j), toy.make_dataset("gmm1d", POPULATION,
                                                                                                SEED))
             for j in range(200)]
    mc = sum(draws) / len(draws)
    assert _expected_fresh_distance(pop, 500) == pytest.approx(mc, rel=0.05)


@pytest.mark.parametrize("samples, reference, match", [
    (torch.full((100, 2), float("nan")), "moons", "NaN"),
    (torch.zeros(100, 3), "moons", "shape"),
    (torch.zeros(1, 2), "moons", "n >= 2"),
    (torch.zeros(100, 1), "moons", "1-D but dataset 'moons' is 2-D"),
    (torch.zeros(100, 2), "moon", "unknown dataset"),
    (torch.zeros(100, 2), torch.zeros(50, 1), "2-D but the reference is 1-D"),
])
def test_bad_input(samples, reference, match):
    with pytest.raises(ValueError, match=match):
        quality(samples, reference)


def test_measure_uses_the_models_own_data():
    m = toy.fit("gmm1d", seed=0, steps=200, hidden=32, num_timesteps=100)   # measure runs all T ddpm steps
    q = measure(m, n=1000)
    assert math.isfinite(q) and q > 0
    assert measure(m, "gmm1d", n=1000) == q
    flow = toy.fit("gmm1d", seed=0, steps=50, hidden=32, objective="flow_matching")
    assert math.isfinite(measure(flow, n=1000))
