"""The Image lab's handlers, each a named API endpoint whose parameters all have defaults: /image_load_model,
/image_forward, /image_sample, /image_frame, /image_select, /image_restore, /image_gif, /image_estimate,
/image_stop. The work is in :mod:`diffusion.hub` (loading), :mod:`diffusion.images` (conversion) and
:mod:`diffusion.labs.image_runs` (runs); drawing in :mod:`.render`; the visitor's state in :mod:`.session`."""
from __future__ import annotations

import threading
import weakref

import gradio as gr

from diffusion import hub
from diffusion.labs.image_runs import (MAX_BATCH, MAX_RUN_SECONDS, SDEDIT_SAMPLERS, RunTooLong, check_run,
                                       forward_frames, generate, sdedit)
from diffusion.samplers import SAMPLERS

from ..gpu import gpu, on_zero_gpu, to_device
from ..serving.priority import in_background
from ..widgets.export import gif_file
from ..widgets.inputs import choice, number, refusal
from ..widgets.scrubber import placeholder_html, slider_update
from . import render
from ..widgets.pictures import picture
from .session import FORWARD_BYTES, RESTORE_BYTES, REVERSE_BYTES, ImageSession, _existing, _model, _session, _x0

FWD_ID, REV_ID, RES_ID = "img-fwd-scrub", "img-rev-scrub", "img-res-scrub"
FWD_SLIDER, REV_SLIDER, RES_SLIDER = "img-fwd-t", "img-rev-t", "img-res-t"
DEFAULT_SETTINGS = dict(sampler="ddim", steps=50, seed=0, batch=8, eta=0.0, t_start=400, restore_steps=50)


# --- helpers for outputs ---------------------------------------------------------------------------------------
def _model_md(model: hub.ImageModel | None, note: str = "") -> str:
    if model is None:
        return f"**No model loaded.** {note}"
    a, b = model.call_cost_s
    cost = f"one network call ≈ {1000 * (a + b):.0f} ms for 1 image, {1000 * (a + 16 * b):.0f} ms for 16"
    text = f"**Model:** {model.describe()}. Measured here: {cost}."
    return text + (f"\n\n{note}" if note else "")




def _progress_cb(progress, desc: str):
    state = {"last": -1.0}

    def on_step(done: int, total: int):
        frac = done / max(total, 1)
        if frac - state["last"] >= 0.01 or done == total:  # about 100 updates per run at most
            state["last"] = frac
            progress(frac, desc=f"{desc}: step {done}/{total}")
    return on_step


def _run_status(run, estimate: float) -> str:
    s = run.settings
    what = (f"{s['sampler']}, {s['num_steps']} steps" + (f", η = {s['eta']:g}" if s["sampler"] == "ddim" else "")
            + f", seed {s['seed']}")
    if s["view"] == "sample":
        what += f", {s['batch']} image(s)"
    else:
        what += f", from t₀ = {s['t_start']}"
    text = (f"{what}: {run.seconds:.1f} s (estimated {estimate:.1f} s), {run.nfe} network calls; "
            f"showing {run.num_frames} frames.")
    return text + (f" **{run.note}**" if run.note else "")


# --- handlers (each is a named API endpoint) ------------------------------------------------------------------
def load_model(session, model_name: str = hub.BUNDLED_ID, progress=gr.Progress()):
    """/image_load_model: switch this session to the bundled model or a Hub id. On failure the message names the id
    and the reason, and the session keeps the model it had."""
    session = _session(session)
    progress(0.1, desc=f"loading {model_name}")
    try:
        model = hub.load_model(model_name)
        if model.latent:
            raise hub.HubError(f"{model.id} is a latent diffusion model (it samples an autoencoder's latents): the "
                               f"\"Pixel vs latent\" tab runs it, beside the pixel model")
    except hub.HubError as exc:
        current = None
        try:
            current = hub.load_model(session.model_id)
            note = f"⚠ {exc} — staying on {current.id}."
        except hub.HubError:
            note = f"⚠ {exc}."
        gr.Warning(note.lstrip("⚠ "))
        return (session, _model_md(current, note), session.model_id, gr.update(), gr.update(), gr.update())
    if model.id != session.model_id:
        session.model_id = model.id
        session.run = session.restore = session.forward = None
    T = model.schedule.num_timesteps
    return (session, _model_md(model), model.id,
            gr.update(maximum=T), gr.update(maximum=T - 1, value=min(int(0.4 * T), T - 1)), gr.update(maximum=T))


