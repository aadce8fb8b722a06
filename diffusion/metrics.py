"""A sample-quality figure for toy samples: sliced Wasserstein distance, in units of "a fresh draw of the data".

    quality(samples, reference) = mean_i SW(samples_i, population) / mean_j SW(fresh_j, population)

SW is the sliced 1-Wasserstein distance (Rabin et al. 2011; Bonneel et al. 2015): the mean over directions of the
1-D Wasserstein-1 distance between the projected point sets, exact by sorting (two sets of different sizes: by
merging their quantile functions). A finite sample is never at distance 0 from the data, so the raw figure is divided
by the distance of an independent draw of the data of the same size: **1.0 means "as close to the data as a fresh
draw of the data"**, lower is not meaningfully better, and 1.5 means 50 % further than sampling noise alone.
Because that floor shrinks like 1/sqrt(size), the size is fixed:

* samples are compared in chunks of :data:`CHUNK` = 1,000 points (fewer samples: one chunk of all of them, with the
  baseline taken at that size); ``n`` samples give ``n // CHUNK`` chunks, averaged (extra points are unused);
* every chunk is compared with the same large reference, the *population*: :data:`POPULATION` = 32,000 points
  drawn with seed :data:`SEED` (an array reference: all its points), so no particular small reference draw can
  bias the figure;
* the baseline is the expected distance of a fresh draw of the chunk's size n to that population, computed from the
  population's own quantiles rather than by Monte Carlo: E W1 = sqrt(2 / (pi n')) * integral sqrt(F (1 - F)) dx per
  direction, F the population's CDF, 1/n' = 1/n + 1/POPULATION (the Brownian-bridge limit of the empirical CDF,
  E|B(F)| = sqrt(2 F (1 - F) / pi); del Barrio, Gine & Matran 1999; Bobkov & Ledoux 2019, §3). It agrees with 400
  Monte-Carlo fresh draws within their 1.5 % error on moons, gaussians8, checkerboard, gmm1d and exponential, at
  n = 300 and 1,000, and it is deterministic: a fresh draw scores 1 on average;
* directions: 1 in 1-D (exact W1); :data:`PROJECTIONS` = 64 evenly spaced angles in [0, pi) in 2-D (no randomness);
* ``reference``: a data set name (drawn with :func:`diffusion.toy.make_dataset`), ``"normal"`` (N(0, I)), a callable
  ``draw(n, seed)``, or an array [m, d] (its empirical distribution is "the data").

Spread: a fresh draw of 10,000 points scores 1.0 with a standard deviation of about 0.1 in 2-D and 0.14 in 1-D
(one direction only); of 2,000 points, ~0.2 and ~0.35. Shifting the data by 0.1 (in the standardised scale) scores
~2.5, shrinking it by 10 % ~2.6, collapsing it to a point ~20. Against an array reference of m points, a model that
memorised them (its samples are resamples of the array) scores about 1 / sqrt(1 + CHUNK/m) < 1.

:func:`measure` fixes how a trained toy model is scored: :data:`MEASURE_SAMPLES` = 10,000 samples compared as one
set (not in chunks), seed 0, with the model's own full-length ``ddpm`` run (all T steps) for diffusion models and ``euler`` with
:data:`FLOW_MEASURE_STEPS` = 100 steps for flow-matching models.
"""
from __future__ import annotations

import functools
import math

import torch

__all__ = ["quality", "sliced_wasserstein", "measure", "CHUNK", "PROJECTIONS", "POPULATION", "SEED",
           "MEASURE_SAMPLES", "FLOW_MEASURE_STEPS"]

CHUNK = 1000              # points per comparison
PROJECTIONS = 64          # directions in 2-D
POPULATION = 32_000       # points in the reference population every chunk is compared with
SEED = 7_000              # the population's seed
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


def _projected(x: torch.Tensor) -> torch.Tensor:
    """Sorted projections onto the fixed directions: [n, P]."""
    return (x @ _directions(x.shape[1]).T).sort(0).values


