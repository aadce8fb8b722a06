"""Fast rasterisation of toy point clouds, paths, arrow fields and histograms with numpy + PIL.

A scrubbed run needs a hundred or more frames, too many for matplotlib to draw per request. Every frame of a
run shares one fixed set of axes (``Axes2D`` / ``Axes1D``) so nothing jumps while scrubbing; the axes' background
(grid, ticks, labels) is drawn once and copied for each frame.
"""
from __future__ import annotations

import functools
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from diffusion.toy.labels import DRAWING_COLOURS

# Colours (RGB) shared by every view, so a student learns them once.
DATA = (31, 119, 180)        # data / forward cloud: blue
SAMPLE = (214, 39, 40)       # the model's samples: red
X0_PRED = (44, 160, 44)      # predicted x0 cloud: green
EXACT = (255, 127, 14)       # exact denoiser: orange
FIELD = (90, 90, 90)         # learned field arrows: grey
PATH = (148, 103, 189)       # trajectories: purple
INK = (40, 40, 40)

_MARGIN = (34, 8, 8, 24)     # left, top, right, bottom, in pixels

# Classes: the Okabe & Ito (2008) colour-blind-safe palette, each colour with its own marker shape (the symbol is
# what a legend in text shows), cycled for more than eight classes.
CLASS_COLOURS = tuple(DRAWING_COLOURS.values())      # a drawing's pen colours are its classes' colours
MARKERS = {"circle": "●", "square": "■", "triangle": "▲", "diamond": "◆", "plus": "✚", "cross": "✖",
           "triangle_down": "▼", "ring": "○"}


def class_style(k: int) -> tuple[tuple[int, int, int], str]:
    """(colour, marker shape) of class k: colours cycle every 8, shapes shift by one each cycle, so the first 64
    classes all differ."""
    shapes = list(MARKERS)
    return CLASS_COLOURS[k % 8], shapes[(k + k // 8) % 8]


@functools.lru_cache(maxsize=8)
def font(size: int = 12) -> ImageFont.ImageFont:
    """DejaVu Sans from matplotlib's bundled fonts (always installed with matplotlib); PIL's default otherwise."""
    import matplotlib

    path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")
    try:
        return ImageFont.truetype(path, size)
    except OSError:  # pragma: no cover - matplotlib without its fonts
        return ImageFont.load_default()


def nice_ticks(lo: float, hi: float, count: int = 5) -> np.ndarray:
    """Round tick positions (1, 2, 5 x 10^k spacing) inside [lo, hi]."""
    span = max(hi - lo, 1e-9)
    raw = span / count
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), default=10 * mag)
    return np.arange(np.ceil(lo / step) * step, hi + 1e-9, step)


