"""Frames of the Edit lab: the 2-D methods beside the exact posterior, and the digit edits.

No maths here beyond drawing: the runs come from :mod:`diffusion.labs.edit_toy` and :mod:`diffusion.labs.edit_image`.
Every panel of a scrubber needs the same number of frames, and the methods take different numbers of steps (RePaint
walks back up the noise), so each run's frames are spread over :data:`FRAMES` slider positions by progress
through the run; each frame's caption says which timestep it shows.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from diffusion.labs.edit_toy import METHOD_NAMES, DATA
from diffusion.toy.data import make_dataset

from ..widgets import canvas
from ..widgets.scrubber import encode_png
from ..widgets.tiles import stack, strip

PANEL = 340            # 2-D frame size in pixels
FRAMES = 41            # slider positions of a 2-D scrubber
OBS_RGB = (0, 0, 0)
EXACT_RGB = (0, 114, 178)      # Okabe-Ito blue: the exact posterior
METHOD_RGB = (213, 94, 0)      # Okabe-Ito vermillion: a method's particles
PRIOR_RGB = (190, 190, 190)


def _spread(n_frames: int, count: int = FRAMES) -> list[int]:
    """``count`` frame indices of a run with ``n_frames`` frames, evenly by progress (0 = the end)."""
    return [round(j * (n_frames - 1) / (count - 1)) for j in range(count)]


def _observation(c: canvas.Canvas, axes: canvas.Axes2D, obs) -> None:
    """The observation drawn on a panel: the line a . x = v (a band of +-sigma_y), or the noisy point."""
    x0, x1, y0, y1 = axes.bounds
    if obs.kind == "copy":
        c.markers(obs.v.numpy()[None], OBS_RGB, "cross", size=7, alpha=1.0)
        return
    a, v = obs.A[0].numpy(), float(obs.v[0])
    direction = np.array([-a[1], a[0]])
    centre = a * v
    span = 2 * max(x1 - x0, y1 - y0)
    ts = np.linspace(-span, span, 2)
    for offset, alpha in ((0.0, 0.9),) + (((-obs.sigma_y, 0.35), (obs.sigma_y, 0.35)) if obs.sigma_y > 0 else ()):
        line = centre + offset * a + ts[:, None] * direction
        c.paths(line[None], OBS_RGB, alpha=alpha, width=1)


def render_toy(edits) -> tuple[dict[str, list[bytes]], list[str]]:
    """PNG frames per panel ("exact posterior" first, then each method), all FRAMES long, and the slider labels."""
    axes = canvas.Axes2D(edits.bounds, PANEL)
    prior = make_dataset(DATA, 3000, seed=0).numpy()
    obs = edits.observation

    def frame(title: str, pts: np.ndarray, rgb, caption: str) -> bytes:
        c = axes.canvas()
        c.points(prior, PRIOR_RGB, alpha=0.35, radius=1)
        _observation(c, axes, obs)
        c.points(pts, rgb, alpha=0.45 if len(pts) > 1500 else 0.6, radius=1)
        c.text(title, size=13)
        c.text(caption, (axes.x0 + axes.w - 4, axes.y0 + axes.h - 4), size=12, anchor="rd")
        return encode_png(c.image())

    def method_frames(name: str, run) -> list[bytes]:
        title = f"{METHOD_NAMES[name]} · {run.nfe} calls"
        out = []
        for k in _spread(len(run.times)):
            t = run.times[k]
            caption = f"result: {run.distance:.2f}" if t is None else f"t = {t:.0f}"
            out.append(frame(title, run.frames[k], METHOD_RGB, caption))
        return out

    with ThreadPoolExecutor(max_workers=min(4, len(edits.runs))) as pool:
        jobs = {name: pool.submit(method_frames, name, run) for name, run in edits.runs.items()}
    exact = frame("exact posterior p(x₀ | observation)", edits.exact_draws, EXACT_RGB, obs.caption)
    frames = {"exact posterior": [exact] * FRAMES}
    frames.update({name: job.result() for name, job in jobs.items()})
    labels = [f"{j}/{FRAMES - 1} of the way back to the noise" for j in range(FRAMES)]
    return frames, labels


# --- digits ------------------------------------------------------------------------------------------------------

def render_image_run(run) -> list[bytes]:
    """One PNG per frame: rows original / observed / x_t / x̂₀ over the batch (frame 0 = the result)."""
    original = strip(list(run.extra["original"]), "original")
    observed = strip(list(run.extra["observed"]), "what it was given")
    out = []
    for k in range(run.num_frames):
        rows = [original, observed, strip(list(run.x_t[k]), "x_t (state)"),
                strip(list(run.x0_pred[k]), "x̂₀ (prediction)")]
        out.append(encode_png(stack(rows, run.labels[k])))
    return out