def _w1_sorted(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over columns of W1 between the empirical distributions of sorted columns a [n, P] and b [m, P]:
    the integral over u in (0, 1) of |F_a^-1(u) - F_b^-1(u)|, on the merged grid of both quantile functions."""
    n, m = len(a), len(b)
    if m % n == 0:                      # each of a's quantile steps covers m / n of b's exactly
        return (a.repeat_interleave(m // n, dim=0) - b).abs().mean().item()
    u = torch.cat([torch.arange(1, n + 1, dtype=torch.float64) / n,
                   torch.arange(1, m + 1, dtype=torch.float64) / m]).unique(sorted=True)
    width = torch.diff(u, prepend=u.new_zeros(1))
    mid = u - width / 2
    ia, ib = (mid * n).long().clamp(max=n - 1), (mid * m).long().clamp(max=m - 1)
    return ((a[ia] - b[ib]).abs() * width[:, None]).sum(0).mean().item()


def sliced_wasserstein(x, y) -> float:
    """Sliced W1 between two point sets [n, d] and [m, d]: mean over directions of the 1-D W1 of the projections."""
    x, y = _check_points(x, "x"), _check_points(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension, got {tuple(x.shape)} and {tuple(y.shape)}")
    return _w1_sorted(_projected(x), _projected(y))


def _population(reference, dim: int) -> torch.Tensor:
    """The reference population's points, float64 [M, dim]."""
    if isinstance(reference, str) and reference == "normal":
        return torch.randn(POPULATION, dim, generator=torch.Generator().manual_seed(SEED), dtype=torch.float64)
    if isinstance(reference, str):
        from .toy.data import dataset_dim, make_dataset
        if dataset_dim(reference) != dim:
            raise ValueError(f"samples are {dim}-D but dataset {reference!r} is {dataset_dim(reference)}-D")
        return make_dataset(reference, POPULATION, SEED).to(torch.float64)
    if callable(reference):
        return _check_points(reference(POPULATION, SEED), "reference draws")
    data = _check_points(reference, "reference")
    if data.shape[1] != dim:
        raise ValueError(f"samples are {dim}-D but the reference is {data.shape[1]}-D")
    return data


@functools.lru_cache(maxsize=4)
def _named_population(name: str, dim: int) -> torch.Tensor:
    return _projected(_population(name, dim))           # 32,000 x 64 float64: 16 MB per cached name


def _expected_fresh_distance(pop: torch.Tensor, size: int) -> float:
    """E SW1 of a fresh draw of ``size`` points to the population (sorted projections [M, P]): the mean over
    directions of sqrt(2 / (pi n')) * sum_j (y_(j+1) - y_(j)) sqrt(F_j (1 - F_j)), F_j = j / M, 1/n' = 1/size + 1/M."""
    m = len(pop)
    f = torch.arange(1, m, dtype=torch.float64) / m
    integral = ((pop[1:] - pop[:-1]) * (f * (1 - f)).sqrt()[:, None]).sum(0)
    return (integral * math.sqrt(2 / math.pi * (1 / size + 1 / m))).mean().item()


def quality(samples, reference, chunk: int = CHUNK) -> float:
    """Sliced-Wasserstein distance of ``samples`` [n, d] to ``reference``, in units of a fresh draw's (1.0 = as
    close as a fresh draw of the data; lower is better, down to ~1). See the module docstring for what is fixed.
    ``chunk``: points per comparison (:func:`measure` compares its 10,000 samples as one set, which is sharper:
    a chunk of 1,000 cannot tell a legible word from a blurred band)."""
    x = _check_points(samples, "samples")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 2:
        raise ValueError(f"chunk must be an int >= 2, got {chunk!r}")
    size, dim = min(chunk, len(x)), x.shape[1]
    pop = _named_population(reference, dim) if isinstance(reference, str) else _projected(_population(reference, dim))
    chunks = [x[i * size:(i + 1) * size] for i in range(len(x) // size)]
    distance = sum(_w1_sorted(_projected(c), pop) for c in chunks) / len(chunks)
    return distance / _expected_fresh_distance(pop, size)


def measure(model, reference=None, *, n: int = MEASURE_SAMPLES, seed: int = 0) -> float:
    """The quality of a trained toy model, measured the fixed way (module docstring): ``n`` samples from its full
    ``ddpm`` run (flow matching: ``euler``, 100 steps), against ``reference`` (default: the data it was fit on)."""
    if model.objective == "flow_matching":
        traj = model.sample(n, sampler="euler", num_steps=FLOW_MEASURE_STEPS, seed=seed, record=False)
    else:
        traj = model.sample(n, sampler="ddpm", num_steps=model.schedule.num_timesteps, seed=seed, record=False)
    if reference is None:
        reference = model.data_name if model.data_name is not None else model.data
    return quality(traj.x0, reference, chunk=n)                  # one set of n, not chunks
