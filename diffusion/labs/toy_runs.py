"""The Toy lab's back-end: a session's data and its exact denoiser, and a recorded run for the scrubber (plain
arrays, in the data's space: the UI only draws them).

A *noise level* is the pair (a, s) of x_t = a x_0 + s eps: (sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t)) for
diffusion (DDPM eq. 4) and (1 - t, t) for flow matching's straight path (Lipman et al. 2022; Liu et al. 2022).
Everything the views show follows from the model's x̂₀ at a level, by Tweedie's formula:

    score = grad log p_t(x) = (a x̂₀ - x) / s²        (= -eps / s)

so learned and exact fields are drawn the same way for both kinds of model.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import torch

from ..exact import GaussianMixture, MemorisingDenoiser
from ..fidelity import MEANING, SAMPLES, precision_recall
from ..metrics import quality
from ..parameterization import score_from_x0, to_x0_eps, x0_eps_from_velocity
from ..samplers import flow_sample, options_for, sample, spacing_options
from ..toy.data import dataset_mixture, ink_mask, make_dataset, points_from_image
from .runner import MAX_FRAMES, keep_indices

__all__ = ["ToyData", "RunRecord", "RunQuality", "record_run", "add_exact", "is_flow", "level_of", "x0_pred", "label_of",
           "bounds_2d", "GRID"]

GRID = 15               # field arrows per side
EXACT_PARTICLES = 250   # particles in the exact-denoiser run
EXACT_POINTS = 1000    # data points the memorising denoiser remembers (a subsample of larger data)


@dataclass
class RunRecord:
    """Everything a scrubbed run shows, in data space; F frames ordered clean -> noise."""

    labels: list[str]                   # [F] caption per frame, e.g. "t = 412 / 999   ᾱ = 0.43"
    forward: np.ndarray                 # [F, n, d]: the data noised to frame i's level with one fixed noise draw
    forward_x0: np.ndarray              # [F, n, d]: the model's x̂₀ for those points
    reverse: np.ndarray                 # [F, n, d]: the sampler's state
    reverse_x0: np.ndarray              # [F, n, d]: the model's x̂₀ at that state
    data: np.ndarray                    # [n_data, d]: the clean data
    grid: np.ndarray | None = None      # [G, d]: field arrow origins
    field: np.ndarray | None = None     # [F, G, d]: the learned score at the grid, per frame
    exact_field: np.ndarray | None = None     # [F, G, d]: the exact score
    exact_reverse: np.ndarray | None = None   # [F, m, d]: the same sampler driven by the exact denoiser
    density_x: np.ndarray | None = None       # [X] (1-D): x grid of the exact density
    density: np.ndarray | None = None         # [F, X] (1-D): exact p_t(x) at each frame's level
    title: str = ""
    times: list | None = None                 # [F] the model timestep of each frame (None: the clean frame)
    levels: list | None = None                # [F] (a, s) of x_t = a x0 + s eps at each frame
    replay: dict | None = None                # how the run was sampled, to replay it with the exact denoiser
    bounds: tuple = ()                        # (xmin, xmax, ymin, ymax) in 2-D, (xmin, xmax) in 1-D

    @property
    def num_frames(self) -> int:
        return len(self.labels)

    @property
    def dim(self) -> int:
        return self.forward.shape[-1]

    def nbytes(self) -> int:
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))


def bounds_2d(*clouds: np.ndarray, pad: float = 0.08, quantile: float = 0.995) -> tuple[float, float, float, float]:
    """Square axis bounds that hold (almost) every point of the given [n, 2] clouds."""
    pts = np.concatenate([np.asarray(c, dtype=np.float64).reshape(-1, 2) for c in clouds])
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return (-3.0, 3.0, -3.0, 3.0)
    lo = np.quantile(pts, 1 - quantile, axis=0)
    hi = np.quantile(pts, quantile, axis=0)
    centre = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2 * (1 + pad), 0.5)
    return (centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half)


class RunQuality(NamedTuple):
    """How good a run's samples are, on the lab's fixed yardstick (:mod:`diffusion.fidelity`, :mod:`diffusion.metrics`):
    k-NN precision (share of the samples on the data) and recall (share of the data covered) of :data:`SAMPLES`
    samples against as many fresh points of the data, and the sliced-Wasserstein ratio of the same samples."""
    precision: float
    recall: float
    sw: float
    n: int                              # samples measured (the run's first SAMPLES, or a separate run of SAMPLES)

    def sentence(self) -> str:
        return (f"precision {self.precision:.2f} ({MEANING['precision']}) and recall {self.recall:.2f} "
                f"({MEANING['recall']}), on {self.n:,} samples")


def measure_run(model, data: "ToyData", x0: torch.Tensor, sampler: str, num_steps: int, seed: int,
                options: dict) -> RunQuality:
    """The run's quality on the fixed sample size: its own first SAMPLES points, or, for a smaller run, a separate
    unrecorded run of SAMPLES points with the same sampler, steps, options and seed."""
    if len(x0) < SAMPLES:
        x0 = model.sample(SAMPLES, sampler=sampler, num_steps=num_steps, seed=seed, record=False, **options).x0
    x0 = x0[:SAMPLES]
    pr = precision_recall(x0, data.reference)
    return RunQuality(pr.precision, pr.recall, quality(x0, data.reference), pr.n)


# --- data and its exact denoiser -----------------------------------------------------------------------------
class ToyData:
    """A session's data: points in the standardised data space, where they came from, and their exact denoiser."""

    def __init__(self, points: torch.Tensor, name: str, label: str, mixture: GaussianMixture | None = None,
                 draw=None):
        if points.ndim != 2 or points.shape[1] not in (1, 2) or len(points) < 2:
            raise ValueError(f"points must be [n, d] with n >= 2 and d in (1, 2), got {tuple(points.shape)}")
        self.points, self.name, self.label, self.mixture = points.float(), name, label, mixture
        self.draw = draw                # draw(n, seed) -> fresh points (a drawing), for the yardstick

    @classmethod
    def from_dataset(cls, name: str, n: int = 2000, seed: int = 0) -> "ToyData":
        points = make_dataset(name, n=n, seed=seed)
        label = f"word “{name[5:]}”" if name.startswith("text:") else name
        return cls(points, name, label, dataset_mixture(name))

    @classmethod
    def from_drawing(cls, image, n: int = 2000, seed: int = 0) -> "ToyData":
        mask = ink_mask(image)          # kept (a bool per pixel), so fresh points can be drawn for the yardstick
        return cls(points_from_image(mask, n=n, seed=seed), None, "your drawing",
                   draw=lambda m, s: points_from_image(mask, n=m, seed=s))

    @property
    def dim(self) -> int:
        return self.points.shape[1]

    @property
    def reference(self):
        """What the yardstick compares with: fresh draws of a named data set or a drawing, else these points."""
        if self.name is not None:
            return self.name
        return self.draw if self.draw is not None else self.points

    def exact(self, model=None):
        """The exact denoiser of the data in the model's space: the mixture's closed form, else memorising."""
        if self.mixture is not None:
            exact = self.mixture
            if model is not None:
                mean, std = _standardiser(model)
                exact = exact.affine(1.0 / std, -mean / std)
            return exact
        pts = self.points[:: max(1, len(self.points) // EXACT_POINTS)][:EXACT_POINTS]
        return MemorisingDenoiser(pts if model is None else _to_model(model, pts))


def _standardiser(model):
    mean = torch.as_tensor(getattr(model, "data_mean", 0.0), dtype=torch.float64)
    std = torch.as_tensor(getattr(model, "data_std", 1.0), dtype=torch.float64)
    return mean, std


def _to_model(model, x):
    return model.to_model(torch.as_tensor(x, dtype=torch.float32))


def _to_data(model, x):
    return model.to_data(x)


# --- the model at a noise level -------------------------------------------------------------------------------
def is_flow(model) -> bool:
    return getattr(model, "objective", None) == "flow_matching"


def level_of(model, t: float) -> tuple[float, float]:
    """(a, s) of x_t = a x0 + s eps at the model's timestep t."""
    if is_flow(model):
        return 1.0 - float(t), float(t)
    ab = float(model.schedule.alpha_bar_at(float(t)))
    return ab**0.5, (1.0 - ab) ** 0.5


def x0_pred(model, x: torch.Tensor, t: float) -> torch.Tensor:
    """The model's x̂₀ at timestep t for x [batch, d] in model space."""
    tt = torch.full((len(x),), float(t), dtype=x.dtype)
    with torch.no_grad():
        out = model(x, tt)
    if is_flow(model):
        return x0_eps_from_velocity(out, x, float(t))[0]
    ab = float(model.schedule.alpha_bar_at(float(t)))
    return to_x0_eps(out, x, ab, model.prediction_type)[0]


def label_of(model, t: float | None) -> str:
    if t is None:
        return "t = 0   (clean x₀; the field needs t > 0)"
    a, s = level_of(model, t)
    if is_flow(model):
        return f"t = {t:.3f}   x_t = {a:.2f}·x₀ + {s:.2f}·ε"
    T = model.schedule.num_timesteps
    return f"t = {t:.0f} / {T - 1}   ᾱ = {a * a:.3f}"


# --- a recorded run -----------------------------------------------------------------------------------------
def record_run(model, data: ToyData, sampler: str = "ddim", num_steps: int = 50, eta: float = 0.0, seed: int = 0,
               n: int = 2000, spacing: str | None = "leading", with_exact: bool = True) -> tuple[RunRecord, float]:
    """Sample n points with ``sampler`` and record what the scrubber shows; returns (record, :class:`RunQuality`).
    ``spacing`` is one of the lab's :data:`~diffusion.samplers.LAB_SPACINGS` ("karras": Karras sigmas)."""
    # eta and the spacing only where the sampler takes them (a flow model's samplers take neither)
    options = {} if is_flow(model) else {**options_for(sampler, eta=float(eta)), **spacing_options(sampler, spacing)}
    # states ordered clean -> noise: xs[K] (the sample), xs[K-1] (at timesteps[K-1]), ..., xs[0] = x_T
    keep = keep_indices(num_steps + 1, MAX_FRAMES)             # indices in clean -> noise order
    wanted, x0_at = {num_steps - j for j in keep}, {}

    def collect(step):                                         # each kept step's x̂₀ at the state it starts from
        if step.step in wanted:
            x0_at[step.step] = step.x0_pred
    traj = model.sample(n, sampler=sampler, num_steps=num_steps, seed=seed, callback=collect, **options)
    K = len(traj.timesteps)
    states = [K - j for j in keep]                             # indices into traj.xs
    times = [None if k == K else float(traj.timesteps[k]) for k in states]
    levels = [(1.0, 0.0) if t is None else level_of(model, t) for t in times]
    labels = [label_of(model, t) for t in times]

    rev = traj.xs[states]                                      # data space [F, n, d]
    rev_model = torch.stack([_to_model(model, x) for x in rev])
    rev_x0 = torch.stack([rev_model[0] if k == K else x0_at[k] for k in states])   # model space

    # forward: the data noised to the same levels with one fixed noise draw (so scrubbing is smooth)
    g = torch.Generator().manual_seed(int(seed) + 1)
    x0 = _to_model(model, data.points[torch.randint(0, len(data.points), (n,), generator=g)])
    eps = torch.randn(x0.shape, generator=g)                   # after the index draw, from the same stream
    fwd = torch.stack([a * x0 + s * eps for a, s in levels])
    fwd_x0 = torch.stack([x0 if t is None else x0_pred(model, x, t) for x, t in zip(fwd, times)])

    record = RunRecord(
        labels=labels,
        forward=_np(model, fwd), forward_x0=_np(model, fwd_x0),
        reverse=rev.float().numpy(), reverse_x0=_np(model, rev_x0),
        data=data.points.numpy(),
    )
    record.bounds = _bounds(record)
    record.times, record.levels = times, levels
    record.replay = dict(sampler=sampler, num_steps=num_steps, seed=seed, options=options, states=states)
    record.grid = _grid(record.bounds)
    record.field = _field(model, record.grid, times, levels, lambda x, t, a, s: x0_pred(model, x, t))
    if with_exact:
        record = add_exact(record, model, data)
    return record, measure_run(model, data, traj.x0, sampler, num_steps, seed, options)


def add_exact(record: RunRecord, model, data: ToyData) -> RunRecord:
    """A copy of ``record`` with the exact denoiser's view added: its field (2-D) or density (1-D), and the same
    sampler run from the same x_T driven by it. Slower than the learned view (the memorising denoiser compares
    every point with every data point), so the tab computes it only when the visitor asks for it."""
    exact = data.exact(model)
    new = replace(record)
    new.exact_field = _field(model, record.grid, record.times, record.levels,
                             lambda x, t, a, s: exact.posterior_mean(x.double(), torch.tensor(a),
                                                                     torch.tensor(s)).float())
    if data.dim == 1:
        _add_density(new, model, record.levels, exact)
    x_T = _to_model(model, torch.as_tensor(record.reverse[-1][:EXACT_PARTICLES]))
    r = record.replay
    new.exact_reverse = _exact_run(model, exact, x_T, r["sampler"], r["num_steps"], r["seed"], r["options"],
                                   r["states"])
    return new


def _bounds(record: RunRecord) -> tuple:
    """Fixed axes for every frame: room for the data, the pure noise and the samples."""
    if record.dim == 2:
        return bounds_2d(record.data, record.forward[-1], record.reverse[0], record.reverse[-1])
    pts = np.concatenate([record.data.ravel(), record.forward[-1].ravel(), record.reverse[0].ravel()])
    pts = pts[np.isfinite(pts)]
    lo, hi = np.quantile(pts, [0.002, 0.998]) if len(pts) else (-3.0, 3.0)
    pad = 0.08 * (hi - lo)
    return (float(lo - pad), float(hi + pad))


def _np(model, x_model: torch.Tensor) -> np.ndarray:
    return torch.stack([_to_data(model, x) for x in x_model]).float().numpy()


def _grid(bounds) -> np.ndarray:
    """Arrow origins inside the axes, in data space: GRID x GRID points [GRID^2, 2] in 2-D, 2 GRID points [., 1]
    along the axis in 1-D."""
    if len(bounds) == 2:
        lo, hi = bounds
        return np.linspace(lo + 0.03 * (hi - lo), hi - 0.03 * (hi - lo), 2 * GRID)[:, None].astype(np.float32)
    xmin, xmax, ymin, ymax = bounds
    lo, hi = np.array([xmin, ymin]), np.array([xmax, ymax])
    axes = [np.linspace(lo[k] + 0.06 * (hi[k] - lo[k]), hi[k] - 0.06 * (hi[k] - lo[k]), GRID) for k in range(2)]
    return np.stack(np.meshgrid(*axes), -1).reshape(-1, 2).astype(np.float32)


def _field(model, grid, times, levels, denoise) -> np.ndarray:
    """The score field at every frame's level, from a denoiser ``denoise(x, t, a, s) -> x̂₀`` (model space);
    [F, G, d] in data units (arrows are rescaled per frame when drawn). The clean frame has none (s = 0)."""
    g_model = _to_model(model, grid)
    out = []
    for t, (a, s) in zip(times, levels):
        if t is None:
            out.append(np.full_like(grid, np.nan))
        else:
            out.append(score_from_x0(denoise(g_model, t, a, s), g_model, a, s).numpy())
    return np.stack(out).astype(np.float32)


def _add_density(record: RunRecord, model, levels, exact) -> None:
    """Exact p_t(x) of 1-D data on a grid, per frame (plotted in data space: a change of variables)."""
    lo, hi = record.bounds[:2]
    xs = np.linspace(lo, hi, 300)
    xm = _to_model(model, xs[:, None]).double()
    jac = float((xm[1, 0] - xm[0, 0]) / (xs[1] - xs[0]))       # d(model x) / d(data x)
    dens = [exact.log_prob_noised(xm, torch.tensor(a), torch.tensor(s)).exp().numpy() * abs(jac)
            for a, s in levels]
    record.density_x, record.density = xs, np.stack(dens)


def _exact_run(model, exact, x_T, sampler, num_steps, seed, options, states) -> np.ndarray:
    """The same sampler from the same x_T, driven by the exact denoiser; frames as in the learned run."""
    g = torch.Generator().manual_seed(int(seed))
    if is_flow(model):
        traj = flow_sample(exact.flow_model(), x_T.double(), sampler=sampler, num_steps=num_steps, generator=g)
    else:
        exact_model = exact.model(model.schedule, "epsilon")
        traj = sample(exact_model, model.schedule, x_T.double(), sampler=sampler, num_steps=num_steps,
                      generator=g, prediction_type="epsilon", **options)
    return _np(model, traj.xs[states].float())
