"""The Guidance lab's back-end: classifier-free guidance on labelled toy data, learned beside exact.

One conditional toy network (trained with label dropout, :func:`diffusion.toy.fit` with ``labels``) is sampled
three ways from the **same x_T**: unconditionally (w = 0), conditionally (w = 1) and guided (the visitor's w), so
the only difference between the three pictures is the guidance. Where the data is a labelled Gaussian mixture the
exact conditional model (:meth:`diffusion.exact.GaussianMixture.model`) runs the same sampler from the same x_T.

What guidance does to the distribution, measured (:func:`sweep`), per w:

* **in class**: the mean probability that a sample belongs to the class asked for -- the exact posterior p(y | x) of
  the mixture, or, for other data, the share of its 10 nearest labelled data points that have that class;
* **diversity**: mean distance between two samples, over the class's own (1 = as varied as the class's data);
* **off-centre** (mixtures): mean distance of a sample to the nearest mean of the class's components, over the
  class's own (1 = as the class; above 1: pushed out of its components).

and the same for draws from the *tilted* density p(x | y)^w p(x)^(1-w), normalised on a grid
(:func:`tilted_density`) -- what guidance is often said to sample. For w > 1 it does not: the guided ODE's samples
are narrower and pushed away from the other classes (the off-centre and diversity figures), while the tilted
density stays close to p(x | y) wherever the classes are well apart (Chidambaram et al. 2024 prove the same for
mixtures).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..exact import GaussianMixture
from ..parameterization import convert
from ..samplers import LAB_DEFAULT, options_for, sample, seeded_noise, spacing_options
from ..samplers.flow import flow_sample
from ..samplers.guidance import ClassifierGuided
from ..toy.labels import labelled_dataset, labelled_drawing, labelled_mixture
from .runner import clean_to_noise
from .toy_runs import bounds_2d

__all__ = ["GuidanceData", "GuidedRun", "guided_runs", "tilted_density", "draw_tilted", "in_class", "diversity",
           "off_centre", "describe", "sweep", "SWEEP_SCALES", "KNN", "class_probs", "judged"]

SWEEP_SCALES = (0.0, 1.0, 2.0, 3.0, 5.0, 7.0)
KNN = 10                   # neighbours that judge a sample's class where there is no exact classifier
PAIRS = 4000               # samples whose pairwise distances measure diversity
REFERENCE, REFERENCE_SEED = 20_000, 0x6D1D   # fresh draws of p(x | y) that a mixture's samples are measured against
GRID_CELLS = 240           # per axis, for the tilted density


@dataclass
class GuidanceData:
    """Labelled toy data: points [n, 2], labels [n], class names, and the exact labelled mixture (or None)."""
    name: str
    points: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    mixture: GaussianMixture | None
    _memo: dict = field(default_factory=dict, repr=False, compare=False)   # per-class reference figures

    def memo(self, key, compute):
        """``compute()``, worked out once per key for this data (the reference figures every sample is divided by)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @classmethod
    def from_name(cls, name: str, n: int = 8000, seed: int = 0) -> "GuidanceData":
        points, labels, names = labelled_dataset(name, n, seed)
        return cls(name, points, labels, names, labelled_mixture(name))

    @classmethod
    def from_drawing(cls, image, layers=(), n: int = 8000, seed: int = 0) -> "GuidanceData":
        """One class per ink colour of ``image``, or per layer (:func:`diffusion.toy.labels.labelled_drawing`)."""
        points, labels, names = labelled_drawing(image, layers, n, seed)
        return cls("drawing", points, labels, names, None)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def check_class(self, y) -> int:
        if isinstance(y, bool) or not isinstance(y, (int, np.integer)) or not 0 <= y < self.num_classes:
            raise ValueError(f"class must be an index in [0, {self.num_classes - 1}] "
                             f"({', '.join(f'{k}: {c}' for k, c in enumerate(self.class_names))}), got {y!r}")
        return int(y)

    def of_class(self, y: int) -> torch.Tensor:
        return self.points[self.labels == y]

    def reference(self, y: int) -> torch.Tensor:
        """Points of class y to measure samples against: REFERENCE fresh draws of p(x | y) for a mixture (so the
        yardstick has no sampling error to speak of), else the data's own points of that class."""
        if self.mixture is None:
            return self.of_class(y).double()
        return self.memo(("reference", y), lambda: self.mixture.sub_mixture(y).sample(
            REFERENCE, torch.Generator().manual_seed(REFERENCE_SEED), torch.float64))

    def bounds(self) -> tuple[float, float, float, float]:
        return bounds_2d(self.points.numpy(), pad=0.25)