def forward(session, example: str | None = None, upload: str | None = None, seed: int = 0, invert: bool = False):
    """/image_forward: convert the picture (upload, else the example) to the model's size and channels, and show
    x_t at 100 levels t with one fixed noise draw, with ᾱ_t and SNR, and the model's x̂₀."""
    session = _session(session)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    model = _model(session)
    session.picture, session.picture_name = picture(example, upload)
    session.invert = bool(invert)
    if upload:
        fwd, shown, html = _forward_view(session, model, seed)
    else:  # an example: the same for every visitor (a class opening the page), computed once and shared read-only
        key = (id(model), session.picture_name, seed, session.invert)
        with _FORWARD_LOCK:
            hit = _FORWARD_CACHE.get(key)
            if hit is None or hit[0]() is not model:     # (a model reloaded under the same id is another model)
                hit = _FORWARD_CACHE[key] = (weakref.ref(model), *_forward_view(session, model, seed))
                while len(_FORWARD_CACHE) > FORWARD_CACHE_SIZE:
                    _FORWARD_CACHE.pop(next(iter(_FORWARD_CACHE)))
            _, fwd, shown, html = hit
    session.forward = fwd
    c, h, w = model.shape
    info = (f"{session.picture_name} as {model.id} sees it: {w}×{h} {'grey' if c == 1 else 'RGB'}"
            + (", inverted" if invert else "") + ".")
    return (session, render.to_pil(shown), html, slider_update(len(fwd["t"]), 0), info)


FORWARD_CACHE_SIZE = 16      # forward views of the examples, shared by every visitor (each ~1-3 MB)
_FORWARD_CACHE: dict = {}
_FORWARD_LOCK = threading.Lock()


