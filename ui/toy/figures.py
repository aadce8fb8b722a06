"""The Toy lab's two static figures, drawn from the numbers of :mod:`diffusion.labs.toy_extras`: diffusion vs flow
matching, and the 1-D density over time with paths on it."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from PIL import Image

from diffusion.labs.toy_runs import bounds_2d

from ..widgets import canvas


def loss_frame(losses: list[float]) -> pd.DataFrame:
    """The loss curve, smoothed (exponential moving average) and thinned to at most ~400 points."""
    if not losses:
        return pd.DataFrame({"step": [], "loss": []})
    smooth, out_steps, out_loss = None, [], []
    every = max(1, len(losses) // 400)
    for i, v in enumerate(losses):
        if not math.isfinite(v):
            continue
        smooth = v if smooth is None else 0.97 * smooth + 0.03 * v
        if i % every == 0 or i == len(losses) - 1:
            out_steps.append(i + 1)
            out_loss.append(smooth)
    return pd.DataFrame({"step": out_steps, "loss": out_loss})

def draw_compare(result: dict, size: int = 340) -> Image.Image:
    """Two panels: diffusion's ODE paths (curved) and flow matching's (straight), from the same noise."""
    panels = []
    titles = {"diffusion": "Diffusion: DDIM (probability-flow ODE)", "flow": "Flow matching: Euler"}
    data = result["data"]
    if data.shape[1] == 2:
        ends = [result["paths"][k].reshape(-1, 2) for k in ("diffusion", "flow")]
        ax = canvas.Axes2D(bounds_2d(data, *ends, quantile=0.99), size, "")
        for kind in ("diffusion", "flow"):
            paths = result["paths"][kind]
            c = canvas.Axes2D(ax.bounds, size, titles[kind]).canvas()
            c.points(data, canvas.DATA, alpha=0.12)
            c.paths(paths, canvas.PATH, alpha=0.6)
            c.points(paths[:, 0], canvas.INK, alpha=0.8)
            c.points(paths[:, -1], canvas.SAMPLE, alpha=0.9, radius=2)
            s = result["straightness"][kind]
            c.text(f"straightness {s:.3f}  (1 = straight)")
            panels.append(c.image())
    else:  # 1-D: x against the sampling time, noise on the right
        lo, hi = np.quantile(np.concatenate([p.ravel() for p in result["paths"].values()]), [0.01, 0.99])
        for kind in ("diffusion", "flow"):
            paths = result["paths"][kind][..., 0]                                  # [PATHS, L]
            L = paths.shape[1]
            c = canvas.Axes2D((0.0, 1.0, lo - 0.2, hi + 0.2), size, titles[kind] + "  (x over time)").canvas()
            tt = np.linspace(1.0, 0.0, L)
            c.paths(np.stack([np.broadcast_to(tt, paths.shape), paths], -1), canvas.PATH, alpha=0.6)
            c.text("noise at the right, data at the left")
            panels.append(c.image())
    return canvas.side_by_side(panels)


def compare_table(result: dict) -> str:
    q = result["quality"]
    rows = ["| steps (NFE) | " + " | ".join(str(k) for k in result["nfe"]) + " |",
            "|---|" + "---|" * len(result["nfe"]),
            "| diffusion (DDIM) | " + " | ".join(f"{v:.2f}" for v in q["diffusion"]) + " |",
            "| flow matching (Euler) | " + " | ".join(f"{v:.2f}" for v in q["flow"]) + " |"]
    return (straightness_sentence(result) + "Quality by number of steps (1.0 = as close as a fresh draw of the "
            "data; lower is better):\n\n" + "\n".join(rows))


def straightness_sentence(result: dict) -> str:
    """The measured comparison, written from the two figures (no claim the numbers do not make)."""
    s = result["straightness"]
    if s.get("diffusion") is None or s.get("flow") is None:
        return ""
    d, f = s["diffusion"], s["flow"]
    if abs(d - f) < 0.01:
        verdict = "about as straight as"
    else:
        verdict = "straighter than" if f > d else "less straight than"
    return (f"Measured on these paths: flow matching's are **{verdict}** diffusion's (straightness {f:.3f} against "
            f"{d:.3f}; 1 = straight).\n\n")


# --- the 1-D view: p_t(x) over (t, x), with ODE and SDE paths on it -------------------------------------------------
def draw_density_paths(result: dict, size: int = 380) -> Image.Image:
    """Heat map of log p_t(x) (bright = likely) with the ODE paths (left) and SDE paths (right) drawn on it."""
    logp = result["logp"]
    top = np.nanmax(logp)
    heat = canvas.heatmap_rgb(np.clip(logp, top - 9.0, top), "magma")
    lo, hi = result["x"][-1], result["x"][0]
    T = result["T"]
    panels = []
    for name in ("ODE", "SDE"):
        title = {"ODE": "ODE paths (deterministic)", "SDE": "SDE paths (DDPM: fresh noise each step)"}[name]
        c = canvas.Axes2D((0.0, T, lo, hi), size, title).canvas()
        c.heatmap(heat)
        if name in result["paths"]:
            ts, xs = result["paths"][name]
            # xs[k] is the state before step k (at timesteps[k]); the last state is the sample, at t = 0
            times = np.concatenate([ts, [0.0]])
            c.paths(np.stack([np.broadcast_to(times[:, None], xs.shape), xs], -1).swapaxes(0, 1), (255, 255, 255),
                    alpha=0.75)
        else:
            c.text("flow matching has no SDE sampler here")
        panels.append(c.image())
    return canvas.side_by_side(panels)
