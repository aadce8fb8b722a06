"""Images <-> tensors for image diffusion models: any uploaded picture to the model's size and channels.

A model sees float32 tensors [batch, C, H, W] in [-1, 1] (DDPM §4: pixels scaled linearly from {0..255});
people see uint8 arrays [H, W] (grey) or [H, W, 3]. Uploads come in every shape a phone or an image editor makes:
palette and transparent images, 16-bit and float scans, CMYK prints, animations, EXIF-rotated photos and
decompression bombs. ``load_image`` turns each into an 8-bit ``L`` or ``RGB`` picture, or raises ``ImageError``
with a message meant for the person who sent it. Nothing here changes PIL's global settings.
"""
from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageError", "load_image", "fit_image", "image_to_tensor", "tensor_to_uint8", "uint8_to_tensor",
           "MAX_FILE_BYTES", "MAX_PIXELS"]

MAX_FILE_BYTES = 50 * 2**20  # an upload larger than this is refused before decoding
MAX_PIXELS = 16_000_000      # a non-JPEG larger than this (16 Mpx, 4,000 x 4,000) is refused before decoding (a
                             # 6,300^2 float TIFF of 252 KB decoded to +1.1 GB at 40 Mpx; 16 Mpx x 4 B = 64 MB);
                             # a JPEG of any size up to PIL's bomb limit is decoded at 1/2..1/8 scale instead
_DRAFT_TARGET = 1024         # JPEGs are decoded at the smallest 1/2^k scale that still covers this many pixels


class ImageError(ValueError):
    """An input that cannot be used as an image; the message is written for the person who sent it."""


def _open(source) -> Image.Image:
    """A lazily opened PIL image from a path, bytes, a file object, a PIL image or a numpy array."""
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, (bytes, bytearray)):
        if len(source) > MAX_FILE_BYTES:
            raise ImageError(f"the upload is {len(source) / 2**20:.0f} MB; the lab accepts images up to "
                             f"{MAX_FILE_BYTES // 2**20} MB")
        fp = io.BytesIO(source)
        name = "the upload"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = path.name
        if not path.is_file():
            raise ImageError(f"no image file at {name!r}")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageError(f"{name!r} is {size / 2**20:.0f} MB; the lab accepts images up to "
                             f"{MAX_FILE_BYTES // 2**20} MB")
        fp = path
    elif hasattr(source, "read"):
        fp, name = source, "the upload"
    else:
        raise ImageError(f"expected an image (file path, bytes, PIL image or array), got {type(source).__name__}")
    try:
        with warnings.catch_warnings():
            # our own limits below decide (MAX_PIXELS, JPEG draft); PIL's hard limit (2x its warning) still holds
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp)  # reads the header only
    except Image.DecompressionBombError:
        raise ImageError(f"{name!r} claims an enormous size (a decompression bomb?); refused") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name!r} is not an image the lab can read (PNG, JPEG, GIF, WebP, BMP, TIFF, ...)") \
            from None
    except ValueError:   # PIL refusing an oversized metadata chunk ("Decompressed Data Too Large"), and the like
        raise ImageError(f"{name!r} carries a metadata block too large to read (over PIL's safety limit); save "
                         f"the picture again without it (e.g. as a plain PNG or JPEG)") from None
    except OSError:
        raise ImageError(f"{name!r} could not be read as an image: damaged or truncated?") from None


def _from_array(a: np.ndarray) -> Image.Image:
    """An array [H, W], [H, W, 1], [H, W, 3] or [H, W, 4] (bool, integer or float) as an 8-bit PIL image."""
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)) or 0 in a.shape:
        raise ImageError(f"an image array must be [H, W], [H, W, 3] or [H, W, 4], got shape {a.shape}")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise ImageError(f"the image array is {a.shape[1]} x {a.shape[0]} pixels; the lab accepts up to "
                         f"{MAX_PIXELS / 1e6:.0f} Mpx")
    return Image.fromarray(_to_uint8_range(a))


def _to_uint8_range(a: np.ndarray) -> np.ndarray:
    """Any numeric array as uint8: bool -> {0, 255}; uint8 kept; wider integers by their type's or data's range;
    floats in [0, 1] scaled by 255, other floats clipped to [0, 255]. NaN becomes 0."""
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.integer):
        top = 65535 if a.max(initial=0) > 255 else 255  # 16-bit data (PNG/TIFF "I;16", "I") or 8-bit in an int
        return (np.clip(a, 0, top).astype(np.float64) * (255 / top)).round().astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if a.min(initial=0) >= 0 and a.max(initial=0) <= 1:
            a = a * 255
        return np.clip(a, 0, 255).round().astype(np.uint8)
    raise ImageError(f"an image array must hold numbers, got dtype {a.dtype}")


