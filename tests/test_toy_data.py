"""Toy data sets (diffusion/toy/data.py): shapes, determinism, the standardised scale, mixtures, words, drawings."""
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from diffusion import toy
from diffusion.exact import GaussianMixture
from diffusion.metrics import quality

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/conftest.py


NAMES = sorted(toy.DATASETS) + ["text:HELLO"]


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_and_determinism(name):
    x = toy.make_dataset(name, n=500, seed=3)
    d = 2 if name.startswith("text:") else toy.DATASETS[name][0]
    assert x.shape == (500, d) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert torch.equal(x, toy.make_dataset(name, n=500, seed=3))
    assert not torch.equal(x, toy.make_dataset(name, n=500, seed=4))
    assert toy.dataset_dim(name) == d


@pytest.mark.parametrize("name", NAMES)
def test_standardised_scale(name):
    """Mean 0 and mean per-coordinate variance 1 (E|x|^2 = d), one scale factor for all axes."""
    x = toy.make_dataset(name, n=100_000, seed=11).double()
    assert x.mean(0).abs().max() < 0.02
    assert abs(x.var(0).mean().item() - 1) < 0.03


def test_shape_is_kept_by_the_scaling():
    # one scale factor for both axes: moons stay wider than tall (x-range ~ 2x the y-range)
    x = toy.make_dataset("moons", n=20_000, seed=0)
    width, height = (x.max(0).values - x.min(0).values).tolist()
    assert 1.7 < width / height < 2.3


@pytest.mark.parametrize("name", ["gaussians8", "gmm1d", "bimodal"])
def test_mixture_datasets_come_with_their_exact_mixture(name):
    gm = toy.dataset_mixture(name)
    assert isinstance(gm, GaussianMixture) and gm.dim == toy.dataset_dim(name)
    torch.testing.assert_close(gm.mean(), torch.zeros(gm.dim, dtype=torch.float64), atol=1e-12, rtol=0)
    assert gm.covariance().trace().item() == pytest.approx(gm.dim, rel=1e-12)
    # draws of the data set and of the mixture are the same distribution
    data = toy.make_dataset(name, n=4000, seed=5)
    assert quality(gm.sample(4000, torch.Generator().manual_seed(6)), name) < 1.4
    # and the data's average log-likelihood under the mixture is its negative entropy (MC estimate vs fresh draw)
    ref = gm.sample(20_000, torch.Generator().manual_seed(7))
    assert gm.log_prob(data).mean().item() == pytest.approx(gm.log_prob(ref).mean().item(), abs=0.05)


def test_non_mixtures_have_no_mixture():
    assert toy.dataset_mixture("moons") is None and toy.dataset_mixture("text:HI") is None
    x = toy.make_dataset("gaussians8", 4000, seed=0)
    assert (toy.dataset_mixture("gaussians8").responsibilities(x).max(1).values > 0.99).float().mean() > 0.99


def test_text_renders_the_word():
    x = toy.make_dataset("text:HELLO", n=5000, seed=0)
    width, height = (x.max(0).values - x.min(0).values).tolist()
    assert width > 3 * height                        # a word is wide
    wide = toy.make_dataset("text:HELLO WORLD", n=5000, seed=0)
    assert not torch.equal(x, wide)
    i = toy.make_dataset("text:I", n=5000, seed=0)   # a single "I": taller than wide
    w_i, h_i = (i.max(0).values - i.min(0).values).tolist()
    assert h_i > 2 * w_i


@pytest.mark.parametrize("bad, match", [
    ("mooons", "unknown dataset 'mooons'; choose one of"),
    ("", "unknown dataset"),
    ("text:   ", "empty or only spaces"),
    ("text:", "empty or only spaces"),
    ("text:" + "A" * 40, "too long"),
])
def test_bad_names(bad, match):
    with pytest.raises(ValueError, match=match):
        toy.make_dataset(bad, n=10)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError) as err:
        toy.make_dataset("circle", n=10)
    assert "circles" in str(err.value) and "text:WORD" in str(err.value)


