"""The Image lab's back-end: what it does with a pretrained :class:`~diffusion.hub.ImageModel` -- noise an image
(forward process), sample a batch (any core sampler), and noise-and-restore (SDEdit), recording what a student
scrubs through.

All the maths is the core's (``diffusion.sample``, ``q_sample``, ``to_x0_eps``); this module draws the noise as
diffusers' pipelines do, guards the time a run may take, and keeps a bounded, subsampled record in uint8.

Frames are ordered as in the rest of the lab: frame 0 is the clean end (the final sample), the last frame is the
start of sampling (x_T, pure noise), so a slider reads "noise level" left to right.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..editing import DENOISE_SAMPLERS
from ..forward import q_sample
from ..hub import ImageModel
from ..images import tensor_to_uint8
from ..parameterization import to_x0_eps
from ..samplers import SAMPLERS, Step, model_calls, sample, seeded_noise
from ..schedules import Schedule, truncated as truncated_schedule
from .runner import MAX_FRAMES, Watch, keep_indices

__all__ = ["ImageRun", "RunTooLong", "MAX_BATCH", "MAX_RUN_SECONDS", "SDEDIT_SAMPLERS", "initial_noise",
           "check_run", "generate", "sdedit", "forward_frames", "snr_label"]

MAX_BATCH = 16
MAX_RUN_SECONDS = 120.0        # a run estimated longer than this is refused (the UI says so)
HARD_STOP_FACTOR = 2.0         # a run still going after this x its limit (a busy machine) is stopped
MAX_RECORD_BYTES = 96 * 2**20   # and never more than this many bytes of frames per run (by default)
NOISE_RANGE = 3.0              # predicted noise is shown on [-3, 3] (a standard normal's +-3 sigma)
# samplers that start exactly at x_t in the VP scale on a truncated schedule (see sdedit)
SDEDIT_SAMPLERS = DENOISE_SAMPLERS


class RunTooLong(ValueError):
    """A run whose estimated time is over the limit; the message says how to shorten it."""


@dataclass
class ImageRun:
    """A finished (or stopped) run of one batch, as uint8 frames. Frame 0 = clean end, last = start (noisiest)."""

    final: np.ndarray                  # [B, H, W] or [B, H, W, 3]: the samples (or the last x0_pred if stopped)
    x_t: np.ndarray                    # [F, B, ...]: the sampler's state at each kept frame
    x0_pred: np.ndarray                # [F, B, ...]: the model's predicted clean image there
    eps_pred: np.ndarray               # [F, B, ...]: the model's predicted noise there (on [-3, 3])
    labels: list[str]                  # [F]: "step 12/50  t = 760  ᾱ = 0.0308  SNR = 0.0318" (step about to run)
    timesteps: list[float]             # [F]: the timestep of each frame (-1 for the clean end)
    model_id: str
    settings: dict
    nfe: int
    seconds: float
    stopped: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)   # e.g. SDEdit's original and noised images
    final_float: np.ndarray | None = None       # [B, C, H, W] float32 in the model's scale (for exact checks)

    @property
    def num_frames(self) -> int:
        return len(self.labels)

    @property
    def batch(self) -> int:
        return self.final.shape[0]

    def nbytes(self) -> int:
        arrays = [self.final, self.x_t, self.x0_pred, self.eps_pred, self.final_float, *self.extra.values()]
        return sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))


# ----------------------------------------------------------------------------------------------------------------
# cost and noise


def check_run(model: ImageModel, sampler: str, num_steps: int, batch: int,
              limit_s: float = MAX_RUN_SECONDS) -> float:
    """The estimated seconds of a run, or RunTooLong saying how many steps would fit under ``limit_s``."""
    calls = model_calls(sampler, num_steps)
    estimate = model.estimate_seconds(batch, calls)
    if estimate > limit_s:
        per_call = model.estimate_seconds(batch, 1)
        fit_calls = int(limit_s / per_call) if per_call > 0 else 0
        fit = fit_calls if sampler not in ("heun", "pc") else max(1, fit_calls // 2)
        hint = (f"at most ~{fit} steps fit at batch size {batch}" if fit >= 1
                else f"even one step takes {per_call:.0f} s at batch size {batch}")
        raise RunTooLong(f"this run would take about {estimate:.0f} s ({calls} network calls on {batch} image(s) "
                         f"of {model.id}), over the lab's {limit_s:.0f} s limit: {hint}; use fewer steps, a "
                         f"smaller batch, or a faster sampler (ddim, dpmpp_2m)")
    return estimate


def initial_noise(model: ImageModel, batch: int, seed: int) -> tuple[torch.Tensor, torch.Generator]:
    """x_T ~ N(0, I) of shape [batch, C, H, W], drawn as diffusers' DDPMPipeline / DDIMPipeline draw it
    (``randn_tensor(shape, generator, dtype=unet.dtype)`` on the CPU: one float32 draw from a seeded generator),
    and the generator, which the sampler then uses for its own noise, so a seed reproduces the pipeline exactly."""
    return seeded_noise((batch, *model.shape), seed, model.unet.dtype)


def snr_label(schedule: Schedule, t: float) -> str:
    """'t = 412  ᾱ = 0.430  SNR = 0.754' for an integer or fractional timestep t."""
    ab = 1.0 if t < 0 else float(schedule.alpha_bar_at(t))
    snr = ab / (1 - ab) if ab < 1 else math.inf
    return f"t = {t:g}  ᾱ = {ab:.4g}  SNR = {snr:.3g}"


def _noise_uint8(eps: torch.Tensor) -> np.ndarray:
    return tensor_to_uint8(eps / NOISE_RANGE)


# ----------------------------------------------------------------------------------------------------------------
# recording


class _Frames:
    """The sampler's callback: keeps the frames it is told to (x_t, x0_pred, eps_pred of each kept step, as uint8),
    reports progress, and stops the run on Stop or past its deadline."""

    def __init__(self, num_steps: int, max_frames: int, max_bytes: int, x_T: torch.Tensor, on_step=None,
                 should_stop=None, deadline: float | None = None):
        self.on_step, self.watch = on_step, Watch(should_stop, deadline)
        per_frame = 3 * x_T[0].numel() * x_T.shape[0]  # three uint8 panels per image
        limit = max(2, min(max_frames, max_bytes // max(per_frame, 1)))
        self.keep = set(keep_indices(num_steps + 1, limit))  # frame k = the state before step k; k = num_steps: end
        self.frames: list[tuple[int, float, np.ndarray, np.ndarray, np.ndarray]] = []

    @property
    def timed_out(self) -> bool:
        return self.watch.timed_out

    def __call__(self, step: Step) -> None:
        if step.step in self.keep:
            self.frames.append((step.step, step.t, tensor_to_uint8(step.x_t), tensor_to_uint8(step.x0_pred),
                                _noise_uint8(step.eps_pred)))
        if self.on_step is not None:
            self.on_step(step.step + 1, step.total)
        self.watch.check()


def _finish(rec: _Frames, traj, model: ImageModel, settings: dict, seconds: float, total: int,
            extra=None, final_x: torch.Tensor | None = None) -> ImageRun:
    """The run as an ImageRun; ``final_x``: the result as a picture when it is not ``traj.x0`` itself (a latent
    model's decoded sample)."""
    final_x = traj.x0 if final_x is None else final_x
    final = tensor_to_uint8(final_x)
    done = len(traj.timesteps)
    frames = list(rec.frames)
    # the clean end: the final sample (its "prediction" is itself; no noise is left)
    frames.append((done, -1.0, final, final, np.full_like(final, 128)))
    frames.reverse()  # frame 0 = clean end, last = x_T
    labels = []
    for step, t, *_ in frames:
        if t < 0:
            labels.append(f"end ({done}/{total} steps)  x₀ (the sample)" if not traj.stopped
                          else f"stopped after {done}/{total} steps  showing the last x̂₀")
        else:
            labels.append(f"step {step + 1}/{total}  {snr_label(model.schedule, t)}")
    note = ""
    if traj.stopped:
        note = ("stopped: the run passed its time limit (the machine is busy); showing the last prediction"
                if rec.timed_out else "stopped: showing the last prediction x̂₀")
    return ImageRun(
        final=final,
        x_t=np.stack([f[2] for f in frames]), x0_pred=np.stack([f[3] for f in frames]),
        eps_pred=np.stack([f[4] for f in frames]), labels=labels, timesteps=[f[1] for f in frames],
        model_id=model.id, settings=settings, nfe=traj.nfe, seconds=seconds, stopped=traj.stopped, note=note,
        extra=extra or {}, final_float=final_x.detach().float().numpy().copy())


def _check_common(sampler: str, num_steps, batch, limit_T: int) -> None:
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {list(SAMPLERS)}")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch size must be a whole number in [1, {MAX_BATCH}], got {batch!r}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 1 <= num_steps <= limit_T:
        raise ValueError(f"steps must be a whole number in [1, {limit_T}], got {num_steps!r}")


# ----------------------------------------------------------------------------------------------------------------
# the three views


def generate(model: ImageModel, sampler: str = "ddim", num_steps: int = 50, seed: int = 0, batch: int = 1,
             eta: float = 0.0, *, on_step=None, should_stop=None, limit_s: float = MAX_RUN_SECONDS,
             max_frames: int = MAX_FRAMES, max_bytes: int = MAX_RECORD_BYTES,
             timestep_spacing: str | None = None) -> ImageRun:
    """Sample ``batch`` images from pure noise with ``sampler`` (Reverse view). ``on_step(done, total)`` reports
    progress; ``should_stop()`` returning True ends the run early (the last x0_pred becomes the result)."""
    _check_common(sampler, num_steps, batch, model.schedule.num_timesteps)
    estimate = check_run(model, sampler, num_steps, batch, limit_s)
    x_T, generator = initial_noise(model, batch, seed)
    rec = _Frames(num_steps, max_frames, max_bytes, x_T, on_step, should_stop,
                  time.monotonic() + max(HARD_STOP_FACTOR * limit_s, 3 * estimate))
    start = time.perf_counter()
    traj = sample(model, model.schedule, x_T, sampler=sampler, num_steps=num_steps, generator=generator,
                  callback=rec, record=False, **model.sampler_options(sampler, eta, timestep_spacing))
    seconds = time.perf_counter() - start
    settings = dict(view="sample", sampler=sampler, num_steps=num_steps, seed=seed, batch=batch, eta=eta)
    return _finish(rec, traj, model, settings, seconds, num_steps)


def forward_frames(model: ImageModel, x0: torch.Tensor, seed: int = 0, num_frames: int = 100,
                   with_x0_pred: bool = True, limit_s: float = 5.0) -> dict:
    """The forward process on one image x0 [1, C, H, W]: x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε (DDPM eq. 4) with
    one fixed ε (from ``seed``) at ``num_frames`` timesteps from 0 to T-1, and, when it is cheap enough
    (``limit_s``), the model's x̂₀ from each x_t in one batched call. Frame 0 is t = 0, the last t = T - 1."""
    if x0.ndim != 4 or x0.shape[0] != 1 or tuple(x0.shape[1:]) != model.shape:
        raise ValueError(f"x0 must be one image of shape [1, {', '.join(map(str, model.shape))}], "
                         f"got {tuple(x0.shape)}")
    T = model.schedule.num_timesteps
    ts = sorted(set(np.linspace(0, T - 1, min(num_frames, T)).round().astype(int).tolist()))
    noise, _ = seeded_noise(x0.shape, seed, x0.dtype)
    t = torch.tensor(ts)
    x_t = q_sample(model.schedule, x0.expand(len(ts), *x0.shape[1:]), t, noise.expand(len(ts), *x0.shape[1:]))
    result = {"t": ts, "x0": tensor_to_uint8(x0)[0], "x_t": tensor_to_uint8(x_t), "noise": _noise_uint8(noise)[0],
              "alpha_bar": [float(model.schedule.alphas_cumprod[i]) for i in ts],
              "snr": [float(model.schedule.snr[i]) for i in ts], "x0_pred": None}
    if with_x0_pred and model.estimate_seconds(len(ts), 1) <= limit_s:
        with torch.no_grad():
            out = torch.cat([model(x_t[i:i + 25], t[i:i + 25].to(torch.float64)) for i in range(0, len(ts), 25)])
        ab = model.schedule.alphas_cumprod[t]
        x0_pred, _ = to_x0_eps(out.to(torch.float64), x_t.to(torch.float64), ab, model.prediction_type)
        if model.clip_sample:
            x0_pred = x0_pred.clamp(-model.clip_sample_range, model.clip_sample_range)
        result["x0_pred"] = tensor_to_uint8(x0_pred)
    return result


def sdedit(model: ImageModel, x0: torch.Tensor, t_start: int, seed: int = 0, sampler: str = "ddim",
           num_steps: int = 50, eta: float = 0.0, *, on_step=None, should_stop=None,
           limit_s: float = MAX_RUN_SECONDS, max_frames: int = MAX_FRAMES,
           max_bytes: int = MAX_RECORD_BYTES) -> ImageRun:
    """Noise-and-restore (SDEdit, Meng et al. 2022): x_{t0} = sqrt(ᾱ_t0) x0 + sqrt(1 - ᾱ_t0) ε, then run the
    reverse process from t0 down to 0.

    Starting at t0 is sampling on the schedule truncated to its first t0 + 1 steps: its ᾱ_t for t <= t0 are the
    original ones, so the model sees its usual timesteps, and "trailing" spacing makes the first step exactly t0.
    ``num_steps`` is capped at t0 + 1.
    """
    T = model.schedule.num_timesteps
    if isinstance(t_start, bool) or not isinstance(t_start, int) or not 0 <= t_start <= T - 1:
        raise ValueError(f"the noise level t must be a whole number in [0, {T - 1}], got {t_start!r}")
    if sampler not in SDEDIT_SAMPLERS:
        raise ValueError(f"noise-and-restore supports the samplers {list(SDEDIT_SAMPLERS)} (they start exactly "
                         f"at x_t0), got {sampler!r}")
    num_steps = min(num_steps, t_start + 1) if isinstance(num_steps, int) and not isinstance(num_steps, bool) \
        else num_steps
    _check_common(sampler, num_steps, 1, t_start + 1)
    if x0.ndim != 4 or x0.shape[0] != 1 or tuple(x0.shape[1:]) != model.shape:
        raise ValueError(f"x0 must be one image of shape [1, {', '.join(map(str, model.shape))}], "
                         f"got {tuple(x0.shape)}")
    estimate = check_run(model, sampler, num_steps, 1, limit_s)
    noise, generator = seeded_noise(x0.shape, seed, model.unet.dtype)
    x_start = q_sample(model.schedule, x0.to(noise.dtype), t_start, noise)           # DDPM eq. 4 at t0
    truncated = truncated_schedule(model.schedule, t_start)
    rec = _Frames(num_steps, max_frames, max_bytes, x_start, on_step, should_stop,
                  time.monotonic() + max(HARD_STOP_FACTOR * limit_s, 3 * estimate))
    start = time.perf_counter()
    traj = sample(model, truncated, x_start, sampler=sampler, num_steps=num_steps, generator=generator,
                  callback=rec, record=False, **model.sampler_options(sampler, eta, "trailing"))
    seconds = time.perf_counter() - start
    settings = dict(view="restore", sampler=sampler, num_steps=num_steps, seed=seed, t_start=t_start, eta=eta)
    extra = {"original": tensor_to_uint8(x0)[0], "noised": tensor_to_uint8(x_start)[0]}
    return _finish(rec, traj, model, settings, seconds, num_steps, extra)
