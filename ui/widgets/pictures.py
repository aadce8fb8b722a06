"""The pictures a visitor can pick (the examples in assets/examples, or a built-in pattern) or upload, for the
Image lab and the Compare tab. Only listed example names reach the file system; an upload goes through
:func:`diffusion.images.load_image`'s checks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from diffusion.images import ImageError, fit_image, load_image, uint8_to_tensor
from .inputs import refusal

__all__ = ["EXAMPLES_DIR", "BUILTIN_EXAMPLE", "PICTURE_SIDE", "example_names", "example_digits", "picture"]

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"
BUILTIN_EXAMPLE = "pattern (built in)"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
PICTURE_SIDE = 256      # a session keeps its picture at most this size, to re-fit it when the model changes


def example_names() -> list[str]:
    """The example images in assets/examples (names only), or the built-in pattern when there are none."""
    names = []
    if EXAMPLES_DIR.is_dir():
        names = sorted(p.name for p in EXAMPLES_DIR.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
    return names or [BUILTIN_EXAMPLE]


def example_digits(size: tuple[int, int] = (20, 20)) -> torch.Tensor:
    """The bundled example digits (assets/examples/mnist_*.png, sorted by name) as a batch [N, 1, H, W] in [-1, 1]:
    what the Edit lab edits and the latent view noises."""
    names = sorted(p.name for p in EXAMPLES_DIR.glob("mnist_*.png"))
    return torch.cat([uint8_to_tensor(np.asarray(fit_image(load_image(EXAMPLES_DIR / n), size, 1), dtype=np.uint8))
                      for n in names])


def _builtin_pattern() -> Image.Image:
    """A white ring and bar on black, MNIST-like, for when assets/examples is absent."""
    im = Image.new("L", (28, 28), 0)
    d = ImageDraw.Draw(im)
    d.ellipse((6, 4, 21, 16), outline=255, width=3)
    d.line((19, 12, 12, 25), fill=255, width=3)
    return im


def picture(example, upload) -> tuple[Image.Image, str]:
    """The picture to use: an upload (path) wins over the chosen example. Raises gr.Error on a bad upload."""
    try:
        if upload:
            path = upload if isinstance(upload, str) else getattr(upload, "name", None) or upload.get("path")
            im, name = load_image(path), "your upload"
        else:
            names = example_names()
            if example in (None, ""):
                example = names[0]
            if example not in names:  # only listed names: a path can never reach the file system from here
                raise refusal(f"unknown example {example!r}; choose one of {names}")
            im = _builtin_pattern() if example == BUILTIN_EXAMPLE else load_image(EXAMPLES_DIR / example)
            name = f"example {example}"
    except ImageError as exc:
        raise refusal(f"That upload cannot be used: {exc}.") from None
    im.thumbnail((PICTURE_SIDE, PICTURE_SIDE))
    return im, name