@dataclass
class GuidedRun:
    """One sampling run: its guidance scale, whether the exact model ran it, the samples [n, 2] and the states it
    passed through, clean -> noise [F, n, 2] (frame 0 is the sample, the last is x_T)."""
    w: float
    exact: bool
    x0: np.ndarray
    frames: np.ndarray
    times: list


def _run(model, data: GuidanceData, x_T, y: int, w: float, sampler: str, num_steps: int, seed: int,
         options: dict, exact: bool) -> GuidedRun:
    labels = torch.full((len(x_T),), y, dtype=torch.long)
    g = torch.Generator().manual_seed(int(seed) + 1)
    if exact:
        x_T = x_T.double()
    if model.prediction_type == "velocity":
        net = data.mixture.flow_model() if exact else model
        traj = flow_sample(net, x_T, sampler=sampler, num_steps=num_steps, generator=g, y=labels,
                           guidance_scale=w)
    else:
        net = data.mixture.model(model.schedule, model.prediction_type) if exact else model
        traj = sample(net, model.schedule, x_T, sampler, num_steps, g, prediction_type=model.prediction_type,
                      y=labels, guidance_scale=w, **options)
    states, times = clean_to_noise(traj)
    frames = traj.xs[states].float().numpy()
    return GuidedRun(float(w), exact, traj.x0.float().numpy(), frames, times)


def _classifier_run(model, data: GuidanceData, x_T, y: int, w: float, sampler: str, num_steps: int, seed: int,
                    options: dict) -> GuidedRun:
    """Classifier guidance (Dhariwal & Nichol 2021): the *learned* model's unconditional prediction, as epsilon,
    steered by the mixture's *exact* noise-aware classifier with scale w -- the same target as CFG with w,
    p(x) p(y | x)^w, reached through a different, exact, conditional part."""
    schedule = model.schedule

    def unconditional_eps(x_t, t):
        out = model(x_t, t)
        return convert(out, x_t, schedule.alpha_bar_at(t).to(x_t.dtype)[:, None], model.prediction_type, "epsilon")
    net = ClassifierGuided(unconditional_eps, schedule, data.mixture.classifier(schedule), y, w)
    g = torch.Generator().manual_seed(int(seed) + 1)
    traj = sample(net, schedule, x_T, sampler, num_steps, g, prediction_type="epsilon", **options)
    states, times = clean_to_noise(traj)
    return GuidedRun(float(w), False, traj.x0.float().numpy(), traj.xs[states].float().numpy(), times)


def _settings(model, sampler, num_steps, spacing):
    """(sampler, num_steps, options): the lab's default where no sampler is named."""
    flow = model.prediction_type == "velocity"
    if sampler is None:
        sampler = "euler" if flow else LAB_DEFAULT["sampler"]
        num_steps = num_steps or (50 if flow else LAB_DEFAULT["num_steps"])
        spacing = spacing or (None if flow else "karras")
    options = {} if flow else {**options_for(sampler), **spacing_options(sampler, spacing)}
    return sampler, num_steps, options


def _check_model(model) -> None:
    if not getattr(model, "conditional", False):
        raise ValueError("guidance needs a conditional model: train one on labelled data (toy.fit(..., labels=...))")


def guided_runs(model, data: GuidanceData, y: int, w: float, sampler: str | None = None,
                num_steps: int | None = None, n: int = 1000, seed: int = 0, spacing: str | None = None,
                exact: bool = True) -> dict[str, GuidedRun]:
    """The runs the lab scrubs side by side, all from one x_T: "unconditional" (w = 0), "conditional" (w = 1),
    "guided" (w); and, for a mixture with ``exact``, "exact guided" (the exact conditional model, same sampler) and,
    for a diffusion (not flow) model, "classifier guided" (the learned unconditional model steered by the exact
    classifier p(y | x_t) with scale w: :func:`_classifier_run`).
    ``model`` is a conditional toy model (diffusion or flow matching) trained on ``data`` (its space: the named data
    sets are already standardised). No sampler: the lab's default (dpmpp_2m, 20 steps, Karras sigmas); a flow model
    integrates with euler (50 steps)."""
    y = data.check_class(y)
    _check_model(model)
    sampler, num_steps, options = _settings(model, sampler, num_steps, spacing)
    x_T, _ = seeded_noise((n, 2), seed)
    runs = {name: _run(model, data, x_T, y, scale, sampler, num_steps, seed, options, False)
            for name, scale in (("unconditional", 0.0), ("conditional", 1.0), ("guided", w))}
    if exact and data.mixture is not None:
        runs["exact guided"] = _run(model, data, x_T, y, w, sampler, num_steps, seed, options, True)
        if model.prediction_type != "velocity":        # the exact classifier's gradient steers a diffusion model
            runs["classifier guided"] = _classifier_run(model, data, x_T, y, w, sampler, num_steps, seed, options)
    return runs


