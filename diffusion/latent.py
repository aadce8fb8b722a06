"""Latent diffusion's edge (Rombach et al. 2022): an autoencoder maps images to latents and back; the diffusion
model and its sampler work on the latents as on any other x and know nothing of the autoencoder.

    z = scaling_factor * E(x)            x̂ = D(z / scaling_factor)

``E(x)`` is the mean of the encoder's posterior q(z | x) (a diffusers ``AutoencoderKL``); the latent DDPM was
trained on draws from that posterior, scaled by the measured ``scaling_factor`` = 1 / std(z) so its data have unit
variance, as Stable Diffusion's latents do (diffusers stores the factor in the VAE's config). What the autoencoder
loses -- its reconstruction error -- bounds what any latent model can draw.
"""
from __future__ import annotations

import math

import torch

__all__ = ["LatentCodec"]


class LatentCodec:
    """``encode(x) -> z`` and ``decode(z) -> x`` for a diffusers ``AutoencoderKL``, in the diffusion model's scale."""

    def __init__(self, vae: torch.nn.Module):
        factor = getattr(vae.config, "scaling_factor", None)
        if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not (math.isfinite(factor)
                                                                                   and factor > 0):
            raise ValueError(f"the autoencoder's scaling_factor must be a positive number, got {factor!r}")
        self.vae = vae
        self.scaling_factor = float(factor)
        c = int(vae.config.in_channels)
        size = vae.config.sample_size
        h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        down = 2 ** (len(vae.config.block_out_channels) - 1)     # each encoder block but the last halves the size
        if h % down or w % down:
            raise ValueError(f"the autoencoder's images ({h} x {w}) must divide by its down-sampling factor {down}, "
                             f"or decoding would not give the same size back")
        self.image_shape = (c, h, w)
        self.latent_shape = (int(vae.config.latent_channels), h // down, w // down)

    def _check(self, x: torch.Tensor, shape: tuple[int, ...], what: str) -> None:
        if x.ndim != 4 or tuple(x.shape[1:]) != shape:
            raise ValueError(f"{what} must be [batch, {', '.join(map(str, shape))}], got {tuple(x.shape)}")

    def _device(self):
        return next(self.vae.parameters()).device

    def encode(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images [B, C, H, W] in [-1, 1] -> scaled latents; the posterior's mean, or a draw from it if a
        ``generator`` is given (how the latent model's training data were made)."""
        self._check(x, self.image_shape, "images")
        dist = self.vae.encode(x.to(self._device(), torch.float32)).latent_dist
        z = dist.mean
        if generator is not None:
            z = z + dist.std * torch.randn(z.shape, generator=generator, device=generator.device).to(z.device)
        return (self.scaling_factor * z).to(x.device)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents [B, c, h, w] -> images [B, C, H, W] (about [-1, 1]; not clipped)."""
        self._check(z, self.latent_shape, "latents")
        x = self.vae.decode(z.to(self._device(), torch.float32) / self.scaling_factor).sample
        return x.to(z.device)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.vae.parameters())
