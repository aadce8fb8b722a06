"""Exports: the Export row every tab shows (a view picker, GIF speed, GIF and PNG buttons and their outputs), and
the animated GIF file of a run's frames."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Iterable

import gradio as gr
from PIL import Image

__all__ = ["gif_file", "ExportRow", "export_row"]


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
