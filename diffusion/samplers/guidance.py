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

:class:`ClassifierGuided` is the other way to steer (Dhariwal & Nichol 2021): an *unconditional* epsilon-model plus
the gradient of a noise-aware classifier log p(y | x_t). Since grad log p(y | x_t) = grad log p_t(x_t | y) -
grad log p_t(x_t) (Bayes), with the exact classifier of the exact model it is classifier-free guidance with
w = its scale, to the last digit -- a learned classifier and a learned conditional model differ, which is the point
of comparing them.
"""
from __future__ import annotations

import math

import torch

__all__ = ["Guided", "ClassifierGuided", "check_guidance"]


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


class ClassifierGuided:
    """An unconditional epsilon-model steered toward class ``y`` by a classifier (Dhariwal & Nichol 2021, Alg. 2):

        eps_hat(x_t) = eps(x_t) - scale * sqrt(1 - alpha_bar_t) * grad_x log p(y | x_t)

    ``log_prob(x_t, t, y)`` returns log p(y | x_t) [batch] of a noise-aware classifier, differentiable in x_t (the
    exact one of a labelled mixture: :meth:`diffusion.exact.GaussianMixture.classifier`). Use it as a plain
    ``model(x_t, t)`` with ``prediction_type="epsilon"``; the gradient is taken here, whatever autograd mode the
    sampler runs in."""

    def __init__(self, model, schedule, log_prob, y, scale: float):
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 0:
            raise ValueError(f"classifier guidance scale must be a finite number >= 0, got {scale!r}")
        self.model, self.schedule, self.log_prob, self.y, self.scale = model, schedule, log_prob, y, float(scale)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = self.model(x_t, t)
        if self.scale == 0:
            return eps
        y = torch.as_tensor(self.y).long().expand(len(x_t)).to(x_t.device)
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            grad, = torch.autograd.grad(self.log_prob(x, t, y).sum(), x)
        ab = self.schedule.alpha_bar_at(t).to(x_t.dtype).reshape(-1, *([1] * (x_t.ndim - 1)))
        return eps - self.scale * (1 - ab).sqrt() * grad
