"""Toy data sets in 1-D and 2-D, on one standardised scale.

``make_dataset(name, n, seed)`` returns a float32 tensor [n, d]. Names: see :data:`DATASETS`, plus ``"text:WORD"``
(points spread over a word rendered with Pillow's bundled default font). ``points_from_image`` samples a user's
drawing or mask. ``dataset_mixture(name)`` gives the exact :class:`~diffusion.exact.GaussianMixture` of the data
sets that are one (``gaussians8``, ``gmm1d``, ``bimodal``), so the lab can draw exact fields.

**Standardised scale.** Every data set is centred and scaled by *one* factor for all axes (the shape is kept), so
that its population has mean 0 and mean per-coordinate variance 1 (E|x|^2 = d). The map is fixed per data set, not
re-fitted per draw: exact for mixtures, ``uniform`` and ``exponential``; otherwise estimated once from a reference
draw of :data:`REFERENCE_DRAW` points (seed :data:`REFERENCE_SEED`), so its moments are exact to ~0.3 %.
Drawings and words are in image orientation: up in the picture is +y.

Shapes follow the usual toy benchmarks (scikit-learn's moons/circles/swiss roll; the checkerboard and 8 Gaussians
of Grathwohl et al. 2019, FFJORD).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ..exact import GaussianMixture

__all__ = ["DATASETS", "MAX_POINTS", "make_dataset", "points_from_image", "ink_mask", "dataset_mixture", "dataset_dim",
           "word_mask", "TEXT_PREFIX"]

MAX_POINTS = 200_000          # the most points one call may draw
MAX_WORD = 24                 # the longest "text:" word
FONT_SIZE = 64                # pixels; the rendered word is sampled at this resolution
REFERENCE_DRAW = 262_144      # points in the reference draw that fixes a non-mixture data set's scale
REFERENCE_SEED = 0xD1FF

# name -> (dimension, one-line description). "text:WORD" is accepted besides these.
DATASETS = {
    "moons": (2, "two interleaving half circles"),
    "swiss_roll": (2, "a rolled-up sheet seen from its end"),
    "circles": (2, "two concentric rings"),
    "gaussians8": (2, "eight Gaussians on a circle (an exact mixture)"),
    "checkerboard": (2, "uniform on the black squares of a 4x4 board"),
    "spiral": (2, "two interleaved spiral arms"),
    "gmm1d": (1, "three unequal Gaussians (an exact mixture)"),
    "bimodal": (1, "two equal, well separated Gaussians (an exact mixture)"),
    "uniform": (1, "uniform on an interval: hard edges"),
    "exponential": (1, "exponential: a hard edge and a long tail"),
}
TEXT_PREFIX = "text:"


# --- raw shapes (before standardisation); each takes (n, generator) and returns float64 [n, d] ------------------
def _u(n, g):
    return torch.rand(n, generator=g, dtype=torch.float64)


def _normal(shape, g):
    return torch.randn(shape, generator=g, dtype=torch.float64)


def moons_labelled(n, g):
    """Raw moons and which moon each point is on (True: the upper one)."""
    theta = math.pi * _u(n, g)
    upper = torch.rand(n, generator=g) < 0.5
    x = torch.where(upper, theta.cos(), 1 - theta.cos())
    y = torch.where(upper, theta.sin(), 0.5 - theta.sin())
    return torch.stack([x, y], 1) + 0.06 * _normal((n, 2), g), upper


def _moons(n, g):
    return moons_labelled(n, g)[0]


def _swiss_roll(n, g):
    t = 1.5 * math.pi * (1 + 2 * _u(n, g).sqrt())          # sqrt: roughly uniform along the arc
    return torch.stack([t * t.cos(), t * t.sin()], 1) + 0.35 * _normal((n, 2), g)


def _circles(n, g):
    theta = 2 * math.pi * _u(n, g)
    r = torch.where(torch.rand(n, generator=g) < 0.5, 1.0, 0.5).double()
    return r[:, None] * torch.stack([theta.cos(), theta.sin()], 1) + 0.03 * _normal((n, 2), g)


def _checkerboard(n, g):
    col = torch.randint(0, 4, (n,), generator=g)
    row = 2 * torch.randint(0, 2, (n,), generator=g) + col % 2   # black squares: row + col even
    return torch.stack([col + _u(n, g), row + _u(n, g)], 1) - 2.0


def _spiral(n, g):
    theta = 3 * math.pi * _u(n, g).sqrt() + 0.5                  # sqrt: roughly uniform along the arm
    arm = torch.where(torch.rand(n, generator=g) < 0.5, 0.0, math.pi).double()
    pts = theta[:, None] * torch.stack([(theta + arm).cos(), (theta + arm).sin()], 1)
    return pts + 0.25 * _normal((n, 2), g)


def _uniform(n, g):
    return (2 * _u(n, g) - 1)[:, None] * math.sqrt(3.0)       # variance 1 exactly


def _exponential(n, g):
    return (-torch.log1p(-_u(n, g)) - 1.0)[:, None]             # Exp(1) - 1: mean 0, variance 1 exactly


_SHAPES = {"moons": _moons, "swiss_roll": _swiss_roll, "circles": _circles, "checkerboard": _checkerboard,
           "spiral": _spiral, "uniform": _uniform, "exponential": _exponential}
_EXACTLY_STANDARD = {"uniform", "exponential"}


def _raw_mixture(name):
    if name == "gaussians8":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        means = torch.stack([angles.cos(), angles.sin()], 1)
        return GaussianMixture.isotropic(torch.ones(8), means, torch.full((8,), 0.1))
    if name == "gmm1d":
        return GaussianMixture.isotropic([0.2, 0.5, 0.3], [-2.0, 0.0, 2.5], [0.3, 0.5, 0.25])
    if name == "bimodal":
        return GaussianMixture.isotropic([0.5, 0.5], [-1.0, 1.0], [0.15, 0.15])
    return None


def _standardise_map(mean: torch.Tensor, cov_trace: float, d: int):
    """(scale, shift) with scale * (x - mean) having E|.|^2 = d: one scale factor for all axes."""
    scale = math.sqrt(d / cov_trace)
    return scale, -scale * mean


@functools.lru_cache(maxsize=None)
def _named_map(name):
    mixture = _raw_mixture(name)
    d = DATASETS[name][0]
    if mixture is not None:
        return _standardise_map(mixture.mean(), mixture.covariance().trace().item(), d)
    if name in _EXACTLY_STANDARD:
        return 1.0, torch.zeros(d, dtype=torch.float64)
    ref = _SHAPES[name](REFERENCE_DRAW, torch.Generator().manual_seed(REFERENCE_SEED))
    return _standardise_map(ref.mean(0), ref.var(0).sum().item(), d)


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_POINTS:
        raise ValueError(f"n must be an integer in [1, {MAX_POINTS}], got {n!r}")


def _valid_names():
    return sorted(DATASETS) + [TEXT_PREFIX + "WORD"]


def dataset_dim(name: str) -> int:
    """1 or 2: the dimension of data set ``name``."""
    if isinstance(name, str) and name.startswith(TEXT_PREFIX):
        return 2
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {_valid_names()}")
    return DATASETS[name][0]


def make_dataset(name: str, n: int = 2000, seed: int = 0) -> torch.Tensor:
    """n points of data set ``name`` on the standardised scale: float32 [n, d]. Same seed, same points."""
    _check_n(n)
    if isinstance(name, str) and name.startswith(TEXT_PREFIX):
        return _sample_pixels(*_word_pixels(_check_word(name[len(TEXT_PREFIX):])), n, seed)
    dataset_dim(name)
    g = torch.Generator().manual_seed(int(seed))
    mixture = _raw_mixture(name)
    raw = mixture.sample(n, g, dtype=torch.float64) if mixture is not None else _SHAPES[name](n, g)
    scale, shift = _named_map(name)
    return (raw * scale + shift).to(torch.float32)


def dataset_mixture(name: str) -> GaussianMixture | None:
    """The exact GaussianMixture of data set ``name`` on the standardised scale, or None if it is not a mixture."""
    dataset_dim(name)
    mixture = None if name.startswith(TEXT_PREFIX) else _raw_mixture(name)
    return None if mixture is None else mixture.affine(*_named_map(name))


# --- words and drawings: an ink pixel at random, jittered within it --------------------------------
def _check_word(word):
    if not word.strip():
        raise ValueError(f"the word in 'text:WORD' is empty or only spaces ({word!r}); give e.g. 'text:HELLO'")
    if len(word) > MAX_WORD:
        raise ValueError(f"the word {word!r} is too long ({len(word)} characters); at most {MAX_WORD}")
    return word


def word_mask(word: str) -> tuple[np.ndarray, np.ndarray]:
    """The word rendered with Pillow's bundled default font (deterministic for a Pillow version): its ink mask
    [H, W] and, per character, the pixel column where that character ends [len(word)]."""
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.load_default(size=FONT_SIZE)
    left, top, right, bottom = font.getbbox(word)
    image = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(image).text((4 - left, 4 - top), word, fill=255, font=font)
    mask = np.asarray(image) >= 128
    if not mask.any():
        raise ValueError(f"the word {word!r} renders no visible pixels; use letters or digits")
    ends = np.array([4 - left + font.getlength(word[:i + 1]) for i in range(len(word))])
    return mask, ends


@functools.lru_cache(maxsize=32)
def _word_pixels(word):
    return _ink_pixels(word_mask(word)[0])


def _ink_pixels(mask: np.ndarray):
    """Centres (x, y) of the ink pixels, float64 [m, 2] (+y is up in the picture), and the exact standardising map
    of "uniform over the ink pixels" (pixel centres plus the uniform jitter within a pixel, variance 1/12 per axis)."""
    rows, cols = np.nonzero(mask)
    centres = torch.as_tensor(np.stack([cols + 0.5, -(rows + 0.5)], 1), dtype=torch.float64)
    mean = centres.mean(0)
    var = ((centres - mean) ** 2).mean(0) + 1 / 12
    return centres, _standardise_map(mean, var.sum().item(), 2)


def _sample_pixels(centres, standard_map, n, seed, return_index: bool = False):
    """n points: an ink pixel uniformly at random (no limit on the image size), jittered uniformly within it
    (``return_index``: and which pixel each came from)."""
    g = torch.Generator().manual_seed(int(seed))
    index = torch.randint(0, len(centres), (n,), generator=g)
    pts = centres[index] + torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5
    scale, shift = standard_map
    pts = (pts * scale + shift).to(torch.float32)
    return (pts, index) if return_index else pts


def ink_mask(image) -> np.ndarray:
    """A boolean mask of the drawn pixels of a PIL image or array (see :func:`points_from_image`)."""
    try:
        from PIL import Image
        if isinstance(image, Image.Image):
            transparent = image.mode in ("RGBA", "LA", "P", "PA")
            image = np.asarray(image.convert("RGBA" if transparent else "RGB"))
    except ImportError:  # pragma: no cover - Pillow is a dependency
        pass
    arr = np.asarray(image)
    if arr.dtype == bool:
        if arr.ndim != 2:
            raise ValueError(f"a boolean mask must be 2-D [H, W], got shape {arr.shape}")
        return arr
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))) or min(arr.shape[:2]) < 2:
        raise ValueError(f"image must be [H, W], [H, W, 3] or [H, W, 4] with H, W >= 2; got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"image must hold numbers, got dtype {arr.dtype}")
    x = arr.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("image contains NaN or inf")
    if np.issubdtype(arr.dtype, np.integer) or x.max() > 1.0:
        x = x / 255.0                                                   # 8-bit range
    if x.ndim == 3 and x.shape[2] == 4:
        alpha = x[:, :, 3]
        if alpha.min() < 0.5:                                           # transparent background: strokes = opaque
            return alpha >= 0.5
        x = x[:, :, :3]
    if x.ndim == 2:
        x = x[:, :, None]
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    background = np.median(border, axis=0)                              # the colour most of the edge has
    return np.abs(x - background).max(axis=2) > 0.4                    # ink: clearly unlike the background


def points_from_image(image, n: int = 2000, seed: int = 0) -> torch.Tensor:
    """n points spread uniformly over the drawn pixels of ``image``, standardised: float32 [n, 2].

    ``image``: a PIL image or an array [H, W], [H, W, 3] or [H, W, 4] (uint8 0..255 or float 0..1), or a boolean
    mask (True = mass). With a transparent background the opaque pixels are the drawing; otherwise the background
    colour is the median colour of the image border and the drawing is every pixel that differs from it by more than
    0.4 (of the full range) in some channel -- so dark-on-light and light-on-dark both work. Each point is jittered
    uniformly within its pixel. An empty drawing raises ValueError.
    """
    _check_n(n)
    mask = ink_mask(image)
    if not mask.any():
        raise ValueError("the drawing is empty: no pixel differs clearly from the background; draw something")
    return _sample_pixels(*_ink_pixels(mask), n, seed)
