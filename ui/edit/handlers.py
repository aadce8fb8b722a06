"""The Edit lab's handlers: 2-D edits beside the exact posterior (``/edit_toy``) and digit edits with the bundled
model (``/edit_image``, ``/edit_stop``). The maths is in :mod:`diffusion.labs.edit_toy` and
:mod:`diffusion.labs.edit_image`; frames are drawn by :mod:`.views`; per-session state lives in :mod:`.session`."""
from __future__ import annotations

import gradio as gr
import numpy as np
import torch

from diffusion import hub
from diffusion.images import fit_image, uint8_to_tensor
from diffusion.labs.edit_image import MASKS, METHODS_FOR as IMAGE_METHODS, SR_FACTORS, TASKS, image_edit
from diffusion.labs.edit_toy import METHODS_FOR as TOY_METHODS, OBSERVATIONS, observe, toy_edits
from diffusion.labs.image_runs import RunTooLong
from diffusion.toy.data import ink_mask

from ..serving.priority import in_background
from ..widgets.inputs import choice, number, refusal, user_error
from ..widgets.pictures import picture
from ..widgets.scrubber import scrubber_html, slider_update
from .session import DEFAULT_IMAGE, DEFAULT_TOY, ImageResult, ToyResult, new_session
from .text import image_summary, toy_table
from ..widgets.pictures import example_digits

TOY_SCRUB, TOY_SLIDER = "edit-toy-scrub", "edit-toy-t"
IMG_SCRUB, IMG_SLIDER = "edit-img-scrub", "edit-img-t"
MAX_POINTS = 3000
MAX_STEPS = 200
DRAWN = "drawn (paint over the part to fill in)"
MASK_CHOICES = list(MASKS) + [DRAWN]


def _session(session):
    return new_session() if session is None else session


def toy_view(result: ToyResult) -> tuple[str, dict, str]:
    views = list(result.frames.items())
    return (scrubber_html(TOY_SCRUB, views, result.labels), slider_update(len(result.labels)), toy_table(result.edits))


def image_view(result: ImageResult) -> tuple[str, dict, str]:
    run = result.run
    html = scrubber_html(IMG_SCRUB, [("digits", result.frames)], run.labels, wide=True)
    return html, slider_update(run.num_frames), image_summary(run)


def edit_toy(session, kind=DEFAULT_TOY["kind"], c=DEFAULT_TOY["c"], angle=30.0, value=0.8, sigma_y=0.2, px=0.6,
             py=1.1, s=0.5, n=DEFAULT_TOY["n"], steps=DEFAULT_TOY["steps"], seed=DEFAULT_TOY["seed"],
             dps_step=0.3, resample=5, jump=5):
    """/edit_toy: observe a point of the eight Gaussians (a known x-coordinate, a noisy linear measurement or a
    noisy copy) and run every method of that observation beside the exact posterior."""
    session = _session(session)
    kind = choice("observation", kind, list(OBSERVATIONS))
    n = number("points", n, 100, MAX_POINTS, integer=True)
    steps = number("steps", steps, 2, MAX_STEPS, integer=True)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    options = {"dps": {"step_size": number("DPS step size", dps_step, 0.0, 5.0)},
               "repaint": {"resample": number("RePaint resample", resample, 1, 10, integer=True),
                           "jump_length": min(number("RePaint jump length", jump, 1, MAX_STEPS, integer=True), steps)}}
    try:
        obs = observe(kind, c=number("c", c, -3, 3), angle=number("angle", angle, -180, 180),
                      value=number("measured value", value, -3, 3), sigma_y=number("σ_y", sigma_y, 0, 2),
                      point=(number("x", px, -3, 3), number("y", py, -3, 3)), s=number("noise std s", s, 0.01, 2))
        edits = in_background(toy_edits, obs, n=n, seed=seed, num_steps=steps, options=options)
    except ValueError as exc:
        raise user_error(exc) from None
    session.toy = in_background(ToyResult, edits, dict(kind=kind, n=n, steps=steps, seed=seed))
    return (session, *toy_view(session.toy))


