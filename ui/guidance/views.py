"""Frames of the Guidance lab: the runs of one x_T side by side, points coloured and shaped by class.

No maths here beyond drawing: the runs come from :mod:`diffusion.labs.guidance`. Each sample keeps the colour and
marker of the class it *ends up* in (judged at the end of its run), so scrubbing from noise to data shows which
noise points each guidance scale sends where. The exact panel is shaded by the tilted density
p(x | y)^w p(x)^(1-w), which guidance is often said to sample, so the eye can check that it does not.
"""
from __future__ import annotations

import html
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from diffusion.labs.guidance import GuidanceData, GuidedRun, judged, tilted_density
from diffusion.toy.labels import DRAWING_COLOURS

from ..widgets import canvas
from ..widgets.plots import figure, to_image
from ..widgets.scrubber import encode_png
from ..widgets.tiles import stack, strip

PANEL = 360           # frame size in pixels
BACKGROUND = (200, 200, 200)
TILT_RGB = np.array([118, 42, 131], dtype=np.float64)   # the tilted density's shade (dark purple, faded)
TITLES = {"unconditional": "unconditional · w = 0", "conditional": "conditional · w = 1",
          "guided": "guided · w = {w:g}", "exact guided": "exact model · w = {w:g}",
          "classifier guided": "exact classifier · s = {w:g}"}


def class_style(data: GuidanceData, k: int):
    """(colour, marker) of class k; a drawing's class keeps the colour it was drawn in (and that colour's marker)."""
    rgb = DRAWING_COLOURS.get(data.class_names[k]) if data.name == "drawing" else None
    if rgb is not None and rgb in canvas.CLASS_COLOURS:
        return canvas.class_style(canvas.CLASS_COLOURS.index(rgb))
    return canvas.class_style(k)


def title(name: str, run: GuidedRun) -> str:
    return TITLES[name].format(w=run.w)


def time_label(t) -> str:
    return "x₀ (the samples)" if t is None else f"t = {t:.0f}" if t >= 1.5 else f"t = {t:.2g}"


def tilted_shade(data: GuidanceData, y: int, w: float, axes: canvas.Axes2D, cells: int = 150) -> np.ndarray:
    """[cells, cells, 3] uint8: white where the tilted density is ~0, purple toward its maximum (square root, so
    the tails show)."""
    x0, x1, y0, y1 = axes.bounds
    xs, ys = np.linspace(x0, x1, cells), np.linspace(y1, y0, cells)          # row 0 at the top
    grid = torch.as_tensor(np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2))
    logp = tilted_density(data.mixture, y, w, grid)
    v = torch.exp(logp - logp.max()).sqrt().reshape(cells, cells).numpy()
    shade = 255 - (255 - TILT_RGB) * (0.55 * v[..., None])
    return shade.astype(np.uint8)


def render_runs(runs: dict[str, GuidedRun], data: GuidanceData, y: int, size: int = PANEL) -> dict[str, list[bytes]]:
    """PNG frames per run (clean -> noise, as the runs' frames are), on one set of axes for every panel."""
    axes = canvas.Axes2D(data.bounds(), size)
    background = data.points.numpy()[:3000]
    shade = None
    if "exact guided" in runs and data.mixture is not None:
        shade = tilted_shade(data, y, runs["exact guided"].w, axes)

    def frames(name: str, run: GuidedRun) -> list[bytes]:
        classes = judged(run.x0, data)
        out = []
        for i, t in enumerate(run.times):
            c = axes.canvas()
            if name == "exact guided" and shade is not None:
                c.heatmap(shade)
            c.points(background, BACKGROUND, alpha=0.25, radius=1)
            pts = run.frames[i]
            for k in np.unique(classes):
                rgb, shape = class_style(data, int(k))
                c.markers(pts[classes == k], rgb, shape, size=3 if len(pts) <= 1500 else 2, alpha=0.75)
            c.text(title(name, run), size=13)
            c.text(time_label(t), (axes.x0 + axes.w - 4, axes.y0 + axes.h - 4), size=12, anchor="rd")
            out.append(encode_png(c.image()))
        return out

    with ThreadPoolExecutor(max_workers=min(4, len(runs))) as pool:
        done = {name: pool.submit(frames, name, run) for name, run in runs.items()}
    return {name: f.result() for name, f in done.items()}


def data_picture(data: GuidanceData, size: int = PANEL):
    """The labelled data, each class in its colour and marker."""
    axes = canvas.Axes2D(data.bounds(), size, f"{len(data.points)} points, {data.num_classes} classes")
    c = axes.canvas()
    pts, labels = data.points.numpy()[:3000], data.labels.numpy()[:3000]
    for k in range(data.num_classes):
        rgb, shape = class_style(data, k)
        c.markers(pts[labels == k], rgb, shape, size=2, alpha=0.6)
    return c.image()


def legend_html(data: GuidanceData) -> str:
    """The classes as coloured marker symbols with their names (the legend of every picture)."""
    parts = []
    for k, name in enumerate(data.class_names):
        rgb, shape = class_style(data, k)
        parts.append(f'<span style="color: rgb{rgb}; font-size: 1.3em">{canvas.MARKERS[shape]}</span> {k}: {html.escape(name)}')
    return " &nbsp; ".join(parts)


GRID_MD = ("Each row starts from **one x_T**; only w changes along it. w = 0 ignores the label (the model's “no "
           "label” class, 10 — not the digit judge's junk class), w = 1 samples p(x | y), larger w pushes toward "
           "what tells y apart from the other digits.")


def grid_view(grid: dict, steps: int, seed: int):
    """(picture, text) of a digits x guidance grid (:func:`diffusion.labs.digit_guidance.guidance_grid`)."""
    rows = [strip(list(grid["grid"][i]), f"y = {d}") for i, d in enumerate(grid["digits"])]
    picture = stack(rows, f"DDIM {steps} steps, seed {seed}, {grid['seconds']:.1f} s",
                    header=[f"w = {w:g}" for w in grid["scales"]])
    return picture, GRID_MD


SWEEP_LINES = {"learned": ("learned", "o-", "#0072B2"), "exact": ("exact model", "s-", "#D55E00"),
               "tilted": ("tilted density", "^--", "#009E73")}     # Okabe-Ito colours, a marker each
SWEEP_PANELS = (("in_class", "in class (probability)"), ("diversity", "diversity (1 = the class's own)"),
                ("off_centre", "off-centre (1 = the class's own)"))


def sweep_plot(rows: list[dict], class_name: str):
    """The sweep against w: in class, diversity and off-centre, one line each for the learned model, the exact
    model and the tilted density (the last two for a mixture; off-centre only where it is defined)."""
    panels = [(k, label) for k, label in SWEEP_PANELS if rows[0]["learned"].get(k) is not None]
    fig, axes = figure(3.6 * len(panels), 3.3, 1, len(panels))
    ws = [r["w"] for r in rows]
    for ax, (key, label) in zip(axes[0], panels):
        for part, (name, style, colour) in SWEEP_LINES.items():
            if part in rows[0]:
                ax.plot(ws, [r[part][key] for r in rows], style, color=colour, label=name, linewidth=2)
        if key != "in_class":
            ax.axhline(1.0, color="#888", linestyle=":", linewidth=1.2)
        ax.set_xticks(ws, [f"{w:g}" for w in ws])
        ax.set_xlabel("guidance scale w", fontsize=11)
        ax.set_title(label, fontsize=11)
        ax.tick_params(labelsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=10)
    fig.suptitle(f"class {class_name}: what guidance does, from one x_T", fontsize=12)
    return to_image(fig)
