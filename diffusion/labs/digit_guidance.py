"""Classifier-free guidance on digits: the bundled class-conditional MNIST model, steered toward a digit.

Two views, both from :func:`diffusion.sample` with ``y`` and ``guidance_scale`` (one batched network call per step
for the conditional and unconditional halves):

* :func:`guidance_grid` -- rows = digits, columns = guidance scales w, with **the same x_T along each row**, so a row
  shows only the effect of w (w = 0: the model's "no label" class, i.e. unconditional sampling);
* :func:`guided_run` -- one batch of one digit at one w, recorded for the scrubber: x_t, x̂₀ and both predicted
  noises, eps(x_t, y) and eps(x_t, no label), side by side;
* :func:`guidance_sweep` -- one batch of one digit at each of several w, all from the same x_T, judged by the bundled
  digit judge (:mod:`diffusion.digit_judge`): the share read as the digit asked for, and the batch's diversity.

DDIM runs **without x0 clipping** here. The checkpoint's scheduler clips x̂₀ to [-1, 1] (as diffusers' DDIM does by
default), but it keeps the *guided* eps for the step; at w > 1 the guided x̂₀ leaves [-1, 1] at high noise and the
clipped x̂₀ and unclipped eps no longer describe the same x_t -- the run drifts to other digits and blotches
(assets/mnist-ddpm-cond/TRAINING.md measures both).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ..hub import ImageModel
from ..images import tensor_to_uint8
from ..samplers import Step, sample
from .image_runs import MAX_BATCH, NOISE_RANGE, RunTooLong, initial_noise
from .runner import MAX_FRAMES, keep_indices

__all__ = ["GRID_SCALES", "SWEEP_SCALES", "guidance_grid", "guided_run", "guidance_sweep", "GuidedDigits",
           "check_conditional"]

GRID_SCALES = (0.0, 1.0, 3.0, 7.0)
SWEEP_SCALES = (0.0, 1.0, 2.0, 3.0, 5.0, 7.0)
MAX_W = 10.0


def check_conditional(model: ImageModel) -> None:
    if not model.num_classes:
        raise ValueError(f"{model.id} is unconditional; guidance needs a class-conditional model (num_class_embeds)")


def _options(model: ImageModel) -> dict:
    return dict(model.sampler_options("ddim"), clip_sample=False)


def _check(model, digits, w, steps, limit_s, batch):
    check_conditional(model)
    bad = [d for d in digits if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d < model.num_classes]
    if bad:
        raise ValueError(f"digits must be whole numbers in [0, {model.num_classes - 1}], got {bad}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= 200:
        raise ValueError(f"steps must be a whole number in [2, 200], got {steps!r}")
    for v in w:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= MAX_W:
            raise ValueError(f"guidance scale w must be a number in [0, {MAX_W:g}], got {v!r}")
    calls = sum(steps * (1 if v in (0, 1) else 2) for v in w)
    estimate = model.estimate_seconds(batch, calls)
    if estimate > limit_s:
        raise RunTooLong(f"this would take about {estimate:.0f} s ({calls} network calls on {batch} images), over "
                         f"the lab's {limit_s:.0f} s limit; use fewer steps or digits")
    return estimate


def guidance_grid(model: ImageModel, digits=tuple(range(10)), scales=GRID_SCALES, steps: int = 50, seed: int = 0,
                  limit_s: float = 120.0) -> dict:
    """{"grid": uint8 [len(digits), len(scales), H, W] (or [..., 3]), "digits", "scales", "seconds"}: DDIM,
    ``steps`` steps, digit d's x_T drawn from ``seed`` once and used for every w in its row."""
    digits = list(digits)
    _check(model, digits, list(scales), steps, limit_s, len(digits))
    x_T, _ = initial_noise(model, len(digits), seed)
    y = torch.tensor(digits, dtype=torch.long)
    t0 = time.perf_counter()
    columns = []
    for w in scales:
        g = torch.Generator().manual_seed(int(seed) + 1)
        traj = sample(model, model.schedule, x_T, "ddim", steps, g, y=y, guidance_scale=float(w), record=False,
                      **_options(model))
        columns.append(tensor_to_uint8(traj.x0.clamp(-1, 1)))
    return {"grid": np.stack(columns, 1), "digits": digits, "scales": [float(w) for w in scales],
            "seconds": time.perf_counter() - t0}


class GuidedDigits:
    """A recorded guided run: frames clean -> noise of x_t, x̂₀, eps_cond and eps_uncond ([F, B, ...] uint8), their
    labels, and the samples."""

    def __init__(self, final, x_t, x0_pred, eps_cond, eps_uncond, labels, settings, seconds):
        self.final, self.x_t, self.x0_pred = final, x_t, x0_pred
        self.eps_cond, self.eps_uncond = eps_cond, eps_uncond
        self.labels, self.settings, self.seconds = labels, settings, seconds

    @property
    def num_frames(self) -> int:
        return len(self.labels)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.final, self.x_t, self.x0_pred, self.eps_cond, self.eps_uncond))


