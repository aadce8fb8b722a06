"""Image lab tab (issue 4): a real pretrained image DDPM, forward noising, reverse sampling, noise-and-restore.

``build_image_tab()`` creates the components inside the current gr.Blocks / gr.Tab and wires the events. The
work is in :mod:`diffusion.hub` (loading), :mod:`diffusion.images` (conversion) and
:mod:`diffusion.image_sampling` (runs); drawing in :mod:`ui.image_render`. Each visitor has an
:class:`ImageSession` in a ``gr.State``: the model's *name* (models are shared read-only through the hub's cache),
their picture and their recorded runs as uint8 frames, bounded to ``MAX_SESSION_BYTES``.

Named endpoints (every parameter has a default): /image_load_model, /image_forward, /image_sample, /image_frame,
/image_select, /image_restore, /image_gif, /image_estimate, /image_stop.
"""
from __future__ import annotations

import threading
import time
import weakref
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from diffusion import hub
from diffusion.image_sampling import (MAX_BATCH, MAX_RUN_SECONDS, SDEDIT_SAMPLERS, RunTooLong, check_run,
                                      forward_frames, generate, sdedit)
from diffusion.images import ImageError, fit_image, load_image, uint8_to_tensor
from diffusion.samplers import SAMPLERS

from . import image_render as R
from .image_text import FORWARD_MD, INTRO_MD, RESTORE_MD, REVERSE_MD
from .gpu import gpu, on_zero_gpu, to_device
from .priority import in_background
from .common import (MAX_SESSION_BYTES, SESSION_TTL_S, SessionRegistry, choice, gif_file, number, placeholder_html,
                     play_js, scrub_js)

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
BUILTIN_EXAMPLE = "pattern (built in)"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
PICTURE_SIDE = 256      # a session keeps its picture at most this size, to re-fit it when the model changes
FWD_ID, REV_ID, RES_ID = "img-fwd-scrub", "img-rev-scrub", "img-res-scrub"
FWD_SLIDER, REV_SLIDER, RES_SLIDER = "img-fwd-t", "img-rev-t", "img-res-t"
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
DEFAULTS = dict(sampler="ddim", steps=50, seed=0, batch=8, eta=0.0, t_start=400, restore_steps=50)
# per-session bytes: the reverse run's frames, the restore run's and the forward view's share MAX_SESSION_BYTES
# (150 MB) with room for the runs' final images (a 16-image batch of 256 px RGB floats is 12.6 MB)
REVERSE_BYTES, RESTORE_BYTES, FORWARD_BYTES = 80 * 2**20, 32 * 2**20, 16 * 2**20
_FINALS_MAX = (MAX_BATCH + 1) * 3 * 256 * 256 * 5   # both runs' final images (float32 + uint8), 256 px RGB
assert REVERSE_BYTES + RESTORE_BYTES + FORWARD_BYTES + _FINALS_MAX <= MAX_SESSION_BYTES

SESSIONS = SessionRegistry()   # live image sessions (tests and issue 6's load test check they are released)


# --- session ---------------------------------------------------------------------------------------------------
class ImageSession:
    """One visitor's Image lab: the model's name, their picture, their recorded runs (uint8)."""

    def __init__(self):
        self.model_id = hub.BUNDLED_ID
        self.picture: Image.Image | None = None     # the chosen picture, L or RGB, at most PICTURE_SIDE px
        self.picture_name = ""
        self.invert = False
        self.forward: dict | None = None
        self.run = None
        self.restore = None
        self.stop = threading.Event()
        self.created = time.time()
        SESSIONS.add(self)

    def nbytes(self) -> int:
        total = sum(r.nbytes() for r in (self.run, self.restore) if r is not None)
        if self.forward is not None:
            total += sum(v.nbytes for v in self.forward.values() if isinstance(v, np.ndarray))
        if self.picture is not None:
            total += len(self.picture.tobytes())
        return total


def close_session(session) -> None:
    """delete_callback of the gr.State: drop the session's runs (the models stay in the shared cache)."""
    if isinstance(session, ImageSession):
        session.stop.set()
        session.run = session.restore = session.forward = session.picture = None
        SESSIONS.discard(session)


def _session(session) -> ImageSession:
    return session if isinstance(session, ImageSession) else ImageSession()


def _existing(session) -> ImageSession:
    """The session, or gr.Error when this visitor has none yet (nothing to show)."""
    if not isinstance(session, ImageSession):
        raise gr.Error("Nothing to show yet: show the forward process or run the sampler first.")
    return session


