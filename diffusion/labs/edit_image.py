"""The Edit lab's image back-end: inpaint, super-resolve or denoise digits with the bundled (unconditional) model.

Three tasks, each a measurement of the original x_0 (:mod:`diffusion.editing`):

* ``inpaint`` -- a mask (1 = known): "left half", "top half", "centre square" (:data:`MASKS`) or one drawn by the
  visitor; methods replacement, RePaint, DPS;
* ``superres`` -- the average of each f x f block (20 x 20 -> 10 x 10 or 5 x 5); methods ILVR, DPS;
* ``denoise`` -- the picture plus Gaussian noise of a stated std (on the model's [-1, 1] scale); methods: the
  reverse process from the matched timestep (DDPM), and the one-step Tweedie estimate.

Runs are recorded for the scrubber as the Image lab's are (:mod:`.image_runs`: uint8 frames, clean end first), with
the original and what the method was given (``extra``), and refused beforehand when their estimated time is over
the limit (DPS counts a backward pass as two calls).
"""
from __future__ import annotations

import time

import torch

from ..editing import Downsample, Identity, Mask, denoise, edit, matched_timestep, measure, repaint_calls, tweedie
from ..hub import ImageModel
from ..image_metrics import rms, sharpness
from ..images import tensor_to_uint8
from ..samplers import Trajectory, seeded_noise
from .image_runs import HARD_STOP_FACTOR, MAX_BATCH, MAX_RECORD_BYTES, MAX_RUN_SECONDS, RunTooLong, _finish, _Frames
from .runner import MAX_FRAMES

__all__ = ["TASKS", "MASKS", "METHODS_FOR", "IMAGE_DPS_STEP", "named_mask", "observe_images", "image_edit",
           "edit_calls", "SR_FACTORS"]

TASKS = ("inpaint", "superres", "denoise")
MASKS = ("left half", "top half", "centre square")
METHODS_FOR = {"inpaint": ("replacement", "repaint", "dps"), "superres": ("ilvr", "dps"),
               "denoise": ("denoise", "tweedie")}
SR_FACTORS = (2, 4)
IMAGE_DPS_STEP = 2.0         # DPS step size on the digits (of 0.5, 1, 2 on 30 held-out digits, 2 was judged best)
DPS_CALL_COST = 3            # a DPS step: one forward and one backward pass through the network, ~3 forward calls


