"""The scrubber, the one place where speed is felt: every frame of a run is rendered once on the server and sent to
the page as a stack of ``<img>`` elements (data URIs); moving the time slider only changes which one is shown, in
the browser, with no round trip (see :func:`scrub_js`). Also the PNG helpers the frames are made with."""
from __future__ import annotations

import base64
import html
import io
from typing import Sequence

import gradio as gr
from PIL import Image

from .export import cached_file

__all__ = ["encode_png", "data_uri", "decode_png", "png_file", "scrubber_html", "placeholder_html", "scrub_js",
           "play_js", "slider_update", "SCRUB_CSS"]


def encode_png(image: Image.Image, colours: int = 64) -> bytes:
    """A small, crisp PNG: plots have few colours, so an adaptive palette keeps them sharp at ~1/3 the size."""
    buf = io.BytesIO()
    image.quantize(colours, method=Image.Quantize.FASTOCTREE).save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def data_uri(png: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(png).decode('ascii')}"


def decode_png(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


def png_file(png: bytes, name: str = "frame.png") -> str:
    """These PNG bytes as a file in Gradio's cache, where an image output would put them (``<sha256>/name``).

    A handler that returns this path sends a stored frame as it is, with no decoding and re-encoding, so a scrub
    stays cheap while training jobs hold the CPUs; another visitor asking for the same frame gets the same file."""
    return cached_file(png, name)


def scrubber_html(elem_id: str, views: Sequence[tuple[str, Sequence[bytes]]], labels: Sequence[str],
                  index: int = 0, note: str = "", wide: bool = False) -> str:
    """Panels side by side, each a stack of frames of which only frame ``index`` is visible.

    ``views``: (title, [png bytes per frame]) per panel (the title is the frames' alt text; frames carry their own
    captions); every view has len(labels) frames. ``wide``: one panel as wide as the column, any aspect ratio
    (a strip of pictures) instead of square panels of at most 400 px.
    """
    n = len(labels)
    for title, frames in views:
        if len(frames) != n:
            raise ValueError(f"view {title!r} has {len(frames)} frames but there are {n} labels")
    index = min(max(int(index), 0), n - 1)
    parts = [f'<div class="dl-scrub{" dl-wide" if wide else ""}" id="{elem_id}-frames" data-n="{n}" '
             f'data-index="{index}">',
             '<div class="dl-panels">']
    for title, frames in views:
        parts.append('<figure class="dl-panel"><div class="dl-stack">')
        for i, png in enumerate(frames):
            on = " dl-on" if i == index else ""
            parts.append(f'<img class="dl-frame{on}" data-i="{i}" alt="{html.escape(title)}: {html.escape(labels[i])}"'
                         f' src="{data_uri(png)}">')
        parts.append("</div></figure>")
    parts.append("</div>")
    if note:
        parts.append(f'<div class="dl-note">{html.escape(note)}</div>')
    parts.append("</div>")
    return "".join(parts)


def slider_update(frames: int, value: int = 0):
    """The time slider set for a run of ``frames`` frames (0 .. frames - 1, at least one step), at ``value``."""
    return gr.update(minimum=0, maximum=max(frames - 1, 1), value=value, step=1)


def placeholder_html(message: str) -> str:
    return f'<div class="dl-scrub dl-empty">{html.escape(message)}</div>'


# Shown frame <- slider value. Runs in the browser on every slider input event; no server round trip.
_SHOW_FRAME = """
const root = document.getElementById('%(elem_id)s-frames');
if (root) {
  const n = parseInt(root.dataset.n);
  const i = Math.max(0, Math.min(n - 1, Math.round(Number(v))));
  if (String(i) !== root.dataset.index) {
    root.querySelectorAll('.dl-on').forEach(el => el.classList.remove('dl-on'));
    root.querySelectorAll('[data-i="' + i + '"]').forEach(el => el.classList.add('dl-on'));
    root.dataset.index = String(i);
  }
}
"""


def scrub_js(elem_id: str) -> str:
    """JS for ``slider.input(None, inputs=slider, js=...)``: show frame ``v`` of the scrubber ``elem_id``."""
    return "(v) => {" + _SHOW_FRAME % {"elem_id": elem_id} + "return v; }"


def play_js(elem_id: str, slider_id: str, direction: int, fps: float = 15.0) -> str:
    """JS for a Play button: step the slider (and so the frames) once per 1/fps s to one end; click again to stop.

    ``direction``: -1 runs the slider down to 0, +1 up to its maximum. It moves the real range input and fires its
    input event, so the slider, the shown frame and the server-side value stay in step.
    """
    if direction not in (-1, 1):
        raise ValueError(f"direction must be -1 or 1, got {direction!r}")
    return """() => {
  const key = '__dl_play_%(slider_id)s';
  if (window[key]) { clearInterval(window[key]); window[key] = null; return; }
  const range = document.querySelector('#%(slider_id)s input[type=range]');
  const root = document.getElementById('%(elem_id)s-frames');
  if (!range || !root) return;
  const last = parseInt(root.dataset.n) - 1;
  let i = Math.round(Number(range.value));
  if ((%(direction)d < 0 && i <= 0) || (%(direction)d > 0 && i >= last)) i = %(direction)d < 0 ? last : 0;
  const step = () => {
    range.value = String(i);
    range.dispatchEvent(new Event('input', {bubbles: true}));
    if ((%(direction)d < 0 && i <= 0) || (%(direction)d > 0 && i >= last)) {
      clearInterval(window[key]); window[key] = null; return;
    }
    i += %(direction)d;
  };
  step();
  window[key] = setInterval(step, %(interval)d);
}""" % {"elem_id": elem_id, "slider_id": slider_id, "direction": direction, "interval": round(1000 / fps)}


SCRUB_CSS = """
.dl-scrub { font-size: 0.9em; }
.dl-panels { display: flex; flex-wrap: wrap; gap: 10px; }
.dl-panel { margin: 0; flex: 1 1 300px; max-width: 400px; }
.dl-stack { position: relative; width: 100%; aspect-ratio: 1 / 1; }
.dl-frame { display: none; width: 100%; height: auto; image-rendering: auto; }
.dl-frame.dl-on { display: block; }
.dl-wide .dl-panel { max-width: none; flex-basis: 100%; }
.dl-wide .dl-stack { aspect-ratio: auto; }
.dl-note { margin-top: 4px; opacity: 0.8; }
@media (max-width: 720px) { .dl-picture-first { flex-direction: column-reverse !important; } }  /* phone: pictures on top */
.dl-empty { padding: 2em; text-align: center; opacity: 0.7; border: 1px dashed #bbb; border-radius: 8px; }
/* presentation mode (the header's button): forms and explanations hidden, the pictures as large as the screen */
body.dl-present .dl-controls, body.dl-present .dl-explain { display: none !important; }
/* !important: Gradio also adds each rule scoped under .gradio-container .contain, which outranks body.dl-present */
body.dl-present .dl-panel { max-width: min(45vw, 78vh) !important; flex: 1 1 45% !important; }
body.dl-present .dl-scrub, body.dl-present .dl-note { font-size: 1.25em !important; }
"""


