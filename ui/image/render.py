"""Drawing for the Image lab: uint8 image arrays -> captioned frames (PNG), scrubber HTML, strips and GIFs.

No maths here: the arrays come from :mod:`diffusion.labs.image_runs`. Small model images (28 or 32 px) are enlarged
by an integer factor with nearest-neighbour sampling on the server, so every browser shows sharp pixels. A frame
is one picture: the panels side by side, each titled, with the frame's label (t, ᾱ_t, SNR) underneath; the same
frames make the scrubber, the PNG export and the GIF.
"""
from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image, ImageDraw

from ..widgets.canvas import font, to_pil
from ..widgets.scrubber import scrubber_html

DISPLAY = 280          # panels are enlarged to at most this many pixels per side (integer factor)
GAP = 8                # pixels between panels
TITLE_H = 20           # title band above the panels
LABEL_H = 22           # label band under the panels
INK, PAPER = (20, 20, 20), (255, 255, 255)
RUN_TITLES = ("x_t  (the sampler's state)", "x̂₀  (predicted clean image)", "ε̂  (predicted noise, ±3)")
FWD_TITLES = ("x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε", "x̂₀  (the model's guess from x_t)")


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def compose(panels, titles, label: str = "", display: int = DISPLAY) -> Image.Image:
    """Panels (uint8 arrays) side by side, each enlarged and titled, with ``label`` in a band underneath."""
    tiles = [to_pil(a, display).convert("RGB") for a in panels]
    side = max(max(t.size) for t in tiles)
    w = len(tiles) * side + GAP * (len(tiles) - 1)
    canvas = Image.new("RGB", (w, TITLE_H + side + (LABEL_H if label else 0)), PAPER)
    draw = ImageDraw.Draw(canvas)
    f_title, f_label = font(12), font(13)
    for i, tile in enumerate(tiles):
        x = i * (side + GAP)
        canvas.paste(tile, (x + (side - tile.size[0]) // 2, TITLE_H))
        if titles:
            draw.text((x + 1, TITLE_H // 2), titles[i], fill=INK, font=f_title, anchor="lm")
    if label:
        draw.text((1, TITLE_H + side + LABEL_H // 2), label, fill=INK, font=f_label, anchor="lm")
    return canvas


def titled(a: np.ndarray, title: str, label: str = "", display: int = DISPLAY) -> Image.Image:
    """One panel as the scrubber shows it: the image enlarged, its title above and ``label`` (or a blank band)
    below, so that panels side by side line up."""
    return compose([a], [title], label or " ", display)


def split_label(label: str, parts: int) -> list[str]:
    """A label's pieces (separated by two spaces) spread over ``parts`` panels: extra pieces go to the first."""
    chunks = [c.strip() for c in re.split(r"\s{2,}", label) if c.strip()]
    if len(chunks) <= parts:
        return chunks + [""] * (parts - len(chunks))
    head = len(chunks) - (parts - 1)
    return ["  ".join(chunks[:head])] + chunks[head:]


def _views(panels, titles, labels) -> list:
    """Scrubber views: one per panel; each frame's label is spread under the panels."""
    pieces = [split_label(label, len(panels)) for label in labels]
    return [(title, [png_bytes(titled(frames[i], title, pieces[i][k])) for i in range(len(labels))])
            for k, (title, frames) in enumerate(zip(titles, panels))]


def run_frame(run, image: int, frame: int) -> Image.Image:
    """Frame ``frame`` of image ``image`` of a recorded run as one picture: x_t | x̂₀ | ε̂ and the frame's label."""
    return compose([run.x_t[frame, image], run.x0_pred[frame, image], run.eps_pred[frame, image]], RUN_TITLES,
                   run.labels[frame])


def run_scrubber(elem_id: str, run, image: int, index: int | None = None) -> str:
    """Scrubber HTML of one image of a recorded run (frame 0 = the clean end, last = the noisy start)."""
    panels = [run.x_t[:, image], run.x0_pred[:, image], run.eps_pred[:, image]]
    index = run.num_frames - 1 if index is None else index
    return scrubber_html(elem_id, _views(panels, RUN_TITLES, run.labels), run.labels, index=index, note=run.note)


def run_gif_frames(run, image: int) -> list[Image.Image]:
    """GIF frames from pure noise to the result, in sampling order."""
    return [run_frame(run, image, i) for i in range(run.num_frames - 1, -1, -1)]


def forward_label(fwd: dict, i: int) -> str:
    return f"t = {fwd['t'][i]}   ᾱ_t = {fwd['alpha_bar'][i]:.4g}   SNR = {fwd['snr'][i]:.3g}"


def _forward_panels(fwd: dict):
    panels = [fwd["x_t"]] + ([fwd["x0_pred"]] if fwd.get("x0_pred") is not None else [])
    return panels, FWD_TITLES[: len(panels)]


def forward_frame(fwd: dict, i: int) -> Image.Image:
    """Frame i of the forward view as one picture: x_t (and x̂₀ when computed) with ᾱ_t and SNR."""
    panels, titles = _forward_panels(fwd)
    return compose([p[i] for p in panels], titles, forward_label(fwd, i))


def forward_scrubber(elem_id: str, fwd: dict, index: int = 0) -> str:
    panels, titles = _forward_panels(fwd)
    labels = [forward_label(fwd, i) for i in range(len(fwd["t"]))]
    note = "" if fwd.get("x0_pred") is not None else \
        "x̂₀ is not shown: this model is too slow for 100 predictions at once on this machine."
    return scrubber_html(elem_id, _views(panels, titles, labels), labels, index=index, note=note)


def forward_gif_frames(fwd: dict) -> list[Image.Image]:
    """GIF frames of the forward process, clean to noise."""
    return [forward_frame(fwd, i) for i in range(len(fwd["t"]))]


def strip(images, captions) -> Image.Image:
    """A few images side by side with captions (e.g. original · noised · restored)."""
    return compose(list(images), list(captions))


def batch_gallery(final: np.ndarray) -> list[tuple[Image.Image, str]]:
    """The batch's final images for a gr.Gallery, captioned 1..B."""
    return [(to_pil(a, 112), f"{i + 1}") for i, a in enumerate(final)]
