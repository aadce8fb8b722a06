"""Line plots for the labs: a matplotlib Figure (Agg, no pyplot state) drawn straight to a PIL image."""
from __future__ import annotations

import io

from PIL import Image


def figure(width: float, height: float, rows: int = 1, cols: int = 1, **kwargs):
    """(Figure, axes [rows][cols]) of ``width`` x ``height`` inches at 100 dpi, constrained layout."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **kwargs)
    return fig, axes


def to_image(fig) -> Image.Image:
    """The figure as an RGB PIL image."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    buf.seek(0)
    return Image.open(buf).convert("RGB")
