"""Shared UI helpers: frame encoding, the client-side scrubber, GIF export, input checks and session bookkeeping.

The scrubber is the one place where speed is felt: every frame of a run is rendered once on the server and sent
to the page as a stack of ``<img>`` elements (data URIs); moving the time slider only changes which one is shown,
in the browser, with no round trip (see :func:`scrub_js`).
"""
from __future__ import annotations

import base64
import html
import io
import math
import tempfile
import threading
import weakref
from typing import Iterable, Sequence

import gradio as gr
from PIL import Image, UnidentifiedImageError

# --- limits (what a session may ask for; issue 6 sizes them for a classroom on a 2-vCPU Space) -------------------
MAX_FRAMES = 100                 # frames rendered per view of a run (longer runs are subsampled evenly)
SESSION_TTL_S = 2 * 3600         # a session's state is dropped this long after its last update
MAX_SESSION_BYTES = 150 * 2**20  # per-session budget (frames + recorded trajectories), issue 6


# --- frames -----------------------------------------------------------------------------------------------------
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

    A handler that returns this path sends a stored frame as it is: no decoding and re-encoding (a 340 px frame
    costs 13 ms of CPU that way, the file ~0.1 ms), so a scrub stays cheap while training jobs hold the CPUs.
    Written atomically (ui.gradio_cache) and found again when another visitor asks for the same frame."""
    from gradio import processing_utils, utils
    return processing_utils.save_bytes_to_cache(png, name, utils.get_upload_folder())


def frame_indices(count: int, limit: int = MAX_FRAMES) -> list[int]:
    """At most ``limit`` evenly spread indices into ``count`` items, always keeping the first and the last."""
    if count <= limit:
        return list(range(count))
    return sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)})


def scrubber_html(elem_id: str, views: Sequence[tuple[str, Sequence[bytes]]], labels: Sequence[str],
                  index: int = 0, note: str = "") -> str:
    """Panels side by side, each a stack of frames of which only frame ``index`` is visible.

    ``views``: (title, [png bytes per frame]) per panel (the title is the frames' alt text; frames carry their own
    captions); every view has len(labels) frames.
    """
    n = len(labels)
    for title, frames in views:
        if len(frames) != n:
            raise ValueError(f"view {title!r} has {len(frames)} frames but there are {n} labels")
    index = min(max(int(index), 0), n - 1)
    parts = [f'<div class="dl-scrub" id="{elem_id}-frames" data-n="{n}" data-index="{index}">',
             '<div class="dl-panels">']
    for title, frames in views:
        parts.append(f'<figure class="dl-panel"><div class="dl-stack">')
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
.dl-note { margin-top: 4px; opacity: 0.8; }
.dl-empty { padding: 2em; text-align: center; opacity: 0.7; border: 1px dashed #bbb; border-radius: 8px; }
"""


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


# --- input checks: clear messages, never a crash ---------------------------------------------------------------
def number(name: str, value, lo: float, hi: float, integer: bool = False):
    """``value`` as a number within [lo, hi], or a gr.Error saying which input is wrong and what it accepts."""
    if isinstance(value, bool) or value is None:
        raise gr.Error(f"{name} must be a number in [{lo:g}, {hi:g}]; got {value!r}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a number in [{lo:g}, {hi:g}]; got {value!r}.") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise gr.Error(f"{name} must be in [{lo:g}, {hi:g}]; got {value!r}.")
    if integer:
        if v != int(v):
            raise gr.Error(f"{name} must be a whole number in [{lo:g}, {hi:g}]; got {value!r}.")
        return int(v)
    return v


def choice(name: str, value, options: Iterable[str]) -> str:
    options = list(options)
    if value not in options:
        raise gr.Error(f"unknown {name} {value!r}; choose one of {options}.")
    return value


def user_error(exc: Exception) -> gr.Error:
    """A core ValueError, shown in the UI as it is (the core's messages name the bad value and the choices)."""
    if isinstance(exc, gr.Error):
        return exc
    message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    return gr.Error(message)


# --- per-session objects ----------------------------------------------------------------------------------------
class SessionRegistry:
    """Weak bookkeeping of live session objects, so tests (and issue 6's load test) can see they are released."""

    def __init__(self):
        self._live: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, obj) -> None:
        with self._lock:
            self._live.add(obj)

    def discard(self, obj) -> None:
        with self._lock:
            self._live.discard(obj)

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)

    def items(self) -> list:
        with self._lock:
            return list(self._live)


def readable_drawings(pad: gr.Sketchpad) -> gr.Sketchpad:
    """``pad``, whose drawings that cannot be decoded get the lab's message instead of Gradio's; returns it.

    Gradio decodes a drawing before the handler runs, and when that fails it answers with its own error, which
    names the server's temporary file path ("Could not preprocess input component at index 4 … cannot identify
    image file '/tmp/gradio/…/notes.png'"). Here that becomes a gr.Error that says what is wrong and what to do.
    (The instance's preprocess is wrapped rather than the class subclassed: Gradio writes a .pyi stub beside the
    source file of every Component subclass at import, which fails on a read-only deployment.)"""
    decode = pad.preprocess

    def preprocess(payload):
        try:
            return decode(payload)
        except gr.Error:
            raise
        except Image.DecompressionBombError:
            raise gr.Error("The drawing is far too large to open (over 89 million pixels): draw on the pad, or "
                           "send a picture a few thousand pixels a side at most.") from None
        except Exception as exc:  # not an image, truncated, an unknown format
            reason = "not an image" if isinstance(exc, UnidentifiedImageError) else "truncated or corrupt"
            raise gr.Error(f"The drawing could not be read as a picture ({reason}): draw on the pad, or send a "
                           f"PNG or JPEG image.") from None
    pad.preprocess = preprocess
    return pad
