"""Exports: the Export row every tab shows (a view picker, GIF speed, GIF and PNG buttons and their outputs), and
the files a visitor downloads (a run's animated GIF, a figure's PNG), written straight into Gradio's cache."""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Iterable

import gradio as gr
from PIL import Image

__all__ = ["gif_file", "cached_file", "ExportRow", "export_row"]


@dataclass
class ExportRow:
    """The components of one tab's Export row, for the tab to wire to its handlers."""

    view: gr.Radio
    fps: gr.Slider
    gif_btn: gr.Button
    frame_btn: gr.Button
    gif_out: gr.File
    frame_out: gr.Image


def export_row(views: list[str], label: str = "View", frame_height: int | None = None) -> ExportRow:
    """Create the Export row's components in the current layout: which view (first one chosen), GIF frames per
    second, "Make GIF" and "This frame as PNG", and where each result appears."""
    with gr.Row():
        view = gr.Radio(views, value=views[0], label=label)
        fps = gr.Slider(2, 30, 12, step=1, label="GIF frames per second")
    with gr.Row():
        gif_btn = gr.Button("Make GIF")
        frame_btn = gr.Button("This frame as PNG")
    with gr.Row():
        gif_out = gr.File(label="GIF", interactive=False)
        frame_out = gr.Image(label="Frame", type="pil", interactive=False, format="png", height=frame_height)
    return ExportRow(view, fps, gif_btn, frame_btn, gif_out, frame_out)


def cached_file(data: bytes, name: str) -> str:
    """``data`` as a file in Gradio's cache (``<sha256>/name``), where an output component's files go anyway: a
    handler that returns this path is served from there with no further copy, the same bytes asked for twice are
    one file, and the demo's ``delete_cache`` removes it on schedule. Nothing is left in TMPDIR. Written
    atomically (ui.serving.gradio_cache)."""
    from gradio import processing_utils, utils
    return processing_utils.save_bytes_to_cache(data, name, utils.get_upload_folder())


def gif_file(frames: Iterable[Image.Image], fps: float = 12.0, hold_last_s: float = 1.0, prefix: str = "run") -> str:
    """Frames as an animated GIF in Gradio's cache (:func:`cached_file`); returns its path."""
    frames = [f.convert("RGB") for f in frames]
    if not frames:
        raise ValueError("no frames to write")
    ms = max(20, round(1000 / fps))
    durations = [ms] * len(frames)
    durations[-1] = max(ms, round(1000 * hold_last_s))
    palette = [f.quantize(128, method=Image.Quantize.FASTOCTREE) for f in frames]
    buf = io.BytesIO()
    palette[0].save(buf, "GIF", save_all=True, append_images=palette[1:], duration=durations, loop=0,
                    optimize=False, disposal=1)
    return cached_file(buf.getvalue(), f"{prefix}.gif")
