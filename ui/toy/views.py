"""Turn a recorded toy run (plain numpy arrays) into scrubber frames, GIF frames and static figures.

No maths here beyond drawing: the arrays come from :mod:`diffusion.labs.toy_runs`.
Frame ``i`` of a run is ordered by noise level: 0 is clean data (the end of sampling), the last is pure noise
(where sampling starts), so the forward process reads left to right on the slider and sampling right to left.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from diffusion.labs.toy_runs import RunRecord

from ..widgets import canvas
from ..widgets.scrubber import encode_png

OVERLAYS = {  # checkbox label -> key
    "trajectories": "paths",
    "predicted x̂₀ cloud": "x0",
    "learned field": "field",
    "exact field & exact-denoiser samples": "exact",
}
DEFAULT_OVERLAYS = ("trajectories",)
PANEL = 340            # frame size in pixels
PATHS = 40             # trajectories drawn


def _arrow_scale(rec: RunRecord, spacing: float) -> np.ndarray:
    """Per-frame factor so the longest typical arrow is ~0.9 grid spacing (learned and exact share it)."""
    parts = [f for f in (rec.field, rec.exact_field) if f is not None]
    norms = np.concatenate([np.linalg.norm(f, axis=-1) for f in parts], axis=1)   # [F, G or 2G]
    norms = np.where(np.isfinite(norms), norms, np.nan)
    q = np.ones(len(norms))
    has = ~np.isnan(norms).all(axis=1)                 # the clean frame has no field (the score is undefined)
    q[has] = np.nanquantile(norms[has], 0.9, axis=1)
    return 0.9 * spacing / np.maximum(q, 1e-12)


class FramePainter:
    """Draws frames of one record with chosen overlays; axes are built once per record."""

    def __init__(self, rec: RunRecord, overlays=DEFAULT_OVERLAYS, size: int = PANEL):
        self.rec, self.size = rec, size
        self.keys = {OVERLAYS[o] for o in overlays}
        if rec.dim == 2:
            self.ax = {"forward": canvas.Axes2D(rec.bounds, size, "Forward  q(x_t | x_0)"),
                       "reverse": canvas.Axes2D(rec.bounds, size, "Reverse  (sampler)")}
            if rec.grid is not None and rec.field is not None:
                spacing = np.min(np.diff(np.unique(rec.grid[:, 0])))
                self.arrow_scale = _arrow_scale(rec, spacing)
        else:
            lo, hi = rec.bounds[:2]
            top = _density_top(rec, lo, hi)
            if rec.grid is not None and rec.field is not None:
                self.arrow_scale = _arrow_scale(rec, float(np.min(np.diff(rec.grid[:, 0]))))
                self.arrow_y = {"learned": 0.84 * top, "exact": 0.78 * top}   # two rows of arrows near the top
            self.ax = {"forward": canvas.Axes1D((lo, hi), top, size, "Forward  q(x_t | x_0)"),
                       "reverse": canvas.Axes1D((lo, hi), top, size, "Reverse  (sampler)")}
        rng = np.random.default_rng(0)
        n = rec.forward.shape[1]
        self.path_idx = np.sort(rng.choice(n, size=min(PATHS, n), replace=False))

    def frame(self, view: str, i: int) -> Image.Image:
        if view not in self.ax:
            raise ValueError(f"unknown view {view!r}; choose one of {list(self.ax)}")
        return (self._frame_2d if self.rec.dim == 2 else self._frame_1d)(view, i)

    def _frame_2d(self, view: str, i: int) -> Image.Image:
        rec, keys = self.rec, self.keys
        c = self.ax[view].canvas()
        if "field" in keys and rec.field is not None:
            c.arrows(rec.grid, rec.field[i] * self.arrow_scale[i], rgb=canvas.FIELD)
        if "exact" in keys and rec.exact_field is not None:
            c.arrows(rec.grid, rec.exact_field[i] * self.arrow_scale[i], rgb=canvas.EXACT, alpha=0.75)
        xs, x0 = (rec.forward, rec.forward_x0) if view == "forward" else (rec.reverse, rec.reverse_x0)
        if "paths" in keys:
            # forward: from the data (frame 0) up to frame i; reverse: from the noise (last frame) down to frame i
            seg = xs[: i + 1] if view == "forward" else xs[i:]
            c.paths(np.swapaxes(seg[:, self.path_idx], 0, 1), rgb=canvas.PATH, alpha=0.55)
        c.points(xs[i], rgb=canvas.DATA if view == "forward" else canvas.SAMPLE, alpha=0.35)
        if "x0" in keys:
            c.points(x0[i], rgb=canvas.X0_PRED, alpha=0.25)
        if "exact" in keys and view == "reverse" and rec.exact_reverse is not None:
            c.points(rec.exact_reverse[i], rgb=canvas.EXACT, alpha=0.45)
        c.text(rec.labels[i])
        return c.image()

    def _frame_1d(self, view: str, i: int) -> Image.Image:
        rec, keys = self.rec, self.keys
        c = self.ax[view].canvas()
        xs, x0 = (rec.forward, rec.forward_x0) if view == "forward" else (rec.reverse, rec.reverse_x0)
        c.histogram(xs[i][:, 0], rgb=canvas.DATA if view == "forward" else canvas.SAMPLE)
        if "x0" in keys:
            c.histogram(x0[i][:, 0], rgb=canvas.X0_PRED, alpha=0.35)
        if "exact" in keys and rec.density is not None:
            c.curve(rec.density_x, rec.density[i], rgb=canvas.EXACT)
            if view == "reverse" and rec.exact_reverse is not None:
                c.rug(rec.exact_reverse[i][:, 0], rgb=canvas.EXACT)
        if "paths" in keys:
            c.rug(xs[i][self.path_idx, 0], rgb=canvas.PATH)
        # the 1-D field: a row of arrows along x, pointing where the score pushes points
        for key, field, rgb, row in (("field", rec.field, canvas.FIELD, "learned"), ("exact", rec.exact_field, canvas.EXACT,
                                                                                  "exact")):
            if key in keys and field is not None:
                y = np.full(len(rec.grid), self.arrow_y[row])
                vec = np.stack([field[i][:, 0] * self.arrow_scale[i], np.zeros(len(rec.grid))], 1)
                c.arrows(np.stack([rec.grid[:, 0], y], 1), vec, rgb=rgb)
        c.text(rec.labels[i])
        return c.image()


def _density_top(rec: RunRecord, lo: float, hi: float) -> float:
    """A y range that fits the clean data's histogram and the exact density."""
    hist, edges = np.histogram(rec.data.ravel(), bins=80, range=(lo, hi))
    top = hist.max() / (max(len(rec.data), 1) * (edges[1] - edges[0]))
    if rec.density is not None:
        top = max(top, float(np.nanmax(rec.density[0])))
    return 1.15 * max(top, 0.45)


def render_frames(rec: RunRecord, overlays=DEFAULT_OVERLAYS, size: int = PANEL) -> dict[str, list[bytes]]:
    """PNG bytes of every frame of both views: {"forward": [...], "reverse": [...]}."""
    painter = FramePainter(rec, overlays, size)
    jobs = [(view, i) for view in ("forward", "reverse") for i in range(rec.num_frames)]
    # PIL encodes with the GIL released, so two threads overlap drawing and encoding.
    with ThreadPoolExecutor(max_workers=2) as pool:
        pngs = list(pool.map(lambda job: encode_png(painter.frame(*job)), jobs))
    F = rec.num_frames
    return {"forward": pngs[:F], "reverse": pngs[F:]}