def _forward_view(session: ImageSession, model: hub.ImageModel, seed: int):
    """(the forward frames, the picture as the model sees it, the scrubber HTML) of the session's picture."""
    x0, shown = _x0(session, model)
    frames = int(min(100, max(10, FORWARD_BYTES // (2 * x0.numel()))))   # x_t and x̂₀ per frame, uint8
    fwd = forward_frames(model, x0, seed=seed, num_frames=frames)
    return fwd, shown, render.forward_scrubber(FWD_ID, fwd, 0)


# --- ZeroGPU: on a ZeroGPU Space the runs go to a GPU worker process; everywhere else this is not used --
@gpu(duration=MAX_RUN_SECONDS)
def _run_on_gpu(kind: str, model_id: str, args: tuple, kwargs: dict):
    """``generate`` (kind "sample") or ``sdedit`` (kind "restore") on the GPU. Arguments and result are pickled
    to and from ZeroGPU's worker, so they are plain values; no progress callback or Stop reaches the worker."""
    model = hub.load_model(model_id)
    to_device(model.unet)
    return (generate if kind == "sample" else sdedit)(model, *args, **kwargs)


def _checked_estimate(model: hub.ImageModel, sampler: str, steps: int, batch: int) -> float:
    """The run's estimated seconds, or a gr.Error saying it is over MAX_RUN_SECONDS and what to shorten."""
    try:
        return check_run(model, sampler, steps, batch)
    except RunTooLong as exc:
        raise refusal(str(exc)) from None


def _execute(kind: str, session: ImageSession, model: hub.ImageModel, args: tuple, max_bytes: int, progress,
             desc: str):
    """``generate`` (kind "sample") or ``sdedit`` (kind "restore"): on a ZeroGPU worker where there is one, else in a
    background thread at lower priority, with progress and the session's Stop. A core ValueError becomes gr.Error."""
    try:
        if on_zero_gpu():
            return _run_on_gpu(kind, model.id, args, dict(max_bytes=max_bytes))
        return in_background(generate if kind == "sample" else sdedit, model, *args,
                             on_step=_progress_cb(progress, desc), should_stop=session.stop.is_set,
                             max_bytes=max_bytes)
    except ValueError as exc:
        raise refusal(str(exc)) from None


def sample_images(session, sampler: str = DEFAULT_SETTINGS["sampler"], steps: int = DEFAULT_SETTINGS["steps"],
                  seed: int = DEFAULT_SETTINGS["seed"], batch: int = DEFAULT_SETTINGS["batch"], eta: float = DEFAULT_SETTINGS["eta"],
                  progress=gr.Progress()):
    """/image_sample: sample a batch (1-16) from pure noise with any core sampler; record x_t, x̂₀ and ε̂ per step."""
    session = _session(session)
    model = _model(session)
    sampler = choice("sampler", sampler, list(SAMPLERS))
    steps = number("steps", steps, 1, model.schedule.num_timesteps, integer=True)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    batch = number("batch size", batch, 1, MAX_BATCH, integer=True)
    eta = number("η", eta, 0.0, 1.0)
    estimate = _checked_estimate(model, sampler, steps, batch)
    session.stop.clear()
    session.run = None  # the old run's memory is released before the new one is recorded
    args = (sampler, steps, seed, batch, eta if sampler == "ddim" else 0.0)
    run = _execute("sample", session, model, args, REVERSE_BYTES, progress, f"{sampler} on {batch} image(s)")
    session.run = run
    return (session, render.batch_gallery(run.final), render.run_scrubber(REV_ID, run, 0, index=run.num_frames - 1),
            slider_update(run.num_frames, run.num_frames - 1), gr.update(maximum=max(run.batch, 2), value=1),
            _run_status(run, estimate))


def select_image(session, image: int = 1, frame: int | None = None):
    """/image_select: the reverse scrubber for image number ``image`` (1 = first) of the last batch."""
    if not isinstance(session, ImageSession) or session.run is None:
        return placeholder_html("Sample a batch first.")
    image = number("image", image, 1, session.run.batch, integer=True) - 1
    index = (session.run.num_frames - 1 if frame is None
             else number("frame", frame, 0, session.run.num_frames - 1, integer=True))   # as /image_frame: 2.5 refused
    return render.run_scrubber(REV_ID, session.run, image, index=index)


def frame_png(session, view: str = "reverse", image: int = 1, frame: int = 0):
    """/image_frame: one frame as a picture (x_t | x̂₀ | ε̂ for a run, x_t | x̂₀ for the forward view) and its label.

    ``frame`` counts as the slider does: 0 is the clean end (t = 0 / the final sample)."""
    session = _existing(session)
    view = choice("view", view, ["reverse", "restore", "forward"])
    if view == "forward":
        fwd = session.forward
        if fwd is None:
            raise refusal("Show the forward process first.")
        frame = number("frame", frame, 0, len(fwd["t"]) - 1, integer=True)
        return render.forward_frame(fwd, frame), render.forward_label(fwd, frame)
    run = session.run if view == "reverse" else session.restore
    if run is None:
        raise refusal(f"Nothing to show yet: run the {'sampler' if view == 'reverse' else 'restore'} first.")
    image = number("image", image, 1, run.batch, integer=True) - 1
    frame = number("frame", frame, 0, run.num_frames - 1, integer=True)
    return render.run_frame(run, image, frame), run.labels[frame]


def restore(session, example: str | None = None, upload: str | None = None, invert: bool = False,
            t_start: int = DEFAULT_SETTINGS["t_start"], sampler: str = DEFAULT_SETTINGS["sampler"],
            steps: int = DEFAULT_SETTINGS["restore_steps"], seed: int = DEFAULT_SETTINGS["seed"], eta: float = DEFAULT_SETTINGS["eta"],
            progress=gr.Progress()):
    """/image_restore: SDEdit. Noise the picture to t_start, then denoise it back with the model."""
    session = _session(session)
    model = _model(session)
    T = model.schedule.num_timesteps
    t_start = number("noise level t₀", t_start, 0, T - 1, integer=True)
    sampler = choice("sampler", sampler, list(SDEDIT_SAMPLERS))
    steps = min(number("steps", steps, 1, T, integer=True), t_start + 1)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    eta = number("η", eta, 0.0, 1.0)
    session.picture, session.picture_name = picture(example, upload)
    session.invert = bool(invert)
    x0, _ = _x0(session, model)
    estimate = _checked_estimate(model, sampler, steps, 1)
    session.stop.clear()
    session.restore = None
    args = (x0, t_start, seed, sampler, steps, eta if sampler == "ddim" else 0.0)
    run = _execute("restore", session, model, args, RESTORE_BYTES, progress, "restoring")
    session.restore = run
    trio = render.strip([run.extra["original"], run.extra["noised"], run.final[0]],
                   ["original x₀", f"noised to t₀ = {t_start}", "restored"])
    return (session, trio, render.run_scrubber(RES_ID, run, 0, index=run.num_frames - 1),
            slider_update(run.num_frames, run.num_frames - 1), _run_status(run, estimate))


def make_gif(session, view: str = "reverse", image: int = 1, fps: float = 12):
    """/image_gif: the run (noise -> image) or the forward process as an animated GIF file."""
    session = _existing(session)
    view = choice("view", view, ["reverse", "restore", "forward"])
    fps = number("frames per second", fps, 1, 30)
    if view == "forward":
        if session.forward is None:
            raise refusal("Show the forward process first.")
        return gif_file(render.forward_gif_frames(session.forward), fps=fps, prefix="image-forward")
    run = session.run if view == "reverse" else session.restore
    if run is None:
        raise refusal(f"Nothing to export yet: run the {'sampler' if view == 'reverse' else 'restore'} first.")
    image = number("image", image, 1, run.batch, integer=True) - 1
    return gif_file(render.run_gif_frames(run, image), fps=fps, prefix=f"image-{view}")


def estimate(session, sampler: str = DEFAULT_SETTINGS["sampler"], steps: int = DEFAULT_SETTINGS["steps"],
             batch: int = DEFAULT_SETTINGS["batch"]) -> str:
    """/image_estimate: the predicted time of a run with these settings, or why it would be refused."""
    model = hub.peek(session.model_id if isinstance(session, ImageSession) else hub.BUNDLED_ID)
    if model is None:
        return ""
    try:
        sampler = choice("sampler", sampler, list(SAMPLERS))
        steps = number("steps", steps, 1, model.schedule.num_timesteps, integer=True)
        batch = number("batch size", batch, 1, MAX_BATCH, integer=True)
        seconds = check_run(model, sampler, steps, batch)
    except (gr.Error, RunTooLong) as exc:
        return f"⚠ {exc}"
    return f"Estimated time: about {max(seconds, 0.1):.1f} s (the lab refuses runs over {MAX_RUN_SECONDS:.0f} s)."


def stop(session):
    """/image_stop: stop this session's running sample or restore after its current step."""
    if isinstance(session, ImageSession):
        session.stop.set()
    return session


def on_load(session=None):
    """Page load: a fresh session on the bundled model (or a clear note when it is missing), forward view shown."""
    session = _session(session)
    try:
        model = hub.load_model(session.model_id)
    except hub.HubError as exc:
        note = f"⚠ {exc}"
        return (session, _model_md(None, note), None, placeholder_html("Load a model to begin."), slider_update(2, 0),
                "")
    out = forward(session, None, None, 0, False)
    return (out[0], _model_md(model), out[1], out[2], out[3], out[4])
