"""k-NN precision and recall (diffusion/fidelity.py), calibrated on draws whose answer is known."""
import pytest
import torch

from diffusion import toy
from diffusion.fidelity import K, SAMPLES, precision_recall

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WORD = "text:DIFFUSION"


def draw(name, seed):
    return toy.make_dataset(name, SAMPLES, seed)


@pytest.mark.parametrize("name", ["moons", "checkerboard", "gaussians8", WORD, "gmm1d"])
def test_a_fresh_draw_of_the_data_scores_high_on_both(name):
    pr = precision_recall(draw(name, 1), name)
    assert pr.precision >= 0.95 and pr.recall >= 0.95 and pr.n == SAMPLES, pr


def test_pure_noise_is_imprecise_and_a_blurred_word_is_too():
    assert precision_recall(torch.randn(SAMPLES, 2, generator=torch.Generator().manual_seed(0)), WORD).precision <= 0.5
    blurred = draw(WORD, 2) + 0.05 * torch.randn(SAMPLES, 2, generator=torch.Generator().manual_seed(3))
    pr = precision_recall(blurred, WORD)
    assert pr.precision <= 0.75 and pr.recall >= 0.9, pr          # it covers the word, but off its strokes


def test_samples_collapsed_onto_half_the_data_miss_recall_not_precision():
    x = draw("moons", 4)
    half = x[x[:, 0] < x[:, 0].median()]
    half = half.repeat(3, 1)[:SAMPLES]
    half = half + 1e-3 * torch.randn(half.shape, generator=torch.Generator().manual_seed(5))
    pr = precision_recall(half, "moons")
    assert pr.recall <= 0.6 and pr.precision >= 0.9, pr


def test_exact_cases_and_determinism():
    ref = draw("moons", 6)
    assert precision_recall(ref, ref) == (1.0, 1.0, SAMPLES)             # the data itself
    assert precision_recall(ref + 100.0, ref)[:2] == (0.0, 0.0)          # far away: nothing overlaps
    x = draw("moons", 7)
    assert precision_recall(x, "moons") == precision_recall(x.clone(), "moons")
    assert precision_recall(torch.cat([x, x]), "moons") == precision_recall(x, "moons")   # first SAMPLES only


def test_bad_input_is_refused_with_a_message():
    with pytest.raises(ValueError, match=r"samples must have shape \[n, d\] with n > 3"):
        precision_recall(torch.zeros(K, 2), "moons")
    with pytest.raises(ValueError, match="samples contain NaN or inf"):
        precision_recall(torch.full((10, 2), float("nan")), "moons")
    with pytest.raises(ValueError, match="samples are 1-D but dataset 'moons' is 2-D"):
        precision_recall(torch.zeros(10, 1), "moons")
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        precision_recall(torch.zeros(10, 2), "nope")