def _model(session: ImageSession) -> hub.ImageModel:
    try:
        return hub.load_model(session.model_id)
    except hub.HubError as exc:
        raise gr.Error(str(exc)) from None


# --- examples and pictures -------------------------------------------------------------------------------------
def example_names() -> list[str]:
    """The example images in assets/examples (names only), or the built-in pattern when there are none."""
    names = []
    if EXAMPLES_DIR.is_dir():
        names = sorted(p.name for p in EXAMPLES_DIR.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
    return names or [BUILTIN_EXAMPLE]


def _builtin_pattern() -> Image.Image:
    """A white ring and bar on black, MNIST-like, for when assets/examples is absent."""
    im = Image.new("L", (28, 28), 0)
    d = ImageDraw.Draw(im)
    d.ellipse((6, 4, 21, 16), outline=255, width=3)
    d.line((19, 12, 12, 25), fill=255, width=3)
    return im


def picture(example, upload) -> tuple[Image.Image, str]:
    """The picture to use: an upload (path) wins over the chosen example. Raises gr.Error on a bad upload."""
    try:
        if upload:
            path = upload if isinstance(upload, str) else getattr(upload, "name", None) or upload.get("path")
            im, name = load_image(path), "your upload"
        else:
            names = example_names()
            if example in (None, ""):
                example = names[0]
            if example not in names:  # only listed names: a path can never reach the file system from here
                raise gr.Error(f"unknown example {example!r}; choose one of {names}")
            im = _builtin_pattern() if example == BUILTIN_EXAMPLE else load_image(EXAMPLES_DIR / example)
            name = f"example {example}"
    except ImageError as exc:
        raise gr.Error(f"That upload cannot be used: {exc}.") from None
    im.thumbnail((PICTURE_SIDE, PICTURE_SIDE))
    return im, name


_picture = picture   # the old private name (the Compare tab imported it)


def _x0(session: ImageSession, model: hub.ImageModel):
    """The session's picture as the model's input: [1, C, H, W] in [-1, 1], and as uint8 for display."""
    im = fit_image(session.picture, model.sample_size, model.in_channels)
    a = np.asarray(im, dtype=np.uint8)
    if session.invert:
        a = 255 - a
    return uint8_to_tensor(a), a


# --- helpers for outputs ---------------------------------------------------------------------------------------
def _model_md(model: hub.ImageModel | None, note: str = "") -> str:
    if model is None:
        return f"**No model loaded.** {note}"
    a, b = model.call_cost_s
    cost = f"one network call ≈ {1000 * (a + b):.0f} ms for 1 image, {1000 * (a + 16 * b):.0f} ms for 16"
    text = f"**Model:** {model.describe()}. Measured here: {cost}."
    return text + (f"\n\n{note}" if note else "")


def _slider(frames: int, value: int):
    return gr.update(minimum=0, maximum=max(frames - 1, 1), value=value, step=1)


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
    return (session, R.to_pil(shown), html, _slider(len(fwd["t"]), 0), info)


FORWARD_CACHE_SIZE = 16      # forward views of the examples, shared by every visitor (each ~1-3 MB)
_FORWARD_CACHE: dict = {}
_FORWARD_LOCK = threading.Lock()


def _forward_view(session: ImageSession, model: hub.ImageModel, seed: int):
    """(the forward frames, the picture as the model sees it, the scrubber HTML) of the session's picture."""
    x0, shown = _x0(session, model)
    frames = int(min(100, max(10, FORWARD_BYTES // (2 * x0.numel()))))   # x_t and x̂₀ per frame, uint8
    fwd = forward_frames(model, x0, seed=seed, num_frames=frames)
    return fwd, shown, R.forward_scrubber(FWD_ID, fwd, 0)


# --- ZeroGPU (issue 6): on a ZeroGPU Space the runs go to a GPU worker process; everywhere else this is not used --
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
        raise gr.Error(str(exc)) from None


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
        raise gr.Error(str(exc)) from None


def sample_images(session, sampler: str = DEFAULTS["sampler"], steps: int = DEFAULTS["steps"],
                  seed: int = DEFAULTS["seed"], batch: int = DEFAULTS["batch"], eta: float = DEFAULTS["eta"],
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
    return (session, R.batch_gallery(run.final), R.run_scrubber(REV_ID, run, 0, index=run.num_frames - 1),
            _slider(run.num_frames, run.num_frames - 1), gr.update(maximum=max(run.batch, 2), value=1),
            _run_status(run, estimate))


def select_image(session, image: int = 1, frame: int | None = None):
    """/image_select: the reverse scrubber for image number ``image`` (1 = first) of the last batch."""
    if not isinstance(session, ImageSession) or session.run is None:
        return placeholder_html("Sample a batch first.")
    image = number("image", image, 1, session.run.batch, integer=True) - 1
    index = session.run.num_frames - 1 if frame is None else int(number("frame", frame, 0, session.run.num_frames - 1))
    return R.run_scrubber(REV_ID, session.run, image, index=index)


def frame_png(session, view: str = "reverse", image: int = 1, frame: int = 0):
    """/image_frame: one frame as a picture (x_t | x̂₀ | ε̂ for a run, x_t | x̂₀ for the forward view) and its label.

    ``frame`` counts as the slider does: 0 is the clean end (t = 0 / the final sample)."""
    session = _existing(session)
    view = choice("view", view, ["reverse", "restore", "forward"])
    if view == "forward":
        fwd = session.forward
        if fwd is None:
            raise gr.Error("Show the forward process first.")
        frame = number("frame", frame, 0, len(fwd["t"]) - 1, integer=True)
        return R.forward_frame(fwd, frame), R.forward_label(fwd, frame)
    run = session.run if view == "reverse" else session.restore
    if run is None:
        raise gr.Error(f"Nothing to show yet: run the {'sampler' if view == 'reverse' else 'restore'} first.")
    image = number("image", image, 1, run.batch, integer=True) - 1
    frame = number("frame", frame, 0, run.num_frames - 1, integer=True)
    return R.run_frame(run, image, frame), run.labels[frame]


def restore(session, example: str | None = None, upload: str | None = None, invert: bool = False,
            t_start: int = DEFAULTS["t_start"], sampler: str = DEFAULTS["sampler"],
            steps: int = DEFAULTS["restore_steps"], seed: int = DEFAULTS["seed"], eta: float = DEFAULTS["eta"],
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
    trio = R.strip([run.extra["original"], run.extra["noised"], run.final[0]],
                   ["original x₀", f"noised to t₀ = {t_start}", "restored"])
    return (session, trio, R.run_scrubber(RES_ID, run, 0, index=run.num_frames - 1),
            _slider(run.num_frames, run.num_frames - 1), _run_status(run, estimate))


def make_gif(session, view: str = "reverse", image: int = 1, fps: float = 12):
    """/image_gif: the run (noise -> image) or the forward process as an animated GIF file."""
    session = _existing(session)
    view = choice("view", view, ["reverse", "restore", "forward"])
    fps = number("frames per second", fps, 1, 30)
    if view == "forward":
        if session.forward is None:
            raise gr.Error("Show the forward process first.")
        return gif_file(R.forward_gif_frames(session.forward), fps=fps, prefix="image-forward")
    run = session.run if view == "reverse" else session.restore
    if run is None:
        raise gr.Error(f"Nothing to export yet: run the {'sampler' if view == 'reverse' else 'restore'} first.")
    image = number("image", image, 1, run.batch, integer=True) - 1
    return gif_file(R.run_gif_frames(run, image), fps=fps, prefix=f"image-{view}")


def estimate(session, sampler: str = DEFAULTS["sampler"], steps: int = DEFAULTS["steps"],
             batch: int = DEFAULTS["batch"]) -> str:
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
        return (session, _model_md(None, note), None, placeholder_html("Load a model to begin."), _slider(2, 0), "")
    out = forward(session, None, None, 0, False)
    return (out[0], _model_md(model), out[1], out[2], out[3], out[4])


# --- layout and wiring -----------------------------------------------------------------------------------------
def build_image_tab() -> None:
    """Create the Image lab's components inside the current gr.Blocks / gr.Tab and wire their events."""
    state = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=close_session)
    gr.Markdown(INTRO_MD)
    with gr.Row():
        model_name = gr.Dropdown([hub.BUNDLED_ID, *hub.SUGGESTED_IDS], value=hub.BUNDLED_ID, allow_custom_value=True,
                                 label="Model", scale=3,
                                 info="the bundled MNIST model, a suggested Hub id, or type any owner/name")
        load_btn = gr.Button("Load model", scale=1)
    model_md = gr.Markdown(elem_id="img-model")

    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            names = example_names()
            example = gr.Dropdown(names, value=names[0], label="Example image")
            upload = gr.File(label="…or upload an image (it replaces the example; clear it to go back)",
                             file_types=["image"], type="filepath", height=110)
            with gr.Row():
                invert = gr.Checkbox(False, label="Invert (MNIST digits are white on black)")
                fwd_seed = gr.Number(0, precision=0, minimum=0, label="Noise seed")
        with gr.Column(scale=1):
            converted = gr.Image(label="What the model sees", type="pil", interactive=False, format="png",
                                 height=200)
            picture_md = gr.Markdown(elem_id="img-picture")

    with gr.Tabs():
        with gr.Tab("Forward"):
            gr.Markdown(FORWARD_MD, latex_delimiters=LATEX)
            fwd_btn = gr.Button("Show the forward process", variant="secondary")
            fwd_scrub = gr.HTML(placeholder_html("Loading…"), elem_id=FWD_ID)
            fwd_t = gr.Slider(0, 1, 0, step=1, label="Noise level (slide right: more noise)", elem_id=FWD_SLIDER)
            fwd_play = gr.Button("▶ Play (clean → noise)", size="sm")

        with gr.Tab("Reverse"):
            gr.Markdown(REVERSE_MD, latex_delimiters=LATEX)
            with gr.Row():
                sampler = gr.Dropdown(list(SAMPLERS), value=DEFAULTS["sampler"], label="Sampler", elem_id="img-sampler")
                steps = gr.Slider(1, 1000, DEFAULTS["steps"], step=1, label="Steps")
                eta = gr.Slider(0.0, 1.0, DEFAULTS["eta"], step=0.05, label="η (DDIM only)",
                                info="0: deterministic; 1: as noisy as DDPM")
            with gr.Row():
                batch = gr.Slider(1, MAX_BATCH, DEFAULTS["batch"], step=1, label="Batch size")
                seed = gr.Number(DEFAULTS["seed"], precision=0, minimum=0, label="Seed")
            estimate_md = gr.Markdown(elem_id="img-estimate")
            with gr.Row():
                sample_btn = gr.Button("Sample", variant="primary")
                stop_btn = gr.Button("Stop", variant="stop")
            status_md = gr.Markdown(elem_id="img-status")
            gallery = gr.Gallery(label="The batch (click one to scrub it)", columns=8, height=220,
                                 object_fit="contain", allow_preview=False, elem_id="img-gallery")
            image_no = gr.Slider(1, MAX_BATCH, 1, step=1, label="Image of the batch")
            rev_scrub = gr.HTML(placeholder_html("Press Sample to run the sampler."), elem_id=REV_ID)
            rev_t = gr.Slider(0, 1, 1, step=1, label="Step through the run: right = pure noise (start), "
                              "left = the final sample", elem_id=REV_SLIDER)
            rev_play = gr.Button("▶ Play (noise → image)", size="sm")

        with gr.Tab("Noise & restore"):
            gr.Markdown(RESTORE_MD, latex_delimiters=LATEX)
            with gr.Row():
                t_start = gr.Slider(0, 999, DEFAULTS["t_start"], step=1, label="Noise level t₀")
                res_sampler = gr.Dropdown(list(SDEDIT_SAMPLERS), value="ddim", label="Sampler")
                res_steps = gr.Slider(1, 1000, DEFAULTS["restore_steps"], step=1, label="Steps (at most t₀ + 1)")
                res_seed = gr.Number(0, precision=0, minimum=0, label="Seed")
            with gr.Row():
                res_btn = gr.Button("Noise and restore", variant="primary")
                res_stop = gr.Button("Stop", variant="stop")
            res_status = gr.Markdown(elem_id="img-res-status")
            trio = gr.Image(label="original · noised · restored", type="pil", interactive=False, format="png")
            res_scrub = gr.HTML(placeholder_html("Press Noise and restore."), elem_id=RES_ID)
            res_t = gr.Slider(0, 1, 1, step=1, label="Step through the restoration (right = noised start)",
                              elem_id=RES_SLIDER)
            res_play = gr.Button("▶ Play (noised → restored)", size="sm")

    with gr.Accordion("Export", open=False):
        with gr.Row():
            gif_view = gr.Radio(["reverse", "restore", "forward"], value="reverse", label="Which view")
            fps = gr.Slider(2, 30, 12, step=1, label="GIF frames per second")
        with gr.Row():
            gif_btn = gr.Button("Make GIF")
            frame_btn = gr.Button("This frame as PNG")
        with gr.Row():
            gif_out = gr.File(label="GIF", interactive=False)
            frame_out = gr.Image(label="Frame", type="pil", interactive=False, format="png")
        frame_label = gr.Markdown()

    # --- events ---
    # one image run at a time per server: two runs on a 2-vCPU machine would each take twice as long (or worse:
    # torch's threads contend), and the time estimates assume a free machine. Others wait in the queue.
    heavy = dict(concurrency_limit=1, concurrency_id="image_heavy")
    light = dict(concurrency_id="image_light")
    fwd_inputs = [state, example, upload, fwd_seed, invert]
    fwd_outputs = [state, converted, fwd_scrub, fwd_t, picture_md]
    est_inputs = [state, sampler, steps, batch]
    load_btn.click(load_model, [state, model_name], [state, model_md, model_name, steps, t_start, res_steps],
                   api_name="image_load_model", **heavy).then(
        forward, fwd_inputs, fwd_outputs, api_visibility="private", **light).then(
        estimate, est_inputs, estimate_md, api_visibility="private", queue=False)
    fwd_btn.click(forward, fwd_inputs, fwd_outputs, api_name="image_forward", **light)
    for trigger in (example.input, upload.change, invert.input, fwd_seed.submit):
        trigger(forward, fwd_inputs, fwd_outputs, api_visibility="private", **light)

    sample_btn.click(sample_images, [state, sampler, steps, seed, batch, eta],
                     [state, gallery, rev_scrub, rev_t, image_no, status_md], api_name="image_sample", **heavy)
    stop_btn.click(stop, state, state, api_name="image_stop", queue=False)
    res_stop.click(stop, state, state, api_visibility="private", queue=False)
    gr.on([sampler.change, steps.release, batch.release], estimate, est_inputs, estimate_md,
          api_name="image_estimate", queue=False)
    image_no.release(select_image, [state, image_no, rev_t], rev_scrub, api_name="image_select", **light)

    def pick(evt: gr.SelectData):
        return evt.index + 1
    gallery.select(pick, None, image_no, api_visibility="private", queue=False).then(
        select_image, [state, image_no, rev_t], rev_scrub, api_visibility="private", **light)

    res_btn.click(restore, [state, example, upload, invert, t_start, res_sampler, res_steps, res_seed, eta],
                  [state, trio, res_scrub, res_t, res_status], api_name="image_restore", **heavy)

    for slider, scrub_id in ((fwd_t, FWD_ID), (rev_t, REV_ID), (res_t, RES_ID)):
        slider.input(None, slider, None, js=scrub_js(scrub_id))
        slider.change(None, slider, None, js=scrub_js(scrub_id))
    fwd_play.click(None, js=play_js(FWD_ID, FWD_SLIDER, +1))
    rev_play.click(None, js=play_js(REV_ID, REV_SLIDER, -1))
    res_play.click(None, js=play_js(RES_ID, RES_SLIDER, -1))

    gif_btn.click(make_gif, [state, gif_view, image_no, fps], gif_out, api_name="image_gif", **light)

    def frame_for_view(session, view, image, f_fwd, f_rev, f_res):
        f = {"forward": f_fwd, "reverse": f_rev, "restore": f_res}.get(view, 0)
        img, label = frame_png(session, view, image if view == "reverse" else 1, f)
        return img, label
    scrub = dict(concurrency_limit=None, concurrency_id="image_scrub")   # one stored frame: never waits in "light"
    frame_btn.click(frame_for_view, [state, gif_view, image_no, fwd_t, rev_t, res_t], [frame_out, frame_label],
                    api_visibility="private", **scrub)
    # the same as an endpoint with explicit arguments (frame: 0 = the clean end), through a hidden trigger
    frame_no = gr.Number(0, precision=0, visible=False)
    frame_api = gr.Button(visible=False)
    frame_api.click(frame_png, [state, gif_view, image_no, frame_no], [frame_out, frame_label], api_name="image_frame",
                    **scrub)

    gr.on(None, on_load, [state], [state, model_md, converted, fwd_scrub, fwd_t, picture_md],
          api_visibility="private", concurrency_limit=None, show_progress="hidden").then(
        estimate, est_inputs, estimate_md, api_visibility="private", queue=False)
