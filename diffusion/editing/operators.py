"""Measurement operators: what a visitor observes of a clean x_0, as a linear map y = A x_0 (+ noise).

Each operator works on a batch x [batch, ...] and knows three things the editing methods need:

* ``A(x)`` -- the measurement (kept batched; a mask keeps the image's shape and zeroes the unknown part);
* ``pinv(y)`` -- the pseudo-inverse A^+ y, the least-norm x with A x = y (a mask: itself; averaging down-sampling:
  nearest-neighbour up-sampling, since A A^T = I / f^2 so A^+ = f^2 A^T);
* ``replace(x, y)`` -- x with its measured part set to y: x + A^+ (y - A x). A^+ A is the projection onto what is
  measured (a mask's known pixels; down-sampling's low frequencies; the direction a of a 2-D measurement a . x),
  so this keeps everything A does not see and takes what it does see from y. For a mask it is an exact
  ``where`` (no rounding: known pixels come back bit for bit).

``matrix`` gives A as a dense [m, d] matrix for one flattened sample, which the exact posteriors of a Gaussian
mixture (:func:`diffusion.posterior.mixture_posterior`) take.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["Operator", "Mask", "Downsample", "Linear", "Identity", "measure"]


class Operator:
    """A linear measurement y = A x of a batch x [batch, *shape]."""

    shape: tuple            # the shape of one sample x (without the batch)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:     # pragma: no cover - abstract
        raise NotImplementedError

    def pinv(self, y: torch.Tensor) -> torch.Tensor:         # pragma: no cover - abstract
        raise NotImplementedError

    def replace(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x with its measured part taken from y: x + A^+ (y - A x) (ILVR's low-frequency replacement, eq. 3)."""
        return x + self.pinv(y - self(x))

    def restrict(self, y: torch.Tensor) -> torch.Tensor:
        """y with anything outside the measurement's range set to what A would give (a mask: zeros where unknown)."""
        return y

    def check(self, x: torch.Tensor, what: str = "x") -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or tuple(x.shape[1:]) != tuple(self.shape):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{what} must have shape [batch, {', '.join(map(str, self.shape))}] for {self!r}, "
                             f"got {got}")
        return x

    def matrix(self) -> torch.Tensor:
        """A as a dense float64 [m, d] matrix acting on one flattened sample (columns: A applied to unit vectors)."""
        d = math.prod(self.shape)
        basis = torch.eye(d, dtype=torch.float64).reshape(d, *self.shape)
        return self(basis).reshape(d, -1).T


class Mask(Operator):
    """Inpainting: ``known`` [*shape] bool (True = observed). A x = known * x (the image's shape kept)."""

    def __init__(self, known):
        known = torch.as_tensor(known)
        if known.dtype != torch.bool:
            raise ValueError(f"a mask must be a bool tensor (True = known), got dtype {known.dtype}")
        if not known.any():
            raise ValueError("the mask knows nothing (no True entry): there is nothing to condition on")
        self.known, self.shape = known, tuple(known.shape)

    def __repr__(self):
        return f"Mask({int(self.known.sum())} of {self.known.numel()} known)"

    def __call__(self, x):
        return torch.where(self.known.to(x.device), x, torch.zeros((), dtype=x.dtype, device=x.device))

    def pinv(self, y):
        return self(y)

    def replace(self, x, y):
        return torch.where(self.known.to(x.device), y, x)

    def restrict(self, y):
        return self(y)

    def matrix(self):
        d = self.known.numel()
        return torch.eye(d, dtype=torch.float64)[self.known.flatten()]


class Downsample(Operator):
    """Super-resolution: average pooling by ``factor`` over the last two axes of x [batch, C, H, W]."""

    def __init__(self, shape, factor: int):
        shape = tuple(shape)
        if len(shape) != 3:
            raise ValueError(f"down-sampling works on images [C, H, W], got a sample shape {shape}")
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2 or shape[1] % factor \
                or shape[2] % factor:
            valid = [f for f in range(2, min(shape[1:]) + 1) if shape[1] % f == 0 and shape[2] % f == 0]
            raise ValueError(f"down-sampling factor must divide the image size {shape[1]} x {shape[2]}: choose "
                             f"one of {valid}, got {factor!r}")
        self.shape, self.factor = shape, factor

    def __repr__(self):
        c, h, w = self.shape
        return f"Downsample({h}x{w} -> {h // self.factor}x{w // self.factor})"

    def __call__(self, x):
        return F.avg_pool2d(x, self.factor)

    def pinv(self, y):
        return y.repeat_interleave(self.factor, -2).repeat_interleave(self.factor, -1)


class Linear(Operator):
    """A dense measurement of vectors x [batch, d]: y = x @ matrix^T, matrix [m, d] of full row rank."""

    def __init__(self, matrix):
        m = torch.as_tensor(matrix, dtype=torch.float64)
        m = m[None] if m.ndim == 1 else m
        if m.ndim != 2 or not torch.isfinite(m).all() or torch.linalg.matrix_rank(m) < len(m):
            raise ValueError(f"a linear measurement needs a finite [m, d] matrix of rank m, got {matrix!r}")
        self.a, self.shape = m, (m.shape[1],)
        self._pinv = torch.linalg.pinv(m)

    def __repr__(self):
        return f"Linear({self.a.tolist()})"

    def __call__(self, x):
        return x @ self.a.T.to(x.dtype)

    def pinv(self, y):
        return y @ self._pinv.T.to(y.dtype)

    def matrix(self):
        return self.a.clone()


class Identity(Operator):
    """Denoising: the whole of x is observed (y = x + noise)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def __repr__(self):
        return f"Identity({self.shape})"

    def __call__(self, x):
        return x

    def pinv(self, y):
        return y

    def replace(self, x, y):
        return y


def measure(operator: Operator, x0: torch.Tensor, noise_std: float = 0.0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """y = A x0 + noise_std * n, n ~ N(0, I) from ``generator`` (the measurement a method is given)."""
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) or not math.isfinite(noise_std) \
            or noise_std < 0:
        raise ValueError(f"measurement noise std must be a finite number >= 0, got {noise_std!r}")
    y = operator(operator.check(x0, "x0"))
    if noise_std > 0:
        y = operator.restrict(y + noise_std * torch.randn(y.shape, generator=generator, dtype=y.dtype))
    return y