def named_mask(name: str, shape) -> torch.Tensor:
    """The known region [C, H, W] (True = known) of a named mask."""
    if name not in MASKS:
        raise ValueError(f"unknown mask {name!r}; choose one of {list(MASKS)} or draw one")
    c, h, w = shape
    known = torch.zeros(c, h, w, dtype=torch.bool)
    if name == "left half":
        known[..., : w // 2] = True
    elif name == "top half":
        known[:, : h // 2] = True
    else:                                       # everything but the centre square (half the side)
        known[:] = True
        known[:, h // 4: h - h // 4, w // 4: w - w // 4] = False
    return known


def observe_images(task: str, x0: torch.Tensor, *, mask=None, factor: int = 2, noise_std: float = 0.5,
                   seed: int = 0):
    """(operator, y, noise_std) for ``task`` on originals x0 [B, C, H, W]: ``mask`` a name of :data:`MASKS` or a
    bool [C, H, W] / [H, W] (True = known); ``factor`` the down-sampling factor; ``noise_std`` the added noise's std
    (denoise; the noise comes from ``seed``)."""
    if task not in TASKS:
        raise ValueError(f"unknown editing task {task!r}; choose one of {list(TASKS)}")
    shape = tuple(x0.shape[1:])
    if task == "inpaint":
        known = named_mask(mask, shape) if isinstance(mask, str) else torch.as_tensor(mask)
        if known.shape == shape[1:]:
            known = known.expand(shape)
        if tuple(known.shape) != shape:
            raise ValueError(f"the mask must be {shape[1]} x {shape[2]} like the picture, got {tuple(known.shape)}")
        if known.all():
            raise ValueError("the mask covers nothing: paint over the part of the digit to fill in")
        op = Mask(known.bool())
        return op, measure(op, x0), 0.0
    if task == "superres":
        if factor not in SR_FACTORS:
            raise ValueError(f"super-resolution factor must be one of {list(SR_FACTORS)}, got {factor!r}")
        op = Downsample(shape, factor)
        return op, measure(op, x0), 0.0
    op = Identity(shape)
    y = measure(op, x0, noise_std, torch.Generator().manual_seed(int(seed) + 7919))
    return op, y, float(noise_std)


def edit_calls(task: str, method: str, num_steps: int, model: ImageModel, noise_std: float = 0.5,
               jump_length: int = 5, resample: int = 5) -> int:
    """Network calls of a run, counted in forward-pass units (DPS: x DPS_CALL_COST)."""
    if method == "tweedie":
        return 1
    if method == "denoise":
        return matched_timestep(model.schedule, noise_std) + 1
    if method == "repaint":
        return repaint_calls(num_steps, min(jump_length, num_steps), resample)
    return num_steps * (DPS_CALL_COST if method == "dps" else 1)


def image_edit(model: ImageModel, x0: torch.Tensor, task: str, method: str, *, num_steps: int = 50, seed: int = 0,
               mask="left half", factor: int = 2, noise_std: float = 0.5, observed: torch.Tensor | None = None,
               step_size: float = IMAGE_DPS_STEP, jump_length: int = 5, resample: int = 5, on_step=None,
               should_stop=None, limit_s: float = MAX_RUN_SECONDS, max_frames: int = MAX_FRAMES,
               max_bytes: int = MAX_RECORD_BYTES):
    """Edit the pictures x0 [B, C, H, W] (in [-1, 1]) with ``method`` of ``task``; an ImageRun whose ``extra``
    holds ``original`` and ``observed`` (what the method saw: the masked picture with the unknown part grey, the
    low-resolution picture blown up, or the noisy picture), and the figures ``rms`` (to the originals),
    ``sharpness`` and ``sharpness_original`` (:mod:`diffusion.image_metrics`). ``observed`` (denoise): an already noisy picture to
    clean instead of adding noise to x0 (the visitor states ``noise_std``)."""
    if task not in TASKS:
        raise ValueError(f"unknown editing task {task!r}; choose one of {list(TASKS)}")
    if method not in METHODS_FOR[task]:
        raise ValueError(f"method {method!r} does not apply to {task!r}; choose one of {list(METHODS_FOR[task])}")
    if x0.ndim != 4 or tuple(x0.shape[1:]) != model.shape or not 1 <= len(x0) <= MAX_BATCH:
        raise ValueError(f"pictures must be [1..{MAX_BATCH}, {', '.join(map(str, model.shape))}], got "
                         f"{tuple(x0.shape)}")
    T = model.schedule.num_timesteps
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 2 <= num_steps <= T:
        raise ValueError(f"steps must be a whole number in [2, {T}], got {num_steps!r}")
    x0 = x0.to(model.unet.dtype)
    op, y, sigma = observe_images(task, x0, mask=mask, factor=factor, noise_std=noise_std, seed=seed)
    if observed is not None:
        y = op.check(observed.to(x0.dtype), "the noisy picture")
    calls = edit_calls(task, method, num_steps, model, noise_std, jump_length, resample)
    estimate = model.estimate_seconds(len(x0), calls)
    if estimate > limit_s:
        raise RunTooLong(f"this edit would take about {estimate:.0f} s ({calls} network calls on {len(x0)} "
                         f"picture(s)), over the lab's {limit_s:.0f} s limit; use fewer steps, fewer pictures, "
                         f"or less resampling")
    x_T, generator = seeded_noise(x0.shape, seed, x0.dtype)
    clip = dict(prediction_type=model.prediction_type, clip_sample=model.clip_sample,
                clip_sample_range=model.clip_sample_range)
    deadline = time.monotonic() + max(HARD_STOP_FACTOR * limit_s, 3 * estimate)
    start = time.perf_counter()
    if method == "tweedie":
        x0_hat = tweedie(model, model.schedule, y, sigma, generator, **clip)
        rec = _Frames(1, max_frames, max_bytes, x0, on_step, should_stop, deadline)
        traj = Trajectory(x0=x0_hat, timesteps=torch.zeros(1, dtype=torch.float64), xs=None, x0_preds=None, nfe=1)
        total = 1
    else:
        if method == "denoise":
            total = matched_timestep(model.schedule, sigma) + 1
            rec = _Frames(total, max_frames, max_bytes, x0, on_step, should_stop, deadline)
            traj = denoise(model, model.schedule, y, sigma, "ddpm", generator=generator, callback=rec,
                           record=False, **clip)
        else:
            opts = {"step_size": step_size} if method == "dps" else \
                {"jump_length": min(jump_length, num_steps), "resample": resample} if method == "repaint" else {}
            total = calls if method == "repaint" else num_steps
            rec = _Frames(total, max_frames, max_bytes, x0, on_step, should_stop, deadline)
            traj = edit(model, model.schedule, x_T, method, num_steps, generator, operator=op, y=y,
                        callback=rec, record=False, **clip, **opts)
    seconds = time.perf_counter() - start
    settings = dict(view="edit", task=task, method=method, num_steps=num_steps, seed=seed, batch=len(x0),
                    mask=mask if isinstance(mask, str) else "drawn", factor=factor, noise_std=sigma,
                    observed_given=observed is not None)
    shown = op.pinv(y) if task == "superres" else y
    if task == "inpaint":
        shown = torch.where(op.known, y, torch.zeros((), dtype=y.dtype))      # the unknown part mid-grey
    extra = {"original": tensor_to_uint8(x0), "observed": tensor_to_uint8(shown.clamp(-1, 1))}
    run = _finish(rec, traj, model, settings, seconds, total, extra)
    result = torch.from_numpy(run.final_float).clamp(-1, 1)
    run.extra.update(rms=rms(result, x0.float()), sharpness=sharpness(result), sharpness_original=sharpness(x0.float()))
    if task == "inpaint":
        run.extra["known"] = op.known[0].numpy().copy()
    return run


def judged_fraction(verdict: dict, labels: torch.Tensor) -> float:
    """Share of pictures the digit judge calls confidently the digit they were made from."""
    return float((verdict["confident"] & (verdict["label"] == labels)).float().mean())


__all__ += ["judged_fraction"]