def load_image(source, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Decode ``source`` into an 8-bit ``L`` or ``RGB`` PIL image, small enough to handle.

    Animated images give their first frame; EXIF rotation is applied; transparency is composited over
    ``background``; 16-bit and float images are rescaled to 8 bits; CMYK, YCbCr, LAB, HSV, palette and 1-bit
    images are converted. Huge JPEGs are decoded at reduced scale (``Image.draft``); any other image above
    ``MAX_PIXELS`` is refused before decoding. Raises ``ImageError`` with a readable message.
    """
    im = _open(source)
    width, height = im.size
    if width < 1 or height < 1:
        raise ImageError(f"the image has no pixels ({width} x {height})")
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)  # animated GIF / APNG / WebP / multi-page TIFF: the first frame
    if im.format == "JPEG" and width * height > _DRAFT_TARGET**2:
        # DCT scaling while decoding: at most 1/8 per side, so memory stays ~ (w/8)(h/8) (PIL Image.draft)
        im.draft(None, (min(width, _DRAFT_TARGET), min(height, _DRAFT_TARGET)))
    if im.size[0] * im.size[1] > MAX_PIXELS:
        raise ImageError(f"the image is {width} x {height} pixels ({width * height / 1e6:.0f} Mpx); the lab "
                         f"accepts up to {MAX_PIXELS / 1e6:.0f} Mpx, or a JPEG of any size - please shrink it")
    try:
        im.load()
    except (OSError, SyntaxError, ValueError):  # truncated or corrupt data (PIL's own words stay inside)
        raise ImageError("the image data is damaged or truncated") from None
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block must not lose the picture
        pass
    return _to_l_or_rgb(im, background)


def _to_l_or_rgb(im: Image.Image, background) -> Image.Image:
    mode = im.mode
    if mode in ("L", "RGB"):
        return im
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return Image.fromarray(_to_uint8_range(np.asarray(im)))
    if mode == "P" and "transparency" in im.info:
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, tuple(background) + (255,))
        merged = Image.alpha_composite(canvas, rgba).convert("RGB")
        return merged.convert("L") if mode in ("LA", "La") else merged
    if mode == "1":
        return im.convert("L")
    return im.convert("RGB")  # P, CMYK, YCbCr, LAB, HSV, RGBX, ...


def fit_image(im: Image.Image, size: tuple[int, int], channels: int) -> Image.Image:
    """Centre-crop ``im`` to the aspect of ``size`` = (height, width), resize, and set ``channels`` (1 or 3).

    Colour to grey uses ITU-R 601 luma (PIL's ``L``); grey to colour repeats the channel.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    height, width = size
    im = _to_l_or_rgb(im, (255, 255, 255))
    im = im.convert("L" if channels == 1 else "RGB")
    w, h = im.size
    if w * height > h * width:  # too wide: keep the full height, crop the sides
        crop_w = h * width / height
        box = ((w - crop_w) / 2, 0, (w + crop_w) / 2, h)
    else:                       # too tall: keep the full width, crop top and bottom
        crop_h = w * height / width
        box = (0, (h - crop_h) / 2, w, (h + crop_h) / 2)
    # reducing_gap: shrink by an integer factor first, then resample; fast and alias-free for large inputs
    return im.resize((width, height), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def image_to_tensor(source, size: tuple[int, int], channels: int, invert: bool = False) -> torch.Tensor:
    """Any image source -> float32 tensor [1, channels, H, W] in [-1, 1], the model's input space."""
    im = fit_image(load_image(source), size, channels)
    a = np.asarray(im, dtype=np.uint8)
    if invert:
        a = 255 - a
    return uint8_to_tensor(a)


def uint8_to_tensor(a: np.ndarray) -> torch.Tensor:
    """uint8 [H, W] / [H, W, C] / [B, H, W, C] -> float32 [B, C, H, W] in [-1, 1] (x / 127.5 - 1)."""
    a = np.asarray(a)
    if a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array, got {a.dtype}")
    if a.ndim == 2:
        a = a[None, :, :, None]
    elif a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"expected [H, W], [H, W, C] or [B, H, W, C], got shape {a.shape}")
    return torch.from_numpy(a.copy()).permute(0, 3, 1, 2).float() / 127.5 - 1


def tensor_to_uint8(x: torch.Tensor) -> np.ndarray:
    """float [B, C, H, W] in [-1, 1] -> uint8 [B, H, W] (C = 1) or [B, H, W, C], as diffusers' pipelines round:
    ((x / 2 + 0.5).clamp(0, 1) * 255).round(). Non-finite values become 0 (black)."""
    if x.ndim != 4:
        raise ValueError(f"expected a tensor [B, C, H, W], got shape {tuple(x.shape)}")
    x = torch.nan_to_num(x.detach().float(), nan=-1.0, posinf=1.0, neginf=-1.0)
    a = ((x / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return a[..., 0] if a.shape[-1] == 1 else a


def channels_mosaic(z: torch.Tensor, value_range: float = 3.0) -> np.ndarray:
    """Latents [B, c, h, w] -> uint8 [B, H, W]: the c channels as grey tiles side by side in a near-square grid,
    one background pixel between tiles, each value v shown as v / value_range on [-1, 1] (so +-3 for unit-variance
    latents spans black to white)."""
    if z.ndim != 4:
        raise ValueError(f"expected latents [B, c, h, w], got shape {tuple(z.shape)}")
    b, c, h, w = z.shape
    cols = math.ceil(math.sqrt(c))
    rows = math.ceil(c / cols)
    tiles = tensor_to_uint8(z.reshape(b * c, 1, h, w) / value_range).reshape(b, c, h, w)
    out = np.full((b, rows * (h + 1) - 1, cols * (w + 1) - 1), 255, dtype=np.uint8)
    for k in range(c):
        r, q = divmod(k, cols)
        out[:, r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = tiles[:, k]
    return out
