"""Exports: an animated GIF of a run's frames."""
from __future__ import annotations

import tempfile
from typing import Iterable

from PIL import Image

__all__ = ["gif_file"]


def gif_file(frames: Iterable[Image.Image], fps: float = 12.0, hold_last_s: float = 1.0, prefix: str = "run") -> str:
    """Write frames to an animated GIF in a fresh temp file and return its path (Gradio serves it for download)."""
    frames = [f.convert("RGB") for f in frames]
    if not frames:
        raise ValueError("no frames to write")
    ms = max(20, round(1000 / fps))
    durations = [ms] * len(frames)
    durations[-1] = max(ms, round(1000 * hold_last_s))
    palette = [f.quantize(128, method=Image.Quantize.FASTOCTREE) for f in frames]
    with tempfile.NamedTemporaryFile(prefix=f"{prefix}-", suffix=".gif", delete=False) as fh:
        palette[0].save(fh, "GIF", save_all=True, append_images=palette[1:], duration=durations, loop=0,
                        optimize=False, disposal=1)
        return fh.name
