"""Drawing for the Compare lab: schedule curves, the noised grid, visited timesteps, race panels and plots.

No maths here: the numbers come from :mod:`diffusion.labs.compare`, :mod:`diffusion.labs.race` and
:mod:`diffusion.labs.breakit`. Line plots use matplotlib (Agg, drawn straight to a PIL image, no pyplot state);
point clouds use the fast PIL rasteriser of :mod:`ui.widgets.canvas`.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from diffusion.labs.toy_runs import bounds_2d

from ..widgets import canvas
from ..widgets.canvas import to_pil
from ..widgets.plots import figure, to_image

PANEL = 200            # pixels per cloud panel in the race grid
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
SPACING_MARKERS = {"leading": "v", "trailing": "^", "linspace": "o"}


# --- schedules ---------------------------------------------------------------------------------------------------
def schedule_curves(schedules) -> Image.Image:
    """alpha_bar_t, log-SNR(t) and beta_t of each schedule, on one shared t axis."""
    fig, axes = figure(11, 3.4, 1, 3, sharex=True)
    a_ax, l_ax, b_ax = axes[0]
    bases = list(dict.fromkeys(s.name.split("+")[0] for s in schedules))   # a rescaled twin shares its colour
    for s in schedules:
        t = np.arange(s.num_timesteps)
        style = dict(color=PALETTE[bases.index(s.name.split("+")[0]) % len(PALETTE)],
                     linestyle="--" if "+zero_snr" in s.name else "-", label=s.name, linewidth=1.6)
        a_ax.plot(t, s.alphas_cumprod.numpy(), **style)
        log_snr = s.log_snr.numpy().copy()
        log_snr[~np.isfinite(log_snr)] = np.nan       # zero terminal SNR: log-SNR = -inf at the last step
        l_ax.plot(t, log_snr, **style)
        b_ax.plot(t, s.betas.numpy(), **style)
    a_ax.set_title(r"$\bar\alpha_t$ (signal variance kept)")
    l_ax.set_title(r"log-SNR$(t) = \log\,\bar\alpha_t/(1-\bar\alpha_t)$")
    b_ax.set_title(r"$\beta_t$ (noise added at step $t$, log scale)")
    b_ax.set_yscale("log")
    for ax in axes[0]:
        ax.set_xlabel("t")
        ax.grid(alpha=0.3)
    a_ax.legend(fontsize=8)
    return to_image(fig)


def noised_grid(grid: np.ndarray, timesteps, schedules, tile: int = 96) -> Image.Image:
    """Rows = schedules, columns = timesteps: uint8 tiles [S, F, H, W(, 3)], each captioned with its alpha_bar."""
    S, F = grid.shape[:2]
    label_w, head_h, cap_h, gap = 130, 20, 16, 4
    tiles = [[to_pil(grid[i, j], tile) for j in range(F)] for i in range(S)]
    tw, th = tiles[0][0].size
    W = label_w + F * (tw + gap)
    H = head_h + S * (th + cap_h + gap)
    out = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(out)
    f, small = canvas.font(12), canvas.font(10)
    for j, t in enumerate(timesteps):
        d.text((label_w + j * (tw + gap) + tw // 2, 3), f"t = {t}", fill=canvas.INK, font=f, anchor="ma")
    for i, s in enumerate(schedules):
        y = head_h + i * (th + cap_h + gap)
        d.text((label_w - 8, y + th // 2), s.name, fill=canvas.INK, font=f, anchor="rm")
        for j, t in enumerate(timesteps):
            x = label_w + j * (tw + gap)
            out.paste(tiles[i][j], (x, y))
            ab = float(s.alphas_cumprod[t])
            d.text((x + tw // 2, y + th + 2), f"ᾱ = {ab:.2g}", fill=canvas.INK, font=small, anchor="ma")
    return out


def visited_timesteps(schedule, rows, num_steps: int, sampler: str) -> Image.Image:
    """sqrt(alpha_bar_t) (the signal in x_t) over t, with the timesteps each spacing visits marked on it."""
    fig, axes = figure(7.5, 3.4)
    ax = axes[0][0]
    t = np.arange(schedule.num_timesteps)
    ax.plot(t, schedule.sqrt_alphas_cumprod.numpy(), color="#555", linewidth=1.2, label=r"$\sqrt{\bar\alpha_t}$")
    for i, row in enumerate(rows):
        ts = np.asarray(row.timesteps, dtype=np.float64)
        signal = schedule.alpha_bar_at(ts).numpy() ** 0.5
        ax.plot(ts, signal, SPACING_MARKERS.get(row.spacing, "o"), color=PALETTE[i], markersize=7, alpha=0.85,
                label=f"{row.spacing}: first call at t = {row.first:g}, √ᾱ = {row.signal_first:.3g}")
        ax.plot(ts, np.full_like(ts, -0.06 - 0.05 * i), "|", color=PALETTE[i], markersize=10)
    ax.set_xlabel("t  (rug below: the timesteps each spacing visits)")
    ax.set_ylabel("signal left  √ᾱ_t")
    ax.set_ylim(-0.06 - 0.05 * len(rows) - 0.03, 1.05)
    ax.set_title(f"{sampler}, {num_steps} steps on {schedule.name} (T = {schedule.num_timesteps})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 0.2))
    return to_image(fig)


# --- point clouds ------------------------------------------------------------------------------------------------
def cloud_bounds(reference_points: np.ndarray):
    """Axis bounds for every panel of a figure: the data's own extent (1-D: (lo, hi))."""
    pts = np.asarray(reference_points, dtype=np.float64)
    if pts.shape[1] == 2:
        return bounds_2d(pts, pad=0.25)
    lo, hi = np.quantile(pts[:, 0], [0.002, 0.998])
    pad = 0.25 * (hi - lo) + 1e-3
    return (lo - pad, hi + pad)


