"""Labelled toy data: points with a class each, for conditioning and guidance.

``labelled_dataset(name, n, seed)`` returns (points float32 [n, d], labels int64 [n], class names). The points are
exactly :func:`~diffusion.toy.data.make_dataset`'s for the same data set and seed; the label says which part of the
shape a point came from:

* ``moons``: which moon (2 classes);
* ``gaussians8``: which of the eight Gaussians (8 classes, one component each);
* ``gaussians8:plus-cross``: the same points in two classes of four Gaussians each, "+" (0°, 90°, 180°, 270°) and
  "×" (45°, 135°, ...) -- a class with several components, interleaved with the other class's, so that the class
  weights and what guidance pushes away from both mean something;
* ``text:WORD``: which letter (a class per letter that has ink; a repeated letter is one class per occurrence).

A drawing gives labelled points too (:func:`labelled_drawing`): one class per **colour** of ink (each drawn pixel
goes to the nearest of :data:`DRAWING_COLOURS`, the Okabe-Ito palette) or, when the drawing has two or more
non-empty layers, one class per **layer**. Points are spread uniformly over all the ink, so each class's share of
the points is its share of the ink.

:func:`labelled_mixture` gives the exact labelled :class:`~diffusion.exact.GaussianMixture` (a joint p(x, y)) of
the sets that are mixtures, so every conditional and guided answer has its exact counterpart.
"""
from __future__ import annotations

import numpy as np
import torch

from ..exact import GaussianMixture
from .data import (TEXT_PREFIX, _check_n, _check_word, _ink_pixels, _named_map, _sample_pixels, dataset_mixture,
                   ink_mask, moons_labelled, word_mask)

__all__ = ["LABELLED", "labelled_dataset", "labelled_mixture", "class_names", "check_labelled", "class_weights",
           "base_dataset", "labelled_drawing", "DRAWING_COLOURS", "MIN_CLASS_SHARE"]

LABELLED = {
    "moons": "which moon (2 classes)",
    "gaussians8": "which of the eight Gaussians (8 classes)",
    "gaussians8:plus-cross": "the eight Gaussians as + and × (2 classes of 4 Gaussians each)",
}
_ANGLES = [f"{45 * k}°" for k in range(8)]


def check_labelled(name: str) -> str:
    """``name`` if it is a labelled data set, else ValueError naming the choices."""
    if isinstance(name, str) and name.startswith(TEXT_PREFIX):
        _check_word(name[len(TEXT_PREFIX):])
        return name
    if name not in LABELLED:
        raise ValueError(f"unknown labelled data set {name!r}; choose one of {sorted(LABELLED) + ['text:WORD']}")
    return name


def base_dataset(name: str) -> str:
    """The unlabelled data set whose points ``name`` labels (``gaussians8:plus-cross`` -> ``gaussians8``)."""
    return check_labelled(name).split(":")[0] if not name.startswith(TEXT_PREFIX) else name


def _letters(word: str):
    """Per ink pixel of the rendered word, the index of its letter class; and the class names."""
    mask, ends = word_mask(word)
    cols = np.nonzero(mask)[1]                                     # the order _ink_pixels uses
    char = np.searchsorted(ends, cols + 0.5)                       # the character whose advance covers the column
    char = np.minimum(char, len(word) - 1)
    inked = sorted(set(char.tolist()))
    counts = {c: sum(1 for i in inked if word[i] == c) for c in set(word)}
    seen: dict[str, int] = {}
    names = []
    for i in inked:
        ch = word[i]
        seen[ch] = seen.get(ch, 0) + 1
        names.append(ch if counts[ch] == 1 else f"{ch}{seen[ch]}")
    remap = {c: k for k, c in enumerate(inked)}
    return np.array([remap[c] for c in char.tolist()]), names, mask


def class_names(name: str) -> list[str]:
    """The class names of labelled data set ``name`` (label k is class_names[k])."""
    name = check_labelled(name)
    if name.startswith(TEXT_PREFIX):
        return _letters(name[len(TEXT_PREFIX):])[1]
    return {"moons": ["upper moon", "lower moon"], "gaussians8": list(_ANGLES),
            "gaussians8:plus-cross": ["+ (0°, 90°, 180°, 270°)", "× (45°, 135°, 225°, 315°)"]}[name]


def labelled_mixture(name: str) -> GaussianMixture | None:
    """The exact labelled mixture of ``name`` on the standardised scale, or None if the data set is not a mixture."""
    name = check_labelled(name)
    if not name.startswith("gaussians8"):
        return None
    m = dataset_mixture("gaussians8")
    labels = torch.arange(8) if name == "gaussians8" else torch.arange(8) % 2
    return GaussianMixture(m.weights, m.means, m.covariances, labels)