# --- the tilted density ---------------------------------------------------------------------------------------
def _grid(bounds, cells: int = GRID_CELLS) -> tuple[torch.Tensor, float]:
    x0, x1, y0, y1 = bounds
    xs = torch.linspace(x0, x1, cells, dtype=torch.float64)
    ys = torch.linspace(y0, y1, cells, dtype=torch.float64)
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2), float(xs[1] - xs[0])


def tilted_density(mixture: GaussianMixture, y: int, w: float, points: torch.Tensor) -> torch.Tensor:
    """log of p(x | y)^w p(x)^(1-w) at ``points`` [m, 2], up to its normalising constant (w = 1: p(x | y);
    w = 0: p(x))."""
    return w * mixture.sub_mixture(y).log_prob(points) + (1 - w) * mixture.log_prob(points)


def draw_tilted(mixture: GaussianMixture, y: int, w: float, n: int, bounds, seed: int = 0) -> torch.Tensor:
    """n draws of the tilted density, normalised on a GRID_CELLS² grid over ``bounds``: a cell by its mass, then
    uniform within the cell (the grid is fine enough that this adds < 1 % to a component's variance)."""
    grid, cell = _grid(bounds)
    mass = torch.softmax(tilted_density(mixture, y, w, grid), 0)
    g = torch.Generator().manual_seed(int(seed))
    pick = torch.multinomial(mass.float(), n, replacement=True, generator=g)
    return grid[pick] + (torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5) * cell


# --- what the samples look like ----------------------------------------------------------------------------
def class_probs(x, data: GuidanceData) -> torch.Tensor:
    """[n, C]: the probability of each class at each sample -- the exact p(y | x) of a mixture, else the shares of
    the classes among its KNN nearest labelled data points."""
    x = torch.as_tensor(x, dtype=torch.float64)
    if data.mixture is not None:
        return data.mixture.class_probs(x)
    near = torch.cdist(x, data.points.double()).topk(KNN, largest=False).indices
    return torch.nn.functional.one_hot(data.labels[near], data.num_classes).double().mean(1)


def judged(x, data: GuidanceData) -> np.ndarray:
    """Each sample's most probable class (:func:`class_probs`): [n] ints."""
    return class_probs(x, data).argmax(1).numpy()


def in_class(x, data: GuidanceData, y: int) -> float:
    """Mean probability that a sample is of class y (:func:`class_probs`)."""
    return float(class_probs(x, data)[:, y].mean())


def _mean_pairwise(x: torch.Tensor) -> float:
    x = x[:PAIRS]
    return float(torch.pdist(x).mean())


def diversity(x, data: GuidanceData, y: int) -> float:
    """Mean distance between two samples over that of the class's own data points (1: as varied as the class)."""
    own = data.memo(("pairwise", y), lambda: _mean_pairwise(data.reference(y)))
    return _mean_pairwise(torch.as_tensor(x, dtype=torch.float64)) / own


def off_centre(x, data: GuidanceData, y: int) -> float | None:
    """Mean distance from a sample to the nearest component mean of class y, over the class's own (mixtures only;
    1: as the class; above 1: pushed out of its components)."""
    if data.mixture is None:
        return None
    means = data.mixture.sub_mixture(y).means

    def spread(p):
        return float(torch.cdist(p, means).min(1).values.mean())
    own = data.memo(("spread", y), lambda: spread(data.reference(y)))
    return spread(torch.as_tensor(x, dtype=torch.float64)) / own


def describe(x, data: GuidanceData, y: int) -> dict:
    return dict(in_class=in_class(x, data, y), diversity=diversity(x, data, y), off_centre=off_centre(x, data, y))


def sweep(model, data: GuidanceData, y: int, scales=SWEEP_SCALES, n: int = 4000, seed: int = 0,
          sampler: str | None = None, num_steps: int | None = None, spacing: str | None = None) -> list[dict]:
    """Per guidance scale w (all from one x_T): the learned model's samples described (:func:`describe`), and for
    a mixture the exact model's guided samples and the tilted density's draws described the same way."""
    y = data.check_class(y)
    _check_model(model)
    sampler, num_steps, options = _settings(model, sampler, num_steps, spacing)
    x_T, _ = seeded_noise((n, 2), seed)
    rows = []
    for w in scales:
        run = _run(model, data, x_T, y, w, sampler, num_steps, seed, options, False)
        row = dict(w=float(w), learned=describe(run.x0, data, y))
        if data.mixture is not None:
            exact = _run(model, data, x_T, y, w, sampler, num_steps, seed, options, True)
            row["exact"] = describe(exact.x0, data, y)
            row["tilted"] = describe(draw_tilted(data.mixture, y, w, n, data.bounds(), seed), data, y)
        rows.append(row)
    return rows