def _drawn_mask(drawing) -> np.ndarray:
    """The known region [20, 20] from a sketch: painted cells (a fifth or more inked) are unknown."""
    if isinstance(drawing, dict):
        drawing = drawing.get("composite")
    if drawing is None:
        raise refusal("The mask is empty: paint over the part of the digits to fill in, or pick a named mask.")
    ink = ink_mask(drawing)
    h, w = ink.shape
    cells = ink[: h - h % 20, : w - w % 20].reshape(20, (h - h % 20) // 20, 20, (w - w % 20) // 20).mean((1, 3))
    unknown = cells >= 0.2
    if not unknown.any():
        raise refusal("The mask is empty: paint over the part of the digits to fill in, or pick a named mask.")
    if unknown.all():
        raise refusal("The mask covers every pixel: leave some of the digit known.")
    return ~unknown


def _noisy_upload(upload, invert: bool, size) -> torch.Tensor:
    """A visitor's own noisy picture as one grey [1, 1, H, W] image in [-1, 1] (the Image lab's upload checks)."""
    im, _ = picture(None, upload)
    a = np.asarray(fit_image(im, size, 1), dtype=np.uint8)
    return uint8_to_tensor(255 - a if invert else a)


def edit_image(session, task=DEFAULT_IMAGE["task"], method=DEFAULT_IMAGE["method"], mask=DEFAULT_IMAGE["mask"],
               drawing=None, factor=2, noise_std=0.5, steps=DEFAULT_IMAGE["steps"], seed=DEFAULT_IMAGE["seed"],
               dps_step=2.0, resample=5, upload=None, invert=False, progress=gr.Progress()):
    """/edit_image: inpaint, super-resolve or denoise the six example digits with the bundled model; denoising
    takes a visitor's own noisy picture instead (``upload``, with the noise std it assumes)."""
    session = _session(session)
    task = choice("task", task, list(TASKS))
    method = choice(f"method for {task}", method, list(IMAGE_METHODS[task]))
    kwargs = dict(num_steps=number("steps", steps, 2, MAX_STEPS, integer=True),
                  seed=number("seed", seed, 0, 2**31 - 1, integer=True),
                  step_size=number("DPS step size", dps_step, 0.0, 10.0),
                  resample=number("RePaint resample", resample, 1, 10, integer=True))
    if task == "inpaint":
        mask = choice("mask", mask, MASK_CHOICES)
        kwargs["mask"] = _drawn_mask(drawing) if mask == DRAWN else mask
    elif task == "superres":
        kwargs["factor"] = number("factor", factor, min(SR_FACTORS), max(SR_FACTORS), integer=True)
    else:
        kwargs["noise_std"] = number("noise std", noise_std, 0.05, 2.0)
    model = hub.load_model(hub.BUNDLED_ID)
    digits = example_digits(model.sample_size)
    if upload and task == "denoise":
        digits = kwargs["observed"] = _noisy_upload(upload, bool(invert), model.sample_size)
    session.stop.clear()

    def on_step(done, total):
        progress((done, total), desc=f"{method}: step {done}/{total}")
    try:
        run = in_background(image_edit, model, digits, task, method, on_step=on_step,
                            should_stop=session.stop.is_set, **kwargs)
    except RunTooLong as exc:
        raise refusal(str(exc)) from None
    except ValueError as exc:
        raise user_error(exc) from None
    session.image = in_background(ImageResult, run)
    return (session, *image_view(session.image))


def stop(session):
    """/edit_stop: stop the session's digit edit (the last prediction becomes the result)."""
    if session is not None:
        session.stop.set()
    return session


def methods_for(task):
    return gr.update(choices=list(IMAGE_METHODS.get(task, ())), value=IMAGE_METHODS.get(task, ("",))[0])


def on_load(session=None):
    session = _session(session)
    return (session, *toy_view(session.toy), *image_view(session.image))


__all__ = ["edit_toy", "edit_image", "stop", "on_load", "methods_for", "TOY_METHODS", "MASK_CHOICES", "DRAWN"]
