"""Classifier-free guidance (Ho & Salimans 2022): one conditional model, steered by mixing its conditional and
unconditional predictions at every step.

A *conditional model* is called ``model(x_t, t, y)``: ``y`` a long tensor [batch] of class indices, or ``y=None``
for the unconditional prediction (a network trained with label dropout knows both). :class:`Guided` turns it into
the plain ``model(x_t, t)`` every sampler takes:

    prediction = uncond + w * (cond - uncond)

on the model's own prediction type (epsilon, x_0, v, or a flow's velocity: all are affine in the model output, so
guiding any of them is the same rule). ``w`` is diffusers' ``guidance_scale``: w = 0 is unconditional sampling, w =
1 plain conditional sampling, w > 1 pushes away from the unconditional prediction. Ho & Salimans write the same
rule as (1 + w') cond - w' uncond, so their w' = w - 1 (their w' = 0 is conditional sampling).

At w = 0 or w = 1 one network call per step suffices, and Guided makes just that one. Otherwise both predictions
come from **one batched call** when the model names a ``null_label`` (the class index that means "no label", as the
lab's conditional image model does), else from two calls.
"""
from __future__ import annotations

import math

import torch

__all__ = ["Guided", "check_guidance"]


def check_guidance(y, guidance_scale, batch: int):
    """(y as int64 [batch], w as a float) checked, or (None, None) for an unguided run; ValueError naming the
    problem otherwise."""
    if y is None:
        if guidance_scale is not None:
            raise ValueError(f"guidance_scale={guidance_scale!r} needs class labels y (a long tensor [batch]); "
                             f"without y the model is sampled unconditionally")
        return None, None
    if isinstance(y, int) and not isinstance(y, bool):
        y = torch.full((batch,), y, dtype=torch.long)
    if not isinstance(y, torch.Tensor) or y.dtype not in (torch.int64, torch.int32) or y.shape != (batch,):
        got = (y.dtype, tuple(y.shape)) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"y must be an int or an integer tensor of shape [{batch}] (one class per sample), got {got}")
    if (y < 0).any():
        raise ValueError(f"class labels must be >= 0, got {sorted(set(y.tolist()))}")
    w = 1.0 if guidance_scale is None else guidance_scale
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
        raise ValueError(f"guidance_scale must be a finite number >= 0 (0: unconditional, 1: conditional), got "
                         f"{guidance_scale!r}")
    return y.long(), float(w)


class Guided:
    """``model(x_t, t, y)`` with fixed labels ``y`` and guidance scale ``w``, as a plain ``model(x_t, t)``.

    After each call ``parts`` holds (cond, uncond) as the network returned them (either is None when not computed),
    so a step record can show both."""

    def __init__(self, model, y: torch.Tensor, w: float):
        self.model, self.y, self.w = model, y, w
        self.null_label = getattr(model, "null_label", None)
        self.parts = (None, None)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        y = self.y.to(x_t.device)
        if self.w == 1:
            cond = self.model(x_t, t, y)
            self.parts = (cond, None)
            return cond
        if self.w == 0:
            uncond = self.model(x_t, t, None)
            self.parts = (None, uncond)
            return uncond
        if self.null_label is not None:       # both halves in one batched network call
            both = self.model(torch.cat([x_t, x_t]), torch.cat([t, t]),
                              torch.cat([y, torch.full_like(y, self.null_label)]))
            cond, uncond = both.chunk(2)
        else:
            cond, uncond = self.model(x_t, t, y), self.model(x_t, t, None)
        self.parts = (cond, uncond)
        return uncond + self.w * (cond - uncond)
