"""The Edit lab's 2-D back-end: training-free editing methods on the eight Gaussians, beside the exact posterior.

The prior is a Gaussian mixture, so p(x_0 | observation) is closed form (:func:`diffusion.posterior.mixture_posterior`)
and every method can be measured against it. Three observations of a clean point x_0 = (x, y):

* ``coordinate`` -- its x-coordinate is c exactly: the posterior lives on the vertical line x = c;
* ``linear`` -- a noisy measurement v = a . x_0 + sigma_y n along the direction a = (cos theta, sin theta);
* ``copy`` -- a noisy copy v = x_0 + s n of the whole point.

Each method runs ``n`` particles from the same x_T (the same seed) with the **exact** mixture model by default, so
the only error left is the method's own approximation (a learned toy model can be passed instead). Per method: its
samples, the states it passed through (for the scrubber), its model calls, and its distance to the exact posterior
-- the lab's sample-quality yardstick (:func:`diffusion.metrics.quality`: 1.0 = as close as a fresh draw of the
posterior) against the posterior's own draws.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..editing import Identity, Linear, Mask, denoise, edit, matched_timestep, tweedie
from ..metrics import POPULATION, SEED, quality
from ..posterior import MixturePosterior, mixture_posterior
from ..samplers import seeded_noise
from ..schedules import make_schedule
from ..toy.data import dataset_mixture
from .runner import clean_to_noise
from .toy_runs import bounds_2d

__all__ = ["OBSERVATIONS", "METHODS_FOR", "METHOD_NAMES", "Observation", "EditRun", "ToyEdits", "observe",
           "toy_edits", "DATA"]

DATA = "gaussians8"
OBSERVATIONS = {
    "coordinate": "its x-coordinate is known exactly (the line x = c)",
    "linear": "a noisy measurement a · x₀ + σ_y n along a direction a",
    "copy": "a noisy copy x₀ + s n of the whole point",
}
METHODS_FOR = {"coordinate": ("replacement", "repaint", "dps"), "linear": ("replacement", "dps"),
               "copy": ("denoise", "tweedie", "dps")}
METHOD_NAMES = {"replacement": "replacement (naive)", "repaint": "RePaint (resampling)", "dps": "DPS",
                "denoise": "reverse process from t*", "tweedie": "one step: Tweedie's x̂₀"}
REFERENCE_SEED = 0xED17


@dataclass
class Observation:
    """What is observed: the operator, the measurement y [1, m] (a mask keeps x's shape), its noise std, and A, v
    (the same as a matrix [m, 2] and vector [m]) for the exact posterior."""
    kind: str
    operator: object
    y: torch.Tensor
    sigma_y: float
    A: torch.Tensor
    v: torch.Tensor
    caption: str


def _number(name, value, low, high) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def observe(kind: str, *, c: float = 0.9, angle: float = 30.0, value: float = 0.8, sigma_y: float = 0.2,
            point=(0.6, 1.1), s: float = 0.5) -> Observation:
    """The observation of one clean point: ``kind`` one of :data:`OBSERVATIONS` and its parameters (angle in
    degrees; every coordinate within [-3, 3], noise std within [0.01, 2]; sigma_y may be 0)."""
    if kind not in OBSERVATIONS:
        raise ValueError(f"unknown observation {kind!r}; choose one of {list(OBSERVATIONS)}")
    f64 = torch.float64
    if kind == "coordinate":
        c = _number("the known x-coordinate c", c, -3.0, 3.0)
        return Observation(kind, Mask(torch.tensor([True, False])), torch.tensor([[c, 0.0]], dtype=f64), 0.0,
                           torch.tensor([[1.0, 0.0]], dtype=f64), torch.tensor([c], dtype=f64), f"x = {c:g}, exactly")
    if kind == "linear":
        angle = _number("the direction's angle (degrees)", angle, -180.0, 180.0)
        value = _number("the measured value", value, -3.0, 3.0)
        sigma_y = _number("the measurement noise σ_y", sigma_y, 0.0, 2.0)
        a = torch.tensor([[math.cos(math.radians(angle)), math.sin(math.radians(angle))]], dtype=f64)
        return Observation(kind, Linear(a), torch.tensor([[value]], dtype=f64), sigma_y, a,
                           torch.tensor([value], dtype=f64),
                           f"a · x₀ = {value:g} ± {sigma_y:g}, a at {angle:g}°")
    if not isinstance(point, (list, tuple)) or len(point) != 2:
        raise ValueError(f"the noisy point must be two numbers (x, y), got {point!r}")
    px, py = (_number("the noisy point's coordinates", p, -3.0, 3.0) for p in point)
    s = _number("the noise std s", s, 0.01, 2.0)
    return Observation(kind, Identity((2,)), torch.tensor([[px, py]], dtype=f64), s, torch.eye(2, dtype=f64),
                       torch.tensor([px, py], dtype=f64), f"x₀ + {s:g} n = ({px:g}, {py:g})")


@dataclass
class EditRun:
    """One method's run: samples [n, 2], states clean -> noise [F, n, 2] with their timesteps (None: the end)."""
    method: str
    x0: np.ndarray
    frames: np.ndarray
    times: list
    nfe: int
    distance: float
    seconds: float
    off_measurement: float          # mean |A x0 - v| of the samples (0: the measurement is met exactly)


@dataclass
class ToyEdits:
    observation: Observation
    posterior: MixturePosterior
    exact_draws: np.ndarray         # [n, 2] draws of the exact posterior (the reference panel)
    runs: dict                      # method -> EditRun, in METHODS_FOR order
    bounds: tuple

    def sentence(self) -> str:
        """The comparison in words, from the distances."""
        order = sorted(self.runs.values(), key=lambda r: r.distance)
        best, worst = order[0], order[-1]
        return (f"Closest to the exact posterior: **{METHOD_NAMES[best.method]}** ({best.distance:.2f}; 1.0 = as "
                f"close as a fresh draw of it), furthest: {METHOD_NAMES[worst.method]} ({worst.distance:.2f}).")


def toy_edits(obs: Observation, n: int = 2000, seed: int = 0, num_steps: int = 50, model=None,
              methods=None, options: dict | None = None) -> ToyEdits:
    """Run each method of ``methods`` (default: :data:`METHODS_FOR` of the observation) from one x_T of ``n``
    points; ``model`` None: the exact mixture model of the eight Gaussians (epsilon, linear betas, T = 1000), else a
    diffusion toy model trained on them. ``options``: per-method options (e.g. {"dps": {"step_size": 0.3}})."""
    if isinstance(n, bool) or not isinstance(n, int) or not 100 <= n <= 20_000:
        raise ValueError(f"points must be a whole number in [100, 20000], got {n!r}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 2 <= num_steps <= 1000:
        raise ValueError(f"steps must be a whole number in [2, 1000], got {num_steps!r}")
    mixture = dataset_mixture(DATA)
    if model is None:
        schedule = make_schedule("linear", 1000)
        net, prediction_type, to_data = mixture.model(schedule, "epsilon"), "epsilon", (lambda x: x)
    else:
        if getattr(model, "prediction_type", None) == "velocity" or getattr(model, "data_name", None) != DATA:
            raise ValueError(f"editing needs a diffusion (not flow-matching) toy model trained on {DATA!r}")
        schedule, net, prediction_type, to_data = model.schedule, model, model.prediction_type, model.to_data
    methods = METHODS_FOR[obs.kind] if methods is None else tuple(methods)
    bad = [m for m in methods if m not in METHODS_FOR[obs.kind]]
    if bad:
        raise ValueError(f"method(s) {bad} do not apply to a {obs.kind!r} observation; choose from "
                         f"{list(METHODS_FOR[obs.kind])}")
    posterior = mixture_posterior(mixture, obs.A, obs.v, obs.sigma_y)
    # the yardstick's population of the exact posterior, drawn once for every method (what quality() would draw
    # from a callable reference(POPULATION, SEED))
    reference = posterior.sample(POPULATION, torch.Generator().manual_seed(REFERENCE_SEED + SEED), torch.float64)
    runs = {}
    for method in methods:
        x_T, generator = seeded_noise((n, 2), seed, torch.float64)
        t0 = time.perf_counter()
        opts = dict((options or {}).get(method, {}))
        y = obs.y.expand(n, -1)
        if method == "tweedie":
            x0 = tweedie(net, schedule, y, obs.sigma_y, generator, prediction_type=prediction_type)
            t_star = matched_timestep(schedule, obs.sigma_y)
            frames = np.stack([to_data(x0).float().numpy(), (float(schedule.alphas_cumprod[t_star]) ** 0.5
                                                             * y).float().numpy()])
            run = (x0, frames, [None, float(t_star)], 1)
        else:
            if method == "denoise":
                traj = denoise(net, schedule, y, obs.sigma_y, "ddpm", generator=generator,
                               prediction_type=prediction_type, **opts)
            else:
                traj = edit(net, schedule, x_T, method, num_steps, generator, operator=obs.operator, y=obs.y,
                            prediction_type=prediction_type, **opts)
            states, times = clean_to_noise(traj)
            frames = to_data(traj.xs[states]).float().numpy()
            run = (traj.x0, frames, times, traj.nfe)
        x0, frames, times, nfe = run
        x0 = to_data(x0).double()
        seconds = time.perf_counter() - t0
        off = float((x0 @ obs.A.T - obs.v).abs().mean())
        runs[method] = EditRun(method, x0.float().numpy(), frames, times, nfe, quality(x0, reference, chunk=n),
                               seconds, off)
    draws = posterior.sample(n, torch.Generator().manual_seed(seed + 1), torch.float32).numpy()
    pts = np.concatenate([mixture.sample(4000, torch.Generator().manual_seed(0)).numpy(), draws])
    return ToyEdits(obs, posterior, draws, runs, bounds_2d(pts, pad=0.3))