def to_pil(a: np.ndarray, display: int = 280) -> Image.Image:
    """uint8 [H, W] or [H, W, 3] -> a PIL image enlarged by the largest integer factor that fits ``display``."""
    im = Image.fromarray(np.ascontiguousarray(a))
    factor = max(1, display // max(im.size))
    if factor > 1:
        im = im.resize((im.size[0] * factor, im.size[1] * factor), Image.Resampling.NEAREST)
    return im



class Axes2D:
    """A square plot of fixed data bounds, ``size`` pixels wide; maps data coordinates to pixels."""

    def __init__(self, bounds, size: int = 340, title: str = ""):
        self.bounds = tuple(float(b) for b in bounds)
        self.size = int(size)
        self.title = title
        left, top, right, bottom = _MARGIN
        self.x0, self.y0 = left, top + (16 if title else 0)
        self.w = self.size - left - right
        self.h = self.size - self.y0 - bottom
        self._background = self._draw_background()

    def to_px(self, xy: np.ndarray) -> np.ndarray:
        """[n, 2] data coordinates -> [n, 2] float pixel coordinates (x right, y down)."""
        xmin, xmax, ymin, ymax = self.bounds
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        px = self.x0 + (xy[:, 0] - xmin) / (xmax - xmin) * self.w
        py = self.y0 + (ymax - xy[:, 1]) / (ymax - ymin) * self.h
        return np.stack([px, py], axis=1)

    def _draw_background(self) -> np.ndarray:
        img = Image.new("RGB", (self.size, self.size), "white")
        d = ImageDraw.Draw(img)
        xmin, xmax, ymin, ymax = self.bounds
        f = font(10)
        for v in nice_ticks(xmin, xmax):
            px = self.to_px([[v, ymin]])[0, 0]
            d.line([(px, self.y0), (px, self.y0 + self.h)], fill=(236, 236, 236))
            d.text((px, self.y0 + self.h + 3), f"{v:g}", fill=INK, font=f, anchor="mt")
        for v in nice_ticks(ymin, ymax):
            py = self.to_px([[xmin, v]])[0, 1]
            d.line([(self.x0, py), (self.x0 + self.w, py)], fill=(236, 236, 236))
            d.text((self.x0 - 3, py), f"{v:g}", fill=INK, font=f, anchor="rm")
        d.rectangle([self.x0, self.y0, self.x0 + self.w, self.y0 + self.h], outline=(160, 160, 160))
        if self.title:
            d.text((self.x0, 3), self.title, fill=INK, font=font(12))
        return np.asarray(img, dtype=np.uint8)

    def canvas(self) -> "Canvas":
        return Canvas(self)


class Canvas:
    """One frame being painted: call points/paths/arrows/text in back-to-front order, then ``image()``."""

    def __init__(self, axes: Axes2D):
        self.axes = axes
        self.img = Image.fromarray(axes._background, "RGB")
        self._d = ImageDraw.Draw(self.img, "RGBA")  # RGBA mode: every stroke alpha-blends onto the RGB frame

    def _clipped(self, draw_fn) -> None:
        """Run ``draw_fn(draw, offset)`` on a transparent layer the size of the plot area, then blend it in:
        strokes are clipped to the axes and overlapping strokes of one call do not darken each other."""
        ax = self.axes
        layer = Image.new("RGBA", (ax.w + 1, ax.h + 1), (0, 0, 0, 0))
        draw_fn(ImageDraw.Draw(layer), np.array([ax.x0, ax.y0], dtype=np.float64))
        region = (ax.x0, ax.y0, ax.x0 + ax.w + 1, ax.y0 + ax.h + 1)
        patch = self.img.crop(region).convert("RGBA")
        patch.alpha_composite(layer)
        self.img.paste(patch.convert("RGB"), region[:2])

    def paths(self, paths: np.ndarray, rgb=PATH, alpha: float = 0.7, width: int = 1) -> "Canvas":
        """Polylines: ``paths`` is [m, L, 2] (m paths of L points each) in data coordinates."""
        paths = np.asarray(paths, dtype=np.float64)
        if paths.ndim != 3 or paths.shape[-1] != 2:
            raise ValueError(f"paths must be [m, L, 2]; got shape {paths.shape}")
        colour = (*rgb, int(255 * alpha))

        def draw(d, offset):
            for path in paths:
                pts = self.axes.to_px(path[np.isfinite(path).all(axis=1)]) - offset
                if len(pts) >= 2:
                    d.line(pts.ravel().tolist(), fill=colour, width=width)
        self._clipped(draw)
        return self

    def arrows(self, origins: np.ndarray, vectors: np.ndarray, rgb=FIELD, alpha: float = 0.85) -> "Canvas":
        """Arrows from ``origins`` [m, 2] along ``vectors`` [m, 2], both in data units."""
        origins = np.asarray(origins, dtype=np.float64).reshape(-1, 2)
        a = self.axes.to_px(origins)
        b = self.axes.to_px(origins + np.asarray(vectors, dtype=np.float64).reshape(-1, 2))
        ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
        a, b = a[ok], b[ok]
        d = b - a
        length = np.hypot(d[:, 0], d[:, 1])
        u = d / np.maximum(length, 1e-9)[:, None]
        head = np.minimum(4.0, 0.45 * length)[:, None]
        c, s = np.cos(0.42), np.sin(0.42)  # arrow-head strokes 24 degrees either side of the shaft
        left = b - head * np.stack([u[:, 0] * c - u[:, 1] * s, u[:, 1] * c + u[:, 0] * s], axis=1)
        right = b - head * np.stack([u[:, 0] * c + u[:, 1] * s, u[:, 1] * c - u[:, 0] * s], axis=1)
        colour = (*rgb, int(255 * alpha))

        def draw(dr, offset):
            for i in range(len(a)):
                if length[i] > 2.5:
                    dr.line([*(left[i] - offset), *(b[i] - offset), *(right[i] - offset)], fill=colour, width=1)
                dr.line([*(a[i] - offset), *(b[i] - offset)], fill=colour, width=1)
        self._clipped(draw)
        return self

    def text(self, s: str, xy=(None, None), size: int = 11, rgb=INK, anchor: str = "la") -> "Canvas":
        x, y = xy
        x = self.axes.x0 + 4 if x is None else x
        y = self.axes.y0 + 3 if y is None else y
        f = font(size)
        left, top, right, bottom = self._d.textbbox((x, y), s, font=f, anchor=anchor)
        self._d.rectangle([left - 2, top - 1, right + 2, bottom + 1], fill=(255, 255, 255, 200))
        self._d.text((x, y), s, fill=(*rgb, 255), font=f, anchor=anchor)
        return self

    def points(self, xy: np.ndarray, rgb=DATA, alpha: float = 0.35, radius: int = 1) -> "Canvas":
        """A scatter of [n, 2] points; overlapping points darken (opacity 1 - (1 - alpha)^count)."""
        ax = self.axes
        pf = ax.to_px(xy)
        px = np.round(pf[np.isfinite(pf).all(axis=1)]).astype(np.int64)
        W = ax.size
        idx = []
        for dx, dy in _disc(radius):
            x, y = px[:, 0] + dx, px[:, 1] + dy
            inside = (x >= ax.x0) & (x <= ax.x0 + ax.w) & (y >= ax.y0) & (y <= ax.y0 + ax.h)
            idx.append(y[inside] * W + x[inside])
        hit, counts = np.unique(np.concatenate(idx), return_counts=True)
        if len(hit) == 0:
            return self
        arr = np.array(self.img)  # [H, W, 3] uint8 copy
        flat = arr.reshape(-1, 3)
        opacity = (1.0 - (1.0 - alpha) ** counts.astype(np.float32))[:, None]
        flat[hit] = (flat[hit] * (1.0 - opacity) + np.asarray(rgb, np.float32) * opacity + 0.5).astype(np.uint8)
        self.img = Image.fromarray(arr, "RGB")
        self._d = ImageDraw.Draw(self.img, "RGBA")
        return self

    def markers(self, xy: np.ndarray, rgb, shape: str = "circle", size: int = 3, alpha: float = 0.8) -> "Canvas":
        """A scatter of [n, 2] points drawn as one of :data:`MARKERS` (so classes differ by shape, not only by
        colour), ``size`` pixels from centre to edge."""
        if shape not in MARKERS:
            raise ValueError(f"unknown marker {shape!r}; choose one of {list(MARKERS)}")
        px = self.axes.to_px(xy)
        px = px[np.isfinite(px).all(axis=1)]
        colour = (*rgb, int(round(255 * alpha)))
        r = size

        def draw(d, offset):
            for u, v in px - offset:
                if shape == "circle":
                    d.ellipse([u - r, v - r, u + r, v + r], fill=colour)
                elif shape == "square":
                    d.rectangle([u - r + 1, v - r + 1, u + r - 1, v + r - 1], fill=colour)
                elif shape == "triangle":
                    d.polygon([(u, v - r - 1), (u - r - 1, v + r), (u + r + 1, v + r)], fill=colour)
                elif shape == "triangle_down":
                    d.polygon([(u, v + r + 1), (u - r - 1, v - r), (u + r + 1, v - r)], fill=colour)
                elif shape == "diamond":
                    d.polygon([(u, v - r - 1), (u + r + 1, v), (u, v + r + 1), (u - r - 1, v)], fill=colour)
                elif shape == "plus":
                    d.line([(u - r - 1, v), (u + r + 1, v)], fill=colour, width=2)
                    d.line([(u, v - r - 1), (u, v + r + 1)], fill=colour, width=2)
                elif shape == "cross":
                    d.line([(u - r, v - r), (u + r, v + r)], fill=colour, width=2)
                    d.line([(u - r, v + r), (u + r, v - r)], fill=colour, width=2)
                else:                                              # ring
                    d.ellipse([u - r, v - r, u + r, v + r], outline=colour, width=2)
        self._clipped(draw)
        return self

    def heatmap(self, rgb: np.ndarray) -> "Canvas":
        """Fill the plot area with an [H, W, 3] uint8 picture (row 0 at the top), stretched to fit."""
        ax = self.axes
        picture = Image.fromarray(np.asarray(rgb, dtype=np.uint8), "RGB").resize((ax.w + 1, ax.h + 1),
                                                                                 Image.Resampling.BILINEAR)
        self.img.paste(picture, (ax.x0, ax.y0))
        return self

    def image(self) -> Image.Image:
        return self.img


@functools.lru_cache(maxsize=4)
def _disc(radius: int) -> tuple[tuple[int, int], ...]:
    return tuple((dx, dy) for dx in range(-radius, radius + 1) for dy in range(-radius, radius + 1)
                 if dx * dx + dy * dy <= radius * radius + radius)


class Axes1D(Axes2D):
    """A density plot: x in data units across, density up (fixed y range for the whole run)."""

    def __init__(self, xlim, ymax: float, size: int = 340, title: str = ""):
        super().__init__((xlim[0], xlim[1], 0.0, float(ymax)), size=size, title=title)

    def canvas(self) -> "Canvas1D":
        return Canvas1D(self)


class Canvas1D(Canvas):
    def histogram(self, x: np.ndarray, rgb=DATA, bins: int = 80, alpha: float = 0.45) -> "Canvas1D":
        """Filled density histogram of the values ``x`` (normalised to integrate to 1)."""
        xmin, xmax, _, _ = self.axes.bounds
        x = np.asarray(x, dtype=np.float64).ravel()
        x = x[np.isfinite(x)]
        if len(x) == 0:
            return self
        dens, edges = np.histogram(x, bins=bins, range=(xmin, xmax))
        dens = dens / (len(x) * (edges[1] - edges[0]))
        colour = (*rgb, int(255 * alpha))
        px = self.axes.to_px(np.stack([edges, np.zeros_like(edges)], 1))[:, 0]
        py = self.axes.to_px(np.stack([edges[:-1], dens], 1))[:, 1]
        base = self.axes.y0 + self.axes.h

        def draw(d, offset):
            for i, h in enumerate(dens):
                if h > 0:
                    d.rectangle([px[i] - offset[0], max(py[i], self.axes.y0) - offset[1],
                                 px[i + 1] - offset[0], base - offset[1]], fill=colour)
        self._clipped(draw)
        return self

    def curve(self, x: np.ndarray, y: np.ndarray, rgb=INK, width: int = 2, alpha: float = 0.9) -> "Canvas1D":
        """A function graph y(x), clipped to the plot."""
        xmin, xmax, _, ymax = self.axes.bounds
        pts = np.stack([np.asarray(x, float), np.clip(np.asarray(y, float), 0.0, ymax)], axis=1)
        pts = pts[(pts[:, 0] >= xmin) & (pts[:, 0] <= xmax)]
        return self.paths(pts[None], rgb=rgb, alpha=alpha, width=width)

    def rug(self, x: np.ndarray, rgb=SAMPLE, alpha: float = 0.5) -> "Canvas1D":
        """Short ticks along the bottom axis at the values ``x``."""
        x = np.asarray(x, dtype=np.float64).ravel()
        px = self.axes.to_px(np.stack([x, np.zeros_like(x)], axis=1))
        colour = (*rgb, int(255 * alpha))

        def draw(d, offset):
            for (u, v) in px - offset:
                if np.isfinite(u):
                    d.line([(u, v - 6), (u, v)], fill=colour)
        self._clipped(draw)
        return self


def heatmap_rgb(values: np.ndarray, cmap: str = "magma") -> np.ndarray:
    """[H, W] array -> [H, W, 3] uint8 colours through a matplotlib colour map (no figure involved)."""
    import matplotlib

    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    lo, hi = (np.min(v[finite]), np.max(v[finite])) if finite.any() else (0.0, 1.0)
    v = np.where(finite, (v - lo) / max(hi - lo, 1e-12), 0.0)
    return (matplotlib.colormaps[cmap](v)[..., :3] * 255).astype(np.uint8)


def side_by_side(images: list[Image.Image], gap: int = 6) -> Image.Image:
    """Panels in a row on a white background (for GIF frames and figures)."""
    w = sum(im.width for im in images) + gap * (len(images) - 1)
    h = max(im.height for im in images)
    out = Image.new("RGB", (w, h), "white")
    x = 0
    for im in images:
        out.paste(im, (x, 0))
        x += im.width + gap
    return out
