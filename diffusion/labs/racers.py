"""What the sampler race and the break-it lab enter: a model with what a run of it needs (a :class:`Racer`), one
run from a shared x_T (:func:`run_one`), and the quality figure of its samples.

A :class:`Racer` is ``model(x_t, t)``, its schedule and prediction type, the shape of one sample, and -- for toy
models -- the reference that :func:`diffusion.metrics.quality` compares with (1.0 = as close as a fresh draw of
the data). Build one with :func:`toy_racer` (a trained ``diffusion.toy`` model, diffusion or flow matching),
:func:`exact_racer` (the exact denoiser of a Gaussian-mixture data set, Tweedie's formula: a model with no error at
all, so only the sampler's own error is left) or :func:`image_racer` (a pretrained image model from
:mod:`diffusion.hub`; no quality figure there, the grid of images is the result).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..metrics import quality
from ..samplers import (FLOW_SAMPLERS, SAMPLER_OPTIONS, SAMPLERS, flow_sample, model_calls, options_for, sample,
                        seeded_noise)
from ..schedules import Schedule, make_schedule
from ..toy.data import dataset_mixture, make_dataset

__all__ = ["Racer", "Cell", "toy_racer", "exact_racer", "image_racer", "nfe", "draw_x_T", "estimate_seconds",
           "run_one", "reference_points", "quality_of", "spacing_for"]


@dataclass(frozen=True, eq=False)
class Racer:
    """A model entered in the race.

    ``model(x_t, t)``: x_t in the model's own space (VP scale), t a float tensor [batch] -- timesteps in [0, T-1] for
    diffusion, flow times in [0, 1] when ``schedule`` is None (flow matching: the output is the velocity).
    ``to_data`` maps a final sample back to the data's space; ``reference`` is what ``quality`` compares with
    (None: no figure). ``options(sampler)`` returns the fixed sampler options of this model (an image checkpoint's
    own variance type, clipping, spacing ...).
    """

    label: str
    kind: str                                    # "toy", "exact" or "image"
    model: Callable
    schedule: Optional[Schedule]
    prediction_type: str
    sample_shape: tuple
    to_data: Callable = lambda x: x
    reference: object = None
    options: Callable = lambda sampler: {}

    @property
    def flow(self) -> bool:
        return self.schedule is None

    @property
    def samplers(self) -> list[str]:
        return list(FLOW_SAMPLERS) if self.flow else list(SAMPLERS)

    @property
    def max_steps(self) -> int:
        """Steps are timesteps of the schedule, so at most T (flow matching: up to 1000 steps on [0, 1])."""
        return 1000 if self.flow else self.schedule.num_timesteps


@dataclass
class Cell:
    """One run of the race: ``sampler`` with ``num_steps`` steps."""

    sampler: str
    num_steps: int
    nfe: int = 0
    samples: Optional[torch.Tensor] = None       # the final samples, in the data's space (toy) / [-1, 1] (image)
    quality: Optional[float] = None             # diffusion.metrics.quality; inf when the samples blew up
    seconds: float = 0.0
    error: str = ""                              # why this cell has no result (the race goes on)
    stopped: bool = False                        # the run was stopped part-way (samples = its last x0_pred)



# ----------------------------------------------------------------------------------------------------------------
# racers


def toy_racer(model, label: str | None = None) -> Racer:
    """A trained toy model (``diffusion.toy.fit``): diffusion (any sampler) or flow matching (euler, heun)."""
    reference = model.data_name if model.data_name is not None else model.data
    name = label or f"toy model ({model.objective}, {model.data_name or 'your data'})"
    return Racer(name, "toy", model, model.schedule, model.prediction_type, (model.dim,),
                 to_data=model.to_data, reference=reference)


def exact_racer(data: str = "gaussians8", schedule: Schedule | None = None, shift=None) -> Racer:
    """The exact denoiser E[x_0 | x_t] of a Gaussian-mixture data set (``toy.dataset_mixture``) on ``schedule``
    (default: the toy models' cosine, T = 1000). ``shift`` moves the data off-centre (a vector added to every point):
    the quality reference then draws from the shifted mixture. v-prediction on a zero-terminal-SNR schedule."""
    mixture = dataset_mixture(data)
    if mixture is None:
        raise ValueError(f"data set {data!r} is not a Gaussian mixture; choose one of ['gaussians8', 'gmm1d', "
                         f"'bimodal'] (the exact denoiser is in closed form only for mixtures)")
    schedule = schedule or make_schedule("cosine", 1000)
    reference: object = data
    label = f"exact denoiser ({data})"
    if shift is not None:
        mixture = mixture.affine(1.0, torch.as_tensor(shift, dtype=torch.float64))
        shifted = mixture
        reference = lambda n, seed: shifted.sample(n, torch.Generator().manual_seed(seed), dtype=torch.float64)
        label = f"exact denoiser ({data} moved off-centre by {list(map(float, shift))})"
    prediction = "v_prediction" if schedule.zero_terminal_snr else "epsilon"
    return Racer(label, "exact", mixture.model(schedule, prediction), schedule, prediction, (mixture.dim,),
                 reference=reference)


def image_racer(model) -> Racer:
    """A pretrained image model (``diffusion.hub.ImageModel``) with its checkpoint's own scheduler settings."""
    def options(sampler):
        opts = model.sampler_options(sampler)
        opts.pop("prediction_type")
        return opts
    return Racer(model.id, "image", model, model.schedule, model.prediction_type, tuple(model.shape),
                 options=options)


def nfe(racer: Racer, sampler: str, num_steps: int) -> int:
    """Network calls of one run (heun: 2N - 1; pc: N (M + 1))."""
    return model_calls(sampler, num_steps, racer.options(sampler).get("corrector_steps"))


def spacing_for(racer: Racer, sampler: str, spacing: str | None) -> str | None:
    """The timestep spacing ``sampler`` will use: ``spacing``, else the racer's (checkpoint's), else its default."""
    default = SAMPLER_OPTIONS[sampler].get("timestep_spacing")
    return None if default is None else spacing or racer.options(sampler).get("timestep_spacing") or default


def draw_x_T(racer: Racer, n: int, seed: int) -> torch.Tensor:
    """x_T ~ N(0, I), [n, *sample_shape], from ``seed``: the same draw as the Toy and Image labs make for that seed."""
    dtype = getattr(getattr(racer.model, "unet", None), "dtype", torch.float32)   # an image UNet's own dtype
    return seeded_noise((n, *racer.sample_shape), seed, dtype)[0]


def estimate_seconds(racer: Racer, x_T: torch.Tensor, calls: int) -> float:
    """Seconds for ``calls`` network calls on a batch like ``x_T``, from the faster of two timed calls."""
    mid = 0.5 if racer.flow else float(racer.schedule.num_timesteps // 2)
    t = torch.full((x_T.shape[0],), mid, dtype=x_T.dtype)
    best = math.inf
    with torch.no_grad():
        for _ in range(2):
            start = time.perf_counter()
            racer.model(x_T, t)
            best = min(best, time.perf_counter() - start)
    return calls * best


def run_one(racer: Racer, x_T: torch.Tensor, sampler: str, num_steps: int, seed: int = 0,
            spacing: str | None = None, callback=None, **options):
    """One run from ``x_T``: the Trajectory (record=False). The sampler's own noise comes from a generator seeded
    with ``seed`` that has first drawn x_T, exactly as the Toy and Image labs do, so a cell reproduces their run.
    ``spacing`` overrides the timestep spacing; ``options`` override anything else (variance_type, clip_sample ...)."""
    _, generator = seeded_noise(x_T.shape, seed, x_T.dtype)   # past x_T's draw, as the labs' generator is
    if racer.flow:
        return flow_sample(racer.model, x_T, sampler, num_steps, generator, callback=callback, record=False)
    opts = {**racer.options(sampler), **options_for(sampler, timestep_spacing=spacing), **options}
    return sample(racer.model, racer.schedule, x_T, sampler=sampler, num_steps=num_steps, generator=generator,
                  prediction_type=racer.prediction_type, callback=callback, record=False, **opts)


def reference_points(racer: Racer, n: int = 2000, seed: int = 0) -> Optional[torch.Tensor]:
    """n points of the data the racer is scored against (for drawing it behind the samples); None for images."""
    ref = racer.reference
    if ref is None:
        return None
    if isinstance(ref, str):
        return make_dataset(ref, n, seed)
    if callable(ref):
        return torch.as_tensor(ref(n, seed)).float()
    ref = torch.as_tensor(ref).float()
    return ref[:n]


def quality_of(racer: Racer, samples: torch.Tensor) -> Optional[float]:
    """The quality figure of final samples (data space), inf when they are not finite; None for image models."""
    if racer.reference is None:
        return None
    if not torch.isfinite(samples).all():
        return math.inf
    return quality(samples, racer.reference)


