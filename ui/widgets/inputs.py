"""Input checks with clear messages, never a crash: a bad number or choice becomes a ``gr.Error`` that names the
input and what it accepts; a core ValueError is shown as it is; an unreadable drawing gets the lab's message."""
from __future__ import annotations

import functools
import io
import logging
import math
import threading
import time
from typing import Iterable

import gradio as gr
import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["number", "choice", "user_error", "refusal", "readable_drawings"]

log = logging.getLogger("diffusion_lab")


def refusal(message: str) -> gr.Error:
    """An expected refusal (bad input, a limit): the gr.Error the visitor sees, logged as one line -- Gradio prints
    a full traceback for every gr.Error unless told not to."""
    log.info("refused: %s", message if len(message) <= 240 else message[:237] + "...")
    return gr.Error(message, print_exception=False)


def number(name: str, value, lo: float, hi: float, integer: bool = False):
    """``value`` as a number within [lo, hi], or a gr.Error saying which input is wrong and what it accepts."""
    if isinstance(value, bool) or value is None:
        raise refusal(f"{name} must be a number in [{lo:g}, {hi:g}]; got {value!r}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise refusal(f"{name} must be a number in [{lo:g}, {hi:g}]; got {value!r}.") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise refusal(f"{name} must be in [{lo:g}, {hi:g}]; got {value!r}.")
    if integer:
        if v != int(v):
            raise refusal(f"{name} must be a whole number in [{lo:g}, {hi:g}]; got {value!r}.")
        return int(v)
    return v


def choice(name: str, value, options: Iterable[str]) -> str:
    options = list(options)
    if value not in options:
        raise refusal(f"unknown {name} {value!r}; choose one of {options}.")
    return value


def user_error(exc: Exception) -> gr.Error:
    """A core ValueError, shown in the UI as it is (the core's messages name the bad value and the choices)."""
    if isinstance(exc, gr.Error):
        return exc
    message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    return refusal(message)


def readable_drawings(pad: gr.Sketchpad) -> gr.Sketchpad:
    """``pad``, whose drawings that cannot be decoded get the lab's message instead of Gradio's; returns it.

    Gradio decodes a drawing before the handler runs, and when that fails it answers with its own error, which
    names the server's temporary file path ("Could not preprocess input component at index 4 … cannot identify
    image file '/tmp/gradio/…/notes.png'"). Here that becomes a gr.Error that says what is wrong and what to do.
    (The instance's preprocess is wrapped rather than the class subclassed: Gradio writes a .pyi stub beside the
    source file of every Component subclass at import, which fails on a read-only deployment.)"""
    decode = pad.preprocess

    def preprocess(payload):
        _check_drawing_size(payload, pad.blob_storage)      # header reads only: before Gradio decodes anything
        try:
            return decode(payload)
        except gr.Error:
            raise
        except Image.DecompressionBombError:
            raise refusal("The drawing is far too large to open (over 89 million pixels): draw on the pad, or "
                           "send a picture a few thousand pixels a side at most.") from None
        except Exception as exc:  # not an image, truncated, an unknown format
            reason = "not an image" if isinstance(exc, UnidentifiedImageError) else "truncated or corrupt"
            raise refusal(f"The drawing could not be read as a picture ({reason}): draw on the pad, or send a "
                           f"PNG or JPEG image.") from None
    pad.preprocess = preprocess
    return bounded_blobs(pad)


MAX_DRAWING_SIDE = 1024  # a larger drawing (an uploaded 8000 px image) is shrunk first: the sketch pads are 320 px


def _shrunk(a):
    if isinstance(a, np.ndarray) and max(a.shape[:2]) > MAX_DRAWING_SIDE:
        # the point samplers draw one category per pixel (at most 2^24); a 2-D cloud needs no more than ~1 Mpx
        im = Image.fromarray(a)
        im.thumbnail((MAX_DRAWING_SIDE, MAX_DRAWING_SIDE), Image.Resampling.BOX)
        return np.asarray(im)
    return a


def drawing_parts(drawing, empty: str):
    """(composite, layers) of a gr.Sketchpad value (numpy), each at most MAX_DRAWING_SIDE a side; ``refusal(empty)``
    when nothing was sent."""
    layers = []
    if isinstance(drawing, dict):
        layers = [_shrunk(a) for a in (drawing.get("layers") or []) if a is not None]
        drawing = drawing.get("composite")
    if drawing is None:
        raise refusal(empty)
    return _shrunk(drawing), layers


def pick_brush_js(source_value: str, elem_id: str) -> str:
    """JS for a source control's change: once the sketch pad ``elem_id`` is shown, select its brush for the visitor
    (Gradio's pad opens with no tool selected: "select the draw tool to start")."""
    return f"""(src) => {{
        if (src !== '{source_value}') return src;
        let tries = 0;
        const pick = () => {{   // the pad appears once the server has made it visible: wait for its brush button
            const brush = document.querySelector('#{elem_id} button[aria-label="Brush"]');
            if (brush && brush.offsetParent !== null) brush.click();
            else if (++tries < 50) setTimeout(pick, 200);
        }};
        pick();
        return src;
    }}"""


MAX_DRAWING_PIXELS = 16_000_000   # per part (background, each layer, composite), read from the header


def _check_drawing_size(payload, blobs) -> None:
    """Refuse a drawing whose parts are too many or too large, reading only their headers (a 13,000^2 drawing is a
    731 KB file and 2.2 GB decoded; 8 copies of one 4,000^2 upload as layers +743 MB)."""
    if payload is None:
        return
    parts = []
    stored = blobs.get(getattr(payload, "id", None)) if getattr(payload, "id", None) else None
    if stored is not None:
        parts = [stored.background, stored.composite, *stored.layers]
        layers = len(stored.layers)
    else:
        files = [payload.background, payload.composite, *(payload.layers or [])]
        parts = [f.path for f in files if f is not None and getattr(f, "path", None)]
        layers = len(payload.layers or [])
    if layers > MAX_LAYERS:
        raise refusal(f"A drawing has at most {MAX_LAYERS} layers; this one has {layers}.")
    for part in parts:
        if part is None:
            continue
        try:
            with Image.open(io.BytesIO(part) if isinstance(part, (bytes, bytearray)) else part) as im:
                w, h = im.size
        except Exception:   # a bomb or unreadable: readable_drawings' messages follow, before any pixel is decoded
            continue
        if w * h > MAX_DRAWING_PIXELS:
            log.info("refused a drawing of %d x %d pixels", w, h)
            raise refusal(f"The drawing is {w} x {h} pixels; the lab accepts up to {MAX_DRAWING_PIXELS / 1e6:.0f} "
                           f"Mpx a part: draw on the pad, or send a picture a few thousand pixels a side at most.")


# The sketch pad sends its layers, background and composite as "blobs" before the event that reads them
# (/gradio_api/component_server, accept_blobs), and Gradio keeps them in a dict on the component -- shared by every
# session -- until that event consumes them: a client could name layer index 10,000,000 (a list of that length is
# allocated) or send blobs that no event ever reads (kept until the process ends). The guard below bounds all three.
MAX_LAYERS = 8                  # layer indices 0..7 (the lab's pad uses one)
MAX_BLOB_BYTES = 10_000_000     # per blob, as the upload limit (app.MAX_FILE_SIZE)
MAX_PENDING_DRAWINGS = 64       # drawings sent but not yet read, over all sessions; the oldest go first
BLOB_TTL_S = 300.0              # a drawing not read within this is dropped


def _bad_request(message: str):
    """An HTTP 400 with the lab's sentence: the component-server route has no error handling of its own, so any
    other exception would be a 500 "Internal Server Error" with a traceback in the log."""
    from fastapi import HTTPException
    return HTTPException(status_code=400, detail=message)


def bounded_blobs(pad):
    """``pad`` with its blob store bounded: layer index, blob size, number of pending drawings, their age."""
    accept, store, born, lock = pad.accept_blobs, pad.blob_storage, {}, threading.Lock()

    @functools.wraps(accept)          # the same signature: Gradio parses the request by its annotation
    def accept_blobs(data):
        kind, index = data.data.get("type"), data.data.get("index")
        if kind == "layer" and index not in (None, "", "null"):
            try:
                layer = int(index)
            except (TypeError, ValueError):
                layer = -1
            if not 0 <= layer < MAX_LAYERS:
                log.info("refused a drawing layer index %r", str(index)[:20])
                raise _bad_request(f"A drawing has at most {MAX_LAYERS} layers (index 0 to {MAX_LAYERS - 1}).")
        if sum(len(content) for _, content in data.files) > MAX_BLOB_BYTES:
            log.info("refused a drawing part over %d bytes", MAX_BLOB_BYTES)
            raise _bad_request(f"A drawing part is over {MAX_BLOB_BYTES // 1_000_000} MB: draw on the pad, or send "
                               f"a smaller picture.")
        with lock:
            now = time.monotonic()
            for key in [k for k, t in born.items() if now - t > BLOB_TTL_S or k not in store]:
                born.pop(key, None)
                store.pop(key, None)
            while len(store) >= MAX_PENDING_DRAWINGS and data.data.get("id") not in store:
                oldest = min(store, key=lambda k: born.get(k, 0.0))
                store.pop(oldest, None)
                born.pop(oldest, None)
            born.setdefault(data.data.get("id"), now)
            return accept(data)
    accept_blobs._is_server_fn = True       # what Gradio's component_server route requires of a server function
    pad.accept_blobs = accept_blobs
    return pad
