"""Two figures that agree with the eye: how much of what a model draws lies on the data (precision), and how much
of the data it draws (recall).

k-nearest-neighbour precision and recall (Kynkäänniemi et al. 2019, "Improved precision and recall metric for
assessing generative models"): around every real point put a ball reaching its k-th nearest real neighbour; the
union of the balls is the estimated support of the data. **Precision** is the share of samples inside it. **Recall**
is the same with the roles swapped: the share of real points inside the union of the samples' own k-NN balls. A
blurred band over a word has high recall and low precision; a model that draws half the data has high precision and
low recall; a fresh draw of the data scores close to 1 on both.

Fixed, so that figures compare: k = :data:`K` = 3 and :data:`SAMPLES` = 4,000 points on each side (the first 4,000
samples; a named data set draws 4,000 fresh points with seed :data:`SEED`; an array reference is subsampled evenly
to as many points as there are samples). Distances are Euclidean in the data's own coordinates, exact (no
approximate neighbours), in float64.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["PrecisionRecall", "precision_recall", "K", "SAMPLES", "SEED", "MEANING"]

K = 3               # the k of the k-NN balls (Kynkäänniemi et al. use 3)
SAMPLES = 4000      # points on each side
SEED = 9_001        # the reference draw's seed (a named data set)
MEANING = {
    "precision": "share of the model's samples that lie on the data",
    "recall": "share of the data that the model's samples cover",
}


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float
    n: int            # points on each side


def _points(x, what: str) -> torch.Tensor:
    x = torch.as_tensor(x).detach().to(torch.float64)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[1] not in (1, 2) or len(x) <= K:
        raise ValueError(f"{what} must have shape [n, d] with n > {K} and d in (1, 2), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or inf")
    return x


def _reference(reference, n: int, dim: int) -> torch.Tensor:
    if isinstance(reference, str):
        from .toy.data import dataset_dim, make_dataset
        if dataset_dim(reference) != dim:
            raise ValueError(f"samples are {dim}-D but dataset {reference!r} is {dataset_dim(reference)}-D")
        return make_dataset(reference, n, SEED).to(torch.float64)
    if callable(reference):
        return _points(reference(n, SEED), "reference draws")[:n]
    data = _points(reference, "reference")
    if data.shape[1] != dim:
        raise ValueError(f"samples are {dim}-D but the reference is {data.shape[1]}-D")
    if len(data) > n:
        data = data[torch.linspace(0, len(data) - 1, n).round().long()]
    return data


def _radii(x: torch.Tensor) -> torch.Tensor:
    """Each point's distance to its K-th nearest neighbour in the same set (itself excluded)."""
    return torch.cdist(x, x).topk(K + 1, dim=1, largest=False).values[:, K]    # topk: ~7x faster than kthvalue


def _inside(x: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    """Share of the points x that lie in some ball (centre, radius)."""
    return (torch.cdist(x, centres) <= radii[None, :]).any(1).double().mean().item()


def precision_recall(samples, reference) -> PrecisionRecall:
    """k-NN precision and recall of ``samples`` [n, d] against ``reference`` (a data set name, a callable
    ``draw(n, seed)`` or an array [m, d]), on the fixed sizes of the module docstring."""
    x = _points(samples, "samples")[:SAMPLES]
    real = _reference(reference, len(x), x.shape[1])
    if len(real) <= K:
        raise ValueError(f"the reference needs more than {K} points, got {len(real)}")
    return PrecisionRecall(_inside(x, real, _radii(real)), _inside(real, x, _radii(x)), len(x))
