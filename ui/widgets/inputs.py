"""Input checks with clear messages, never a crash: a bad number or choice becomes a ``gr.Error`` that names the
input and what it accepts; a core ValueError is shown as it is; an unreadable drawing gets the lab's message."""
from __future__ import annotations

import math
from typing import Iterable

import gradio as gr
from PIL import Image, UnidentifiedImageError

__all__ = ["number", "choice", "user_error", "readable_drawings"]


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
