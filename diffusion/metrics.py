"""A sample-quality figure for toy samples: sliced Wasserstein distance, in units of "a fresh draw of the data".

    quality(samples, reference) = mean_i SW(samples_i, ref_i) / mean_j SW(fresh_j, ref_j)

SW is the sliced 1-Wasserstein distance (Rabin et al. 2011; Bonneel et al. 2015): the mean over directions of the
1-D Wasserstein-1 distance between the projected point sets, exact for two sets of equal size by sorting. A finite
sample is never at distance 0 from another finite sample, so the raw figure is divided by the distance between two
independent draws of the data of the same size: **1.0 means "as close to the data as a fresh draw of the data"**,
lower is not meaningfully better, and 1.5 means 50 % further than sampling noise alone. Because that floor shrinks
like 1/sqrt(size), the size is fixed:

* samples are compared in chunks of :data:`CHUNK` = 1,000 points (fewer samples: one chunk of all of them, with the
  baseline taken at that size); ``n`` samples give ``n // CHUNK`` chunks, averaged (extra points are unused);
* each chunk i is compared with its own reference draw of the data (seed ``SEED + i``); the baseline averages
  :data:`BASELINE_PAIRS` = 16 pairs of independent reference draws (seeds ``SEED + 100000 + ...``), so it is the same
  for every call with the same reference and chunk size;
* directions: 1 in 1-D (exact W1); :data:`PROJECTIONS` = 64 evenly spaced angles in [0, pi) in 2-D (no randomness);
* ``reference``: a data set name (drawn with :func:`diffusion.toy.make_dataset`), a callable ``draw(n, seed)``, or
  an array [m, d], which is resampled with replacement (its empirical distribution is "the data").

:func:`measure` fixes how a trained toy model is scored: :data:`MEASURE_SAMPLES` = 10,000 samples, seed 0, with the
model's own full-length ``ddpm`` run (all T steps) for diffusion models and ``euler`` with
:data:`FLOW_MEASURE_STEPS` = 100 steps for flow-matching models.
"""
from __future__ import annotations

import functools
import math

import torch

__all__ = ["quality", "sliced_wasserstein", "measure", "CHUNK", "PROJECTIONS", "BASELINE_PAIRS", "SEED",
           "MEASURE_SAMPLES", "FLOW_MEASURE_STEPS"]

CHUNK = 1000              # points per comparison
PROJECTIONS = 64          # directions in 2-D
BASELINE_PAIRS = 16       # pairs of fresh reference draws averaged for the denominator
SEED = 7_000              # reference draws use seeds SEED + i (chunks) and SEED + 100_000 + j (baseline)
MEASURE_SAMPLES = 10_000  # samples drawn by measure()
FLOW_MEASURE_STEPS = 100  # euler steps for flow-matching models in measure()


def _directions(d: int) -> torch.Tensor:
    if d == 1:
        return torch.ones(1, 1, dtype=torch.float64)
    angles = torch.arange(PROJECTIONS, dtype=torch.float64) * (math.pi / PROJECTIONS)
    return torch.stack([angles.cos(), angles.sin()], 1)


def _check_points(x, what: str) -> torch.Tensor:
    x = torch.as_tensor(x).detach().to(torch.float64)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[1] not in (1, 2) or len(x) < 2:
        raise ValueError(f"{what} must have shape [n, d] with n >= 2 and d in (1, 2), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or inf")
    return x


def sliced_wasserstein(x, y) -> float:
    """Sliced W1 between two point sets of equal size [n, d]: mean over directions of mean |sort(x.u) - sort(y.u)|."""
    x, y = _check_points(x, "x"), _check_points(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    u = _directions(x.shape[1]).T                                          # [d, P]
    px, py = (x @ u).sort(0).values, (y @ u).sort(0).values
    return (px - py).abs().mean().item()


def _reference_draw(reference, dim: int):
    """A function (n, seed) -> float64 [n, dim] drawing from the reference distribution."""
    if isinstance(reference, str):
        from .toy.data import dataset_dim, make_dataset
        if dataset_dim(reference) != dim:
            raise ValueError(f"samples are {dim}-D but dataset {reference!r} is {dataset_dim(reference)}-D")
        return lambda n, seed: make_dataset(reference, n, seed).to(torch.float64)
    if callable(reference):
        return lambda n, seed: _check_points(reference(n, seed), "reference draws")
    data = _check_points(reference, "reference")
    if data.shape[1] != dim:
        raise ValueError(f"samples are {dim}-D but the reference is {data.shape[1]}-D")

    def resample(n, seed):
        idx = torch.randint(0, len(data), (n,), generator=torch.Generator().manual_seed(seed))
        return data[idx]
    return resample


@functools.lru_cache(maxsize=64)
def _named_baseline(name: str, size: int, dim: int) -> float:
    return _baseline(_reference_draw(name, dim), size)


def _baseline(draw, size: int) -> float:
    pairs = [(draw(size, SEED + 100_000 + 2 * j), draw(size, SEED + 100_001 + 2 * j)) for j in range(BASELINE_PAIRS)]
    return sum(sliced_wasserstein(a, b) for a, b in pairs) / BASELINE_PAIRS


def quality(samples, reference) -> float:
    """Sliced-Wasserstein distance of ``samples`` [n, d] to ``reference``, in units of a fresh draw's (1.0 = as
    close as a fresh draw of the data; lower is better, down to ~1). See the module docstring for what is fixed."""
    x = _check_points(samples, "samples")
    size = min(CHUNK, len(x))
    draw = _reference_draw(reference, x.shape[1])
    chunks = [x[i * size:(i + 1) * size] for i in range(len(x) // size)]
    distance = sum(sliced_wasserstein(c, draw(size, SEED + i)) for i, c in enumerate(chunks)) / len(chunks)
    base = _named_baseline(reference, size, x.shape[1]) if isinstance(reference, str) else _baseline(draw, size)
    return distance / base


def measure(model, reference=None, *, n: int = MEASURE_SAMPLES, seed: int = 0) -> float:
    """The quality of a trained toy model, measured the fixed way (module docstring): ``n`` samples from its full
    ``ddpm`` run (flow matching: ``euler``, 100 steps), against ``reference`` (default: the data it was fit on)."""
    if model.objective == "flow_matching":
        traj = model.sample(n, sampler="euler", num_steps=FLOW_MEASURE_STEPS, seed=seed, record=False)
    else:
        traj = model.sample(n, sampler="ddpm", num_steps=model.schedule.num_timesteps, seed=seed, record=False)
    if reference is None:
        reference = model.data_name if model.data_name is not None else model.data
    return quality(traj.x0, reference)