def cloud_panel(points, bounds, title: str, size: int = PANEL, rgb=canvas.SAMPLE, note: str = "",
                reference=None) -> Image.Image:
    """One panel: the cloud (2-D scatter or 1-D histogram), a title, and a note when points fall far outside."""
    if points is None:
        ax = canvas.Axes2D((0, 1, 0, 1), size, title)
        return ax.canvas().text(note or "no result", (size // 2, size // 2), anchor="mm").image()
    x = np.asarray(points, dtype=np.float64)
    finite = np.isfinite(x).all(axis=1)
    if x.shape[1] == 2:
        ax = canvas.Axes2D(bounds, size, title)
        c = ax.canvas()
        if reference is not None:
            c.points(reference, canvas.DATA, alpha=0.12)
        c.points(x[finite], rgb, alpha=0.35)
        lo_x, hi_x, lo_y, hi_y = bounds
        inside = finite & (x[:, 0] >= lo_x) & (x[:, 0] <= hi_x) & (x[:, 1] >= lo_y) & (x[:, 1] <= hi_y)
    else:
        lo, hi = bounds
        xs = x[finite, 0]
        dens, _ = np.histogram(xs, bins=60, range=(lo, hi), density=True)
        top = max(float(dens.max()) if len(xs) else 1.0, 0.1)
        ax = canvas.Axes1D((lo, hi), 1.2 * top, size, title)
        c = ax.canvas()
        if reference is not None:
            c.histogram(np.asarray(reference)[:, 0], canvas.DATA, bins=60, alpha=0.25)
        c.histogram(xs, rgb, bins=60)
        inside = finite & (x[:, 0] >= lo) & (x[:, 0] <= hi)
    out = 1 - inside.mean()
    if out > 0.05:
        note = (note + "  " if note else "") + f"{100 * out:.0f} % of points off the plot"
    if note:
        c.text(note, (ax.x0 + 4, ax.y0 + ax.h - 4), size=10, anchor="lb")
    return c.image()


def grid(panels, columns: int, gap: int = 6, row_labels=None, col_labels=None, label_w: int = 0,
         head_h: int = 0) -> Image.Image:
    """Panels (PIL images of one size) in rows of ``columns``, with optional row and column labels."""
    if not panels:
        raise ValueError("no panels to draw")
    w, h = panels[0].size
    rows = math.ceil(len(panels) / columns)
    label_w = label_w if row_labels else 0
    head_h = head_h if col_labels else 0
    out = Image.new("RGB", (label_w + columns * (w + gap), head_h + rows * (h + gap)), "white")
    d = ImageDraw.Draw(out)
    for i, p in enumerate(panels):
        r, c = divmod(i, columns)
        out.paste(p, (label_w + c * (w + gap), head_h + r * (h + gap)))
    for r, text in enumerate(row_labels or []):
        d.text((label_w - 6, head_h + r * (h + gap) + h // 2), text, fill=canvas.INK, font=canvas.font(13), anchor="rm")
    for c, text in enumerate(col_labels or []):
        d.text((label_w + c * (w + gap) + w // 2, head_h // 2), text, fill=canvas.INK, font=canvas.font(13), anchor="mm")
    return out


def titled(image: Image.Image, title: str) -> Image.Image:
    """The image with a title band on top."""
    out = Image.new("RGB", (image.width, image.height + 26), "white")
    out.paste(image, (0, 26))
    ImageDraw.Draw(out).text((6, 5), title, fill=canvas.INK, font=canvas.font(14))
    return out


# --- the race ----------------------------------------------------------------------------------------------------
def quality_text(q) -> str:
    """A quality figure for display: 1.23, 1.27e+02, ∞ (or '' for none)."""
    if q is None:
        return ""
    if not math.isfinite(q):
        return "∞"
    return f"{q:.2f}" if q < 100 else f"{q:.3g}"


def _quality_label(q) -> str:
    if q is None:
        return ""
    return "q = ∞ (blew up)" if not math.isfinite(q) else f"q = {quality_text(q)}"


def race_clouds(result, reference_points: np.ndarray) -> Image.Image:
    """Rows = samplers, columns = step counts: the final cloud of each cell, data (blue) behind."""
    bounds = cloud_bounds(reference_points)
    ref = reference_points[:1000]
    panels = []
    for sampler in result.samplers:
        for k in result.step_counts:
            c = result.cell(sampler, k)
            if c is None:
                panels.append(cloud_panel(None, bounds, f"{sampler} · {k} steps", note="not run (stopped)"))
            elif c.error:
                panels.append(cloud_panel(None, bounds, f"{sampler} · {k} steps", note="failed: see the table"))
            else:
                title = f"NFE {c.nfe}  {_quality_label(c.quality)}" + ("  (stopped)" if c.stopped else "")
                panels.append(cloud_panel(c.samples.numpy(), bounds, title, reference=ref))
    return grid(panels, len(result.step_counts), row_labels=result.samplers,
                col_labels=[f"{k} steps" for k in result.step_counts], label_w=130, head_h=24)


def race_images(result, per_row: int | None = None) -> Image.Image:
    """Rows = samplers, columns = step counts: each cell the batch of images (same x_T everywhere)."""
    from diffusion.images import tensor_to_uint8
    panels = []
    size = None
    for sampler in result.samplers:
        for k in result.step_counts:
            c = result.cell(sampler, k)
            if c is None or c.samples is None:
                panels.append(None)
                continue
            imgs = tensor_to_uint8(c.samples)                    # [B, H, W(, 3)]
            b = len(imgs)
            cols = per_row or (2 if b == 4 else min(b, 4))
            rows = math.ceil(b / cols)
            tiles = [to_pil(a, 64) for a in imgs]
            tw, th = tiles[0].size
            cell = Image.new("RGB", (cols * (tw + 2), rows * (th + 2) + 16), "white")
            for i, t in enumerate(tiles):
                r, cc = divmod(i, cols)
                cell.paste(t, (cc * (tw + 2), r * (th + 2)))
            ImageDraw.Draw(cell).text((2, rows * (th + 2) + 2), f"NFE {c.nfe}" + (" (stopped)" if c.stopped else ""),
                                      fill=canvas.INK, font=canvas.font(11))
            size = cell.size
            panels.append(cell)
    size = size or (128, 144)
    panels = [p if p is not None else _blank(size, "not run") for p in panels]
    return grid(panels, len(result.step_counts), row_labels=result.samplers,
                col_labels=[f"{k} steps" for k in result.step_counts], label_w=130, head_h=24)


def _blank(size, text: str) -> Image.Image:
    im = Image.new("RGB", size, (245, 245, 245))
    ImageDraw.Draw(im).text((size[0] // 2, size[1] // 2), text, fill=canvas.INK, font=canvas.font(11), anchor="mm")
    return im


def race_plot(result) -> Image.Image:
    """Quality against NFE, one line per sampler (log axes; 1.0 = as close as a fresh draw of the data)."""
    fig, axes = figure(6.4, 3.8)
    ax = axes[0][0]
    worst = 1.0
    for i, sampler in enumerate(result.samplers):
        pts = [(c.nfe, c.quality) for c in result.cells
               if c.sampler == sampler and c.quality is not None and math.isfinite(c.quality)]
        if pts:
            x, y = zip(*pts)
            ax.plot(x, y, "o-", color=PALETTE[i % len(PALETTE)], label=sampler)
            worst = max(worst, max(y))
    ax.axhline(1.0, color="#888", linestyle=":", linewidth=1, label="a fresh draw of the data")
    ax.set_xscale("log")
    ticks = sorted({c.nfe for c in result.cells if c.nfe})
    if ticks:
        from matplotlib.ticker import NullFormatter
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
    if worst > 8:
        ax.set_yscale("log")
    ax.set_xlabel("network calls (NFE)")
    ax.set_ylabel("quality (lower is better, ~1 is best)")
    ax.set_title(f"quality vs NFE — {result.racer_label}", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    if result.samplers:
        ax.legend(fontsize=8)
    return to_image(fig)


def stack(images, gap: int = 10) -> Image.Image:
    """Images one under the other, left-aligned, on white (the PNG export)."""
    W = max(im.width for im in images)
    H = sum(im.height for im in images) + gap * (len(images) - 1)
    out = Image.new("RGB", (W, H), "white")
    y = 0
    for im in images:
        out.paste(im, (0, y))
        y += im.height + gap
    return out


def cells_row(items, bounds, reference=None, size: int = 240) -> Image.Image:
    """A row of cloud panels: items are (title, points, note)."""
    panels = [cloud_panel(points, bounds, title, size=size, note=note, reference=reference)
              for title, points, note in items]
    return grid(panels, len(panels))
