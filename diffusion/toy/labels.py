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

:func:`labelled_mixture` gives the exact labelled :class:`~diffusion.exact.GaussianMixture` (a joint p(x, y)) of
the sets that are mixtures, so every conditional and guided answer has its exact counterpart.
"""
from __future__ import annotations

import numpy as np
import torch

from ..exact import GaussianMixture
from .data import (TEXT_PREFIX, _check_n, _check_word, _ink_pixels, _named_map, _sample_pixels, dataset_mixture,
                   moons_labelled, word_mask)

__all__ = ["LABELLED", "labelled_dataset", "labelled_mixture", "class_names", "check_labelled", "class_weights",
           "base_dataset"]

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