@pytest.mark.parametrize("n", [0, -5, 2.5, toy.MAX_POINTS + 1, True, "100"])
def test_bad_n(n):
    with pytest.raises(ValueError, match="n must be an integer"):
        toy.make_dataset("moons", n=n)


# --- drawings ------------------------------------------------------------------------------------------------
def _drawing():
    """An 'L' shape drawn in black on white, 60x80: a tall bar and a short foot."""
    img = Image.new("L", (60, 80), 255)
    d = ImageDraw.Draw(img)
    d.rectangle([10, 5, 19, 70], fill=0)
    d.rectangle([10, 61, 45, 70], fill=0)
    return img


def test_all_encodings_of_one_drawing_give_the_same_points():
    img = _drawing()
    ink = np.asarray(img) < 128
    ref = toy.points_from_image(img, n=1000, seed=0)
    rgb_light = img.convert("RGB")
    rgb_dark = Image.fromarray(255 - np.asarray(img)).convert("RGB")      # light-on-dark
    rgba = Image.new("RGBA", img.size, (0, 0, 0, 0))                      # strokes opaque on a transparent background
    rgba.putalpha(Image.fromarray((ink * 255).astype(np.uint8)))
    red_on_yellow = np.zeros((80, 60, 3), np.uint8) + np.array([250, 240, 20], np.uint8)
    red_on_yellow[ink] = [200, 10, 10]
    variants = [rgb_light, rgb_dark, rgba, ink, ink.astype(np.float64), (~ink).astype(np.uint8) * 255,
                np.asarray(img)[:, :, None], red_on_yellow, Image.fromarray(red_on_yellow)]
    for v in variants:
        assert torch.equal(toy.points_from_image(v, n=1000, seed=0), ref)


def test_points_lie_on_the_drawing_and_are_standardised():
    img = _drawing()
    x = toy.points_from_image(img, n=20_000, seed=1).double()
    assert x.mean(0).abs().max() < 0.03 and abs(x.var(0).mean().item() - 1) < 0.05
    # undo the standardisation using the known ink pixels: every point falls in an ink pixel
    ink = np.asarray(img) < 128
    rows, cols = np.nonzero(ink)
    centres = torch.tensor(np.stack([cols + 0.5, -(rows + 0.5)], 1), dtype=torch.float64)
    mean, scale = centres.mean(0), ((centres.var(0, unbiased=False) + 1 / 12).sum() / 2).sqrt()
    pix = x * scale + mean
    col, row = pix[:, 0].floor().long(), (-pix[:, 1]).floor().long()
    assert torch.tensor(ink)[row.clamp(0, 79), col.clamp(0, 59)].all()
    # jittered within pixels: not on a lattice
    assert len(torch.unique(x[:, 0])) > 10_000


@pytest.mark.parametrize("image, match", [
    (Image.new("L", (40, 40), 255), "empty"),
    (Image.new("RGBA", (40, 40), (0, 0, 0, 0)), "empty"),
    (np.zeros((30, 30), bool), "empty"),
    (np.zeros((30, 30, 5)), "image must be"),
    (np.zeros(30), "image must be"),
    (np.full((10, 10), np.nan), "NaN"),
])
def test_bad_drawings(image, match):
    with pytest.raises(ValueError, match=match):
        toy.points_from_image(image, n=100)


def test_points_from_image_checks_n():
    with pytest.raises(ValueError, match="n must be"):
        toy.points_from_image(_drawing(), n=0)


def test_huge_drawings_work():
    """More pixels than torch.multinomial's 2^24 categories: points come from the ink pixels directly."""
    mask = np.zeros((4200, 4200), bool)                    # 17.6 M pixels
    mask[100:300, 4000:4100] = True
    x = toy.points_from_image(mask, n=1000, seed=0)
    assert x.shape == (1000, 2) and torch.isfinite(x).all()
    assert x[:, 1].std() > 1.5 * x[:, 0].std()              # a tall bar stays tall
