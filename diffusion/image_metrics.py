"""Three measures of pictures [B, C, H, W] in [-1, 1] that agree with the eye: how far from an original (RMS), how
crisp (mean gradient), and how much of a change is fine-grained static rather than smooth shapes (the share of its
spectral energy at high spatial frequencies)."""
from __future__ import annotations

import torch

__all__ = ["rms", "sharpness", "high_frequency_share", "HIGH_FREQUENCY"]

HIGH_FREQUENCY = 0.25   # cycles per pixel: above it is "fine" (Nyquist is 0.5); white noise puts 1 - pi/16 there


def rms(x: torch.Tensor, ref: torch.Tensor) -> float:
    """Root-mean-square distance per pixel between pictures and their originals."""
    return float(((x.double() - ref.double()) ** 2).mean().sqrt())


def sharpness(x: torch.Tensor) -> float:
    """Mean gradient magnitude (finite differences): crisp strokes score high, a blurred mean low."""
    dx = (x[..., 1:] - x[..., :-1]).abs().mean()
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
    return float((dx + dy) / 2)


def high_frequency_share(x: torch.Tensor) -> float:
    """The share of the energy of x (each picture less its mean) at spatial frequencies above
    :data:`HIGH_FREQUENCY` cycles per pixel (radially, on the discrete Fourier grid), pooled over the batch.

    White noise spreads its energy evenly over the frequency square [-1/2, 1/2]^2, so its share is the square's
    area outside the disc of radius 1/4: 1 - pi/16 = 0.80 (on a finite grid, close to it). A smooth blob or stroke
    puts almost all its energy below, so it scores near 0. Raises ValueError for a picture with no energy.
    """
    if x.ndim < 2 or x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ValueError(f"pictures must be at least 2 x 2, got shape {tuple(x.shape)}")
    x = x.double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs() ** 2
    fy = torch.fft.fftfreq(x.shape[-2], dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(x.shape[-1], dtype=torch.float64)[None, :]
    high = (fx ** 2 + fy ** 2).sqrt() > HIGH_FREQUENCY
    total = float(power.sum())
    if not total > 0:
        raise ValueError("these pictures are constant: they have no energy to divide into frequencies")
    return float(power[..., high].sum()) / total
