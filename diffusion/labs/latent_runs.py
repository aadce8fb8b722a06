"""The Image lab's latent view: a latent diffusion model (an :class:`~diffusion.hub.ImageModel` with a ``codec``)
sampled with the same samplers as the pixel model, and forward noising in latent space beside pixel space.

The sampler is the core's, unchanged: the latent model is a model on a 5 x 5 x 4 x. Decoding sits at the edge --
once at the end for the sample (part of the run's cost), and, for the eye only, every kept frame's z_t and ẑ₀ in
one batched pass afterwards (timed apart: it is not part of sampling). Frames are ordered as in the Image lab:
frame 0 is the clean end, the last frame x_T.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..forward import q_sample
from ..hub import ImageModel
from ..image_metrics import high_frequency_share, rms
from ..images import channels_mosaic, tensor_to_uint8
from ..samplers import Step, model_calls, sample, seeded_noise
from .image_runs import (HARD_STOP_FACTOR, MAX_BATCH, MAX_RUN_SECONDS, ImageRun, RunTooLong, _check_common, _finish,
                         check_run, generate, initial_noise)
from .runner import MAX_FRAMES, Watch, keep_indices

__all__ = ["RunCost", "Comparison", "latent_generate", "pixel_and_latent", "latent_forward", "LATENT_RANGE",
           "DECODE_BATCH"]

LATENT_RANGE = 3.0     # latents (unit variance) are shown on [-3, 3]: black to white
DECODE_BATCH = 256     # latents decoded per call when drawing a run's frames


@dataclass(frozen=True)
class RunCost:
    """What one run cost: its network calls and their seconds, and (latent) decoding the sample once."""

    space: str             # "pixel" or "latent"
    calls: int
    sampling_s: float
    decode_s: float = 0.0

    @property
    def per_call_s(self) -> float:
        return self.sampling_s / self.calls if self.calls else 0.0

    @property
    def total_s(self) -> float:
        return self.sampling_s + self.decode_s

    def line(self) -> str:
        text = f"{self.space}: {self.calls} network calls x {1e3 * self.per_call_s:.1f} ms = {self.sampling_s:.2f} s"
        if self.space == "latent":
            text += f", + decoding {1e3 * self.decode_s:.0f} ms = {self.total_s:.2f} s"
        return text


def _require_latent(model: ImageModel) -> None:
    if model.codec is None:
        raise ValueError(f"{model.id} is a pixel-space model (no autoencoder); the latent view needs a latent "
                         f"diffusion model such as the bundled mnist-ldm")


class _Kept:
    """The sampler's callback for a latent run: keeps z_t and ẑ₀ (float) of the kept steps, reports progress and
    stops the run on Stop or past its deadline."""

    def __init__(self, num_steps: int, max_frames: int, on_step=None, should_stop=None, deadline=None):
        self.keep = set(keep_indices(num_steps + 1, max_frames))
        self.on_step, self.watch = on_step, Watch(should_stop, deadline)
        self.kept: list[tuple[int, float, torch.Tensor, torch.Tensor]] = []
        self.frames: list = []

    @property
    def timed_out(self) -> bool:
        return self.watch.timed_out

    def __call__(self, step: Step) -> None:
        if step.step in self.keep:
            self.kept.append((step.step, step.t, step.x_t.detach().clone(), step.x0_pred.detach().clone()))
        if self.on_step is not None:
            self.on_step(step.step + 1, step.total)
        self.watch.check()


@torch.no_grad()
def _decode(model: ImageModel, z: torch.Tensor) -> torch.Tensor:
    return torch.cat([model.codec.decode(z[i:i + DECODE_BATCH]) for i in range(0, len(z), DECODE_BATCH)])


def latent_generate(model: ImageModel, sampler: str = "ddim", num_steps: int = 50, seed: int = 0, batch: int = 1,
                    eta: float = 0.0, *, on_step=None, should_stop=None, limit_s: float = MAX_RUN_SECONDS,
                    max_frames: int = MAX_FRAMES) -> ImageRun:
    """Sample ``batch`` latents from pure noise with ``sampler`` and decode them. The ImageRun's ``x_t`` and
    ``x0_pred`` frames are the decoded z_t and ẑ₀; ``extra["latent"]`` [F, B, H', W'] the latent channels of z_t
    (:func:`~diffusion.images.channels_mosaic` on [-3, 3]); ``extra["cost"]`` the run's :class:`RunCost`;
    ``extra["frames_decode_s"]`` the time decoding the frames took (for the eye, not the run)."""
    _require_latent(model)
    _check_common(sampler, num_steps, batch, model.schedule.num_timesteps)
    estimate = check_run(model, sampler, num_steps, batch, limit_s)
    x_T, generator = initial_noise(model, batch, seed)
    rec = _Kept(num_steps, max_frames, on_step, should_stop,
                time.monotonic() + max(HARD_STOP_FACTOR * limit_s, 3 * estimate))
    start = time.perf_counter()
    traj = sample(model, model.schedule, x_T, sampler=sampler, num_steps=num_steps, generator=generator,
                  callback=rec, record=False, **model.sampler_options(sampler, eta))
    sampling_s = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        final = model.codec.decode(traj.x0)
    decode_s = time.perf_counter() - start
    cost = RunCost("latent", traj.nfe, sampling_s, decode_s)

    start = time.perf_counter()
    if rec.kept:
        z_t = torch.cat([k[2] for k in rec.kept])
        z_0 = torch.cat([k[3] for k in rec.kept])
        pictures = _decode(model, torch.cat([z_t, z_0])).split(batch * len(rec.kept))
        x_t, x0 = (p.split(batch) for p in pictures)
        grey = np.full(tensor_to_uint8(final).shape, 128, dtype=np.uint8)
        rec.frames = [(step, t, tensor_to_uint8(a), tensor_to_uint8(b), grey)
                      for (step, t, *_), a, b in zip(rec.kept, x_t, x0)]
    frames_decode_s = time.perf_counter() - start
    mosaics = [channels_mosaic(traj.x0, LATENT_RANGE)] + [channels_mosaic(k[2], LATENT_RANGE)
                                                          for k in reversed(rec.kept)]
    settings = dict(view="latent", sampler=sampler, num_steps=num_steps, seed=seed, batch=batch, eta=eta)
    return _finish(rec, traj, model, settings, cost.total_s, num_steps, final_x=final,
                   extra={"latent": np.stack(mosaics), "cost": cost, "frames_decode_s": frames_decode_s,
                          "latents": traj.x0.detach().float().numpy().copy()})


@dataclass
class Comparison:
    """The pixel model's run and the latent model's from the same seed and settings, and what each cost."""

    pixel: ImageRun
    latent: ImageRun

    @property
    def costs(self) -> tuple[RunCost, RunCost]:
        return RunCost("pixel", self.pixel.nfe, self.pixel.seconds), self.latent.extra["cost"]

    @property
    def speed_up(self) -> float:
        pixel, latent = self.costs
        return pixel.total_s / latent.total_s if latent.total_s > 0 else float("inf")


def pixel_and_latent(pixel: ImageModel, latent: ImageModel, sampler: str = "ddim", num_steps: int = 50,
                     seed: int = 0, batch: int = 8, eta: float = 0.0, *, on_step=None, should_stop=None,
                     limit_s: float = MAX_RUN_SECONDS, max_frames: int = MAX_FRAMES) -> Comparison:
    """Both runs, latent first. ``on_step(done, total)`` counts both runs' steps together (total = 2 x steps);
    ``limit_s`` bounds the two together."""
    if pixel.codec is not None:
        raise ValueError(f"{pixel.id} is a latent model; the pixel side needs a pixel-space model")
    _require_latent(latent)
    if pixel.image_shape != latent.image_shape:
        raise ValueError(f"the two models draw different pictures: {pixel.image_shape} vs {latent.image_shape}")
    _check_common(sampler, num_steps, batch, min(pixel.schedule.num_timesteps, latent.schedule.num_timesteps))
    calls = model_calls(sampler, num_steps)
    estimate = latent.estimate_seconds(batch, calls) + pixel.estimate_seconds(batch, calls)
    if estimate > limit_s:
        raise RunTooLong(f"the two runs would take about {estimate:.0f} s together ({calls} network calls each on "
                         f"{batch} image(s)), over the lab's {limit_s:.0f} s limit: use fewer steps, a smaller "
                         f"batch, a faster sampler (ddim, dpmpp_2m), or one space alone")

    def report(offset):
        return None if on_step is None else (lambda done, total: on_step(offset + done, 2 * total))
    kw = dict(sampler=sampler, num_steps=num_steps, seed=seed, batch=batch, eta=eta, should_stop=should_stop,
              limit_s=limit_s, max_frames=max_frames)
    lat = latent_generate(latent, on_step=report(0), **kw)
    pix = generate(pixel, on_step=report(num_steps), **kw)
    return Comparison(pixel=pix, latent=lat)


@torch.no_grad()
def latent_forward(model: ImageModel, x0: torch.Tensor, seed: int = 0, num_frames: int = 100) -> dict:
    """Forward noising of pictures x0 [B, C, H, W] in pixel space and in the latent space of ``model``:
    x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε beside z_t = sqrt(ᾱ_t) E(x0) + sqrt(1 - ᾱ_t) ε' decoded, at
    ``num_frames`` timesteps from 0 to T - 1 (frame 0 = t = 0), one fixed noise per picture (from ``seed``).

    Measured at every frame over the batch: the RMS of the pictures from the clean ones, and their share of energy
    at high spatial frequencies (:func:`~diffusion.image_metrics.high_frequency_share`): white static scores 0.80,
    smooth strokes and blobs near 0; the clean digits' own share is the baseline.
    """
    _require_latent(model)
    codec = model.codec
    if x0.ndim != 4 or not 1 <= x0.shape[0] <= MAX_BATCH or tuple(x0.shape[1:]) != model.image_shape:
        raise ValueError(f"x0 must be [1..{MAX_BATCH}, {', '.join(map(str, model.image_shape))}] pictures, got "
                         f"{tuple(x0.shape)}")
    T = model.schedule.num_timesteps
    ts = sorted(set(np.linspace(0, T - 1, min(num_frames, T)).round().astype(int).tolist()))
    n, b = len(ts), x0.shape[0]
    x0 = x0.float()
    z0 = codec.encode(x0)
    recon = codec.decode(z0)
    eps_x, _ = seeded_noise(x0.shape, seed, torch.float32)
    eps_z, _ = seeded_noise(z0.shape, seed, torch.float32)
    t = torch.tensor(ts).repeat_interleave(b)                                # frame-major: [n * b]

    def noised(clean, eps):
        return q_sample(model.schedule, clean.repeat(n, 1, 1, 1), t, eps.repeat(n, 1, 1, 1)).float()
    x_t, z_t = noised(x0, eps_x), noised(z0, eps_z)
    decoded = _decode(model, z_t)
    figures = {"pixel_rms": [], "latent_rms": [], "pixel_hf": [], "latent_hf": []}
    for i in range(n):
        frame = slice(i * b, (i + 1) * b)
        figures["pixel_rms"].append(rms(x_t[frame], x0))
        figures["latent_rms"].append(rms(decoded[frame], x0))
        figures["pixel_hf"].append(_share(x_t[frame]))
        figures["latent_hf"].append(_share(decoded[frame]))

    def frames(a):
        return a.reshape(n, b, *a.shape[1:])
    return {"t": ts, "alpha_bar": [float(model.schedule.alphas_cumprod[i]) for i in ts],
            "x0": tensor_to_uint8(x0), "recon": tensor_to_uint8(recon), "recon_rms": rms(recon, x0),
            "x0_hf": _share(x0), "recon_hf": _share(recon),
            "pixel": frames(tensor_to_uint8(x_t)), "decoded": frames(tensor_to_uint8(decoded)),
            "latent": frames(channels_mosaic(z_t, LATENT_RANGE)), **figures}


def _share(x: torch.Tensor) -> float:
    """High-frequency share of a picture; a flat picture (nothing to divide) counts as none."""
    if float(x.max() - x.min()) < 1e-6:
        return 0.0
    return high_frequency_share(x)