def guided_run(model: ImageModel, digit: int, w: float = 3.0, batch: int = 8, steps: int = 50, seed: int = 0,
               limit_s: float = 120.0, on_step=None) -> GuidedDigits:
    """``batch`` samples of ``digit`` at guidance scale ``w`` (DDIM, no x0 clipping), recorded for the scrubber."""
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch size must be a whole number in [1, {MAX_BATCH}], got {batch!r}")
    _check(model, [digit], [w], steps, limit_s, batch)
    x_T, g = initial_noise(model, batch, seed)
    keep = set(keep_indices(steps + 1, MAX_FRAMES))
    frames = []
    null = torch.zeros_like(x_T)

    def record(step: Step) -> None:
        if step.step in keep:
            cond = step.extra.get("eps_cond", step.eps_pred if w == 1 else null)
            uncond = step.extra.get("eps_uncond", step.eps_pred if w == 0 else null)
            frames.append((step.t, tensor_to_uint8(step.x_t), tensor_to_uint8(step.x0_pred),
                           tensor_to_uint8(cond / NOISE_RANGE), tensor_to_uint8(uncond / NOISE_RANGE)))
        if on_step is not None:
            on_step(step.step + 1, step.total)

    t0 = time.perf_counter()
    traj = sample(model, model.schedule, x_T, "ddim", steps, g, y=int(digit), guidance_scale=float(w), callback=record,
                  record=False, **_options(model))
    final = tensor_to_uint8(traj.x0.clamp(-1, 1))
    grey = np.full_like(final, 128)
    frames.append((-1.0, final, final, grey, grey))
    frames.reverse()                                   # frame 0 = the samples, the last = x_T
    labels = ["the samples" if t < 0 else f"t = {t:.0f}" for t, *_ in frames]
    stack = lambda k: np.stack([f[k] for f in frames])  # noqa: E731
    return GuidedDigits(final, stack(1), stack(2), stack(3), stack(4), labels,
                        dict(digit=int(digit), w=float(w), batch=batch, steps=steps, seed=seed),
                        time.perf_counter() - t0)


def guidance_sweep(model: ImageModel, judge, digit: int, scales=SWEEP_SCALES, n: int = 16, steps: int = 50,
                   seed: int = 0, limit_s: float = 120.0, on_step=None) -> dict:
    """``n`` samples of ``digit`` at each guidance scale w in ``scales`` (DDIM, no x0 clipping), **the same x_T and
    DDIM noise for every w**, judged by ``judge`` (a :class:`diffusion.digit_judge.DigitJudge`).

    Returns {"scales", "digit", "n", "steps", "seed", "samples": uint8 [len(scales), n, H, W], "rows": one dict
    per w: as_asked (share read confidently as ``digit``), read_as (counts per class 0-9 and 10 = junk), diversity
    (mean pairwise feature distance over the real digits'), seconds}, "seconds"}. At w = 0 the model samples
    unconditionally (its "no label" class), so as_asked is about chance there and diversity that of all digits."""
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_BATCH:
        raise ValueError(f"samples per w must be a whole number in [2, {MAX_BATCH}], got {n!r}")
    scales = [float(w) if isinstance(w, (int, float)) and not isinstance(w, bool) else w for w in scales]
    if not 1 <= len(scales) <= 8:
        raise ValueError(f"a sweep takes 1 to 8 guidance scales, got {len(scales)}")
    estimate = _check(model, [digit], scales, steps, limit_s, n)
    calls = sum(steps * (1 if w in (0, 1) else 2) for w in scales)
    x_T, _ = initial_noise(model, n, seed)
    done = 0
    rows, samples = [], []
    t_all = time.perf_counter()
    for w in scales:
        def tick(step: Step, w=w) -> None:
            if on_step is not None:
                on_step(done + (step.step + 1) * (1 if w in (0, 1) else 2), calls)
        t0 = time.perf_counter()
        g = torch.Generator().manual_seed(int(seed) + 1)
        traj = sample(model, model.schedule, x_T, "ddim", steps, g, y=int(digit), guidance_scale=w, callback=tick,
                      record=False, **_options(model))
        seconds = time.perf_counter() - t0
        done += steps * (1 if w in (0, 1) else 2)
        x0 = traj.x0.clamp(-1, 1)
        label, prob, _ = judge.read(x0)
        asked = (label == digit) & (prob >= judge.confidence)
        rows.append(dict(w=w, as_asked=float(asked.float().mean()),
                         read_as=torch.bincount(label, minlength=11).tolist(),
                         diversity=judge.diversity(x0, digit), seconds=seconds))
        samples.append(tensor_to_uint8(x0))
    return dict(scales=scales, digit=int(digit), n=n, steps=steps, seed=int(seed), samples=np.stack(samples),
                rows=rows, seconds=time.perf_counter() - t_all, estimate_s=estimate)