def labelled_dataset(name: str, n: int = 2000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(points [n, d] float32, labels [n] int64, class names): the points of ``make_dataset`` for the same data set
    and seed, each with its class."""
    name = check_labelled(name)
    _check_n(n)
    g = torch.Generator().manual_seed(int(seed))
    if name.startswith(TEXT_PREFIX):
        word = name[len(TEXT_PREFIX):]
        pixel_class, names, mask = _letters(word)
        pts, index = _sample_pixels(*_ink_pixels(mask), n, seed, return_index=True)
        return pts, torch.as_tensor(pixel_class, dtype=torch.long)[index], names
    if name == "moons":
        raw, upper = moons_labelled(n, g)
        scale, shift = _named_map("moons")
        return (raw * scale + shift).to(torch.float32), (~upper).long(), class_names(name)
    mixture = labelled_mixture(name)
    pts, labels = mixture.sample(n, g, return_labels=True)
    return pts, labels, class_names(name)


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The share of each class among ``labels``: [num_classes]."""
    return torch.bincount(labels, minlength=num_classes).double() / max(len(labels), 1)



# Okabe & Ito's colour-blind-safe palette, in the order the lab's pictures give classes their colours
DRAWING_COLOURS = {"orange": (230, 159, 0), "blue": (0, 114, 178), "bluish green": (0, 158, 115),
                   "vermillion": (213, 94, 0), "reddish purple": (204, 121, 167), "sky blue": (86, 180, 233),
                   "black": (0, 0, 0), "yellow": (240, 228, 66)}
MIN_CLASS_SHARE = 0.01     # a colour or layer with less of the ink than this is a stray mark, not a class


def _rgb(image) -> np.ndarray:
    from PIL import Image
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.float64)
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    arr = arr[:, :, :3].astype(np.float64)
    return arr * 255.0 if arr.max() <= 1.0 else arr


def _colour_classes(image) -> tuple[np.ndarray, list[str]]:
    """Per pixel: the index of the nearest palette colour for ink, -1 for background; and the colours' names."""
    mask = ink_mask(image)
    rgb = _rgb(image)
    if rgb.shape[:2] != mask.shape:
        raise ValueError(f"the drawing's colours ({rgb.shape[:2]}) and its ink ({mask.shape}) differ in size")
    palette = np.array(list(DRAWING_COLOURS.values()), dtype=np.float64)
    nearest = ((rgb[mask][:, None, :] - palette[None]) ** 2).sum(-1).argmin(1)
    out = np.full(mask.shape, -1, dtype=np.int64)
    out[mask] = nearest
    return out, list(DRAWING_COLOURS)


def _layer_classes(layers) -> tuple[np.ndarray, list[str]]:
    """Per pixel: the index of the topmost layer with ink there, -1 elsewhere; and "layer 1", "layer 2", ..."""
    masks = [ink_mask(layer) for layer in layers]
    shapes = {m.shape for m in masks}
    if len(shapes) != 1:
        raise ValueError(f"the drawing's layers differ in size: {sorted(shapes)}")
    out = np.full(masks[0].shape, -1, dtype=np.int64)
    for k, m in enumerate(masks):
        out[m] = k                                                   # a later (upper) layer wins where they overlap
    return out, [f"layer {k + 1}" for k in range(len(masks))]


def labelled_drawing(image=None, layers=(), n: int = 2000, seed: int = 0):
    """(points [n, 2] float32, labels [n] int64, class names) from a drawing: one class per layer when two or more
    ``layers`` have ink, else one class per ink colour of ``image`` (:data:`DRAWING_COLOURS`). Points are spread
    uniformly over the ink (jittered within each pixel) and standardised as :func:`~diffusion.toy.data.points_from_image`
    does; classes with less than :data:`MIN_CLASS_SHARE` of the ink are dropped. ValueError if the drawing is empty or
    has fewer than two classes."""
    _check_n(n)
    inked = [layer for layer in layers if layer is not None and ink_mask(layer).any()]
    if len(inked) >= 2:
        pixel_class, names = _layer_classes(inked)
        how = "layers"
    elif image is not None:
        pixel_class, names = _colour_classes(image)
        how = "colours"
    else:
        raise ValueError("the drawing is empty: draw with two or more colours (one class per colour)")
    counts = np.bincount(pixel_class[pixel_class >= 0], minlength=len(names))
    total = int(counts.sum())
    if total == 0:
        raise ValueError("the drawing is empty: no pixel differs clearly from the background; draw something")
    keep = [k for k in range(len(names)) if counts[k] >= MIN_CLASS_SHARE * total]
    if len(keep) < 2:
        found = names[keep[0]] if keep else "nothing"
        raise ValueError(f"a labelled drawing needs two or more classes: draw with two or more {how} (one class "
                         f"each, from {', '.join(DRAWING_COLOURS)}); only {found} was found")
    remap = np.full(len(names), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    pixel_class = np.where(pixel_class >= 0, remap[np.maximum(pixel_class, 0)], -1)
    mask = pixel_class >= 0
    rows, cols = np.nonzero(mask)                                    # the order _ink_pixels uses
    pts, index = _sample_pixels(*_ink_pixels(mask), n, seed, return_index=True)
    labels = torch.as_tensor(pixel_class[rows, cols], dtype=torch.long)[index]
    return pts, labels, [names[k] for k in keep]
