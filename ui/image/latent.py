"""The Image lab's "Pixel vs latent" tab: the bundled latent diffusion model (an autoencoder and a DDPM on its
5 x 5 x 4 latents) run with the same sampler and seed as the pixel model, side by side, each run's cost measured;
and forward noising in latent space beside pixel space. Endpoints ``/image_latent``, ``/image_latent_forward``,
``/image_latent_stop``. The maths is in :mod:`diffusion.labs.latent_runs`; frames and words in :mod:`.latent_views`.
"""
from __future__ import annotations

import traceback

import gradio as gr

from diffusion import hub
from diffusion.labs.image_runs import MAX_BATCH, MAX_RUN_SECONDS, RunTooLong, generate
from diffusion.labs.latent_runs import RunCost, latent_forward, latent_generate, pixel_and_latent
from diffusion.samplers import SAMPLERS

from ..gpu import gpu, on_zero_gpu, to_device
from ..serving.priority import in_background, lower_priority
from ..serving.session import SESSION_TTL_S, LabSession, SessionRegistry, close_session
from ..serving.shared import SharedBuild
from ..widgets.inputs import choice, number, refusal, user_error
from ..widgets.pictures import example_digits
from ..widgets.scrubber import placeholder_html, play_js, scrub_js, scrubber_html, slider_update
from ..widgets.text import LATEX
from .latent_views import SPACES, cost_text, forward_text, render_forward, render_runs
from .text import LATENT_MD

RUN_ID, RUN_SLIDER = "img-latent-scrub", "img-latent-t"
FWD_ID, FWD_SLIDER = "img-latent-fwd", "img-latent-fwd-t"
DEFAULT_RUN = dict(space="both", sampler="ddim", steps=50, batch=8, seed=0, eta=0.0)
FORWARD_FRAMES = 100
SESSIONS = SessionRegistry()


class RunResult:
    """A run (or two) and its frames and cost text."""

    def __init__(self, pixel, latent, settings: dict):
        self.pixel, self.latent, self.settings = pixel, latent, dict(settings)
        self.frames, self.labels = render_runs(pixel, latent)
        self.text = cost_text(None if pixel is None else RunCost("pixel", pixel.nfe, pixel.seconds),
                              None if latent is None else latent.extra["cost"],
                              None if latent is None else latent.extra["frames_decode_s"])

    def nbytes(self) -> int:
        return sum(len(b) for b in self.frames) + sum(r.nbytes() for r in (self.pixel, self.latent) if r)


class ForwardResult:
    def __init__(self, figures: dict, seed: int):
        self.seed = seed
        self.frames, self.labels = render_forward(figures)
        self.text = forward_text(figures)


class LatentSession(LabSession):
    registry = SESSIONS

    def __init__(self, shared: "SharedLatent"):
        super().__init__()
        self.run: RunResult | None = shared.run
        self.forward: ForwardResult | None = shared.forward

    def release(self) -> None:
        self.run = self.forward = None


class SharedLatent(SharedBuild):
    """The start-up latent view: the default comparison and the default forward noising."""

    thread_name = "latent-defaults"

    def __init__(self):
        super().__init__()
        self.run = self.forward = None

    def _build(self) -> None:
        lower_priority(19)       # after serving and the first screen's default model (diffusers is imported here)
        try:
            latent, pixel = hub.load_model(hub.BUNDLED_LDM_ID), hub.load_model(hub.BUNDLED_ID)
            d = DEFAULT_RUN
            both = pixel_and_latent(pixel, latent, d["sampler"], d["steps"], d["seed"], d["batch"], d["eta"],
                                    limit_s=float("inf"))
            self.run = RunResult(both.pixel, both.latent, d)
            self.forward = _forward_result(latent, 0)
        except Exception:  # pragma: no cover - reported on the page instead of killing the server
            self.error = traceback.format_exc(limit=3)
            traceback.print_exc()
        finally:
            self.ready.set()


SHARED = SharedLatent()


def _session(session) -> LatentSession:
    if isinstance(session, LatentSession):
        return session
    SHARED.wait()
    if SHARED.error:
        raise refusal("The latent view's default run could not be built; see the server log.")
    return LatentSession(SHARED)


def _forward_result(latent, seed: int) -> ForwardResult:
    """The six example digits noised in pixel and latent space, with ``seed``'s noise, drawn."""
    return ForwardResult(latent_forward(latent, example_digits(latent.image_shape[1:]), seed, FORWARD_FRAMES), seed)


def _run_view(run: RunResult) -> tuple:
    """(scrubber, slider, cost text) of a run."""
    return (scrubber_html(RUN_ID, [("runs", run.frames)], run.labels, wide=True), slider_update(len(run.labels)),
            run.text)


def _forward_view(fwd: ForwardResult) -> tuple:
    """(scrubber, slider, table and sentence) of forward noising."""
    return (scrubber_html(FWD_ID, [("forward", fwd.frames)], fwd.labels, wide=True), slider_update(len(fwd.labels)),
            fwd.text)


def _views(session: LatentSession) -> tuple:
    return (*_run_view(session.run), *_forward_view(session.forward))


def _runs(space: str, pixel, latent, **kw) -> tuple:
    """(pixel run or None, latent run or None) for ``space``."""
    if space == "both":
        both = pixel_and_latent(pixel, latent, **kw)
        return both.pixel, both.latent
    if space == "latent":
        return None, latent_generate(latent, **kw)
    return generate(pixel, **kw), None


# --- ZeroGPU: the runs go to a GPU worker process (arguments and result pickled); everywhere else unused ------------
@gpu(duration=MAX_RUN_SECONDS)
def _runs_on_gpu(space: str, kw: dict) -> tuple:
    latent, pixel = hub.load_model(hub.BUNDLED_LDM_ID), hub.load_model(hub.BUNDLED_ID)
    for module in (latent.unet, latent.codec.vae, pixel.unet):
        to_device(module)
    return _runs(space, pixel, latent, **kw)


def latent_run(session, space=DEFAULT_RUN["space"], sampler=DEFAULT_RUN["sampler"], steps=DEFAULT_RUN["steps"],
               batch=DEFAULT_RUN["batch"], seed=DEFAULT_RUN["seed"], eta=DEFAULT_RUN["eta"], progress=gr.Progress()):
    """/image_latent: sample with the latent model, the pixel model, or both from the same seed and settings."""
    session = _session(session)
    space = choice("space", space, list(SPACES))
    sampler = choice("sampler", sampler, list(SAMPLERS))
    steps = number("steps", steps, 1, 1000, integer=True)
    batch = number("batch size", batch, 1, MAX_BATCH, integer=True)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    eta = number("η", eta, 0.0, 1.0)
    latent, pixel = hub.load_model(hub.BUNDLED_LDM_ID), hub.load_model(hub.BUNDLED_ID)
    session.stop.clear()

    def on_step(done, total):
        progress((done, total), desc=f"step {done}/{total}")
    kw = dict(sampler=sampler, num_steps=steps, seed=seed, batch=batch, eta=eta)
    try:
        if on_zero_gpu():
            pix, lat = _runs_on_gpu(space, kw)
        else:
            pix, lat = in_background(_runs, space, pixel, latent, on_step=on_step, should_stop=session.stop.is_set,
                                     **kw)
    except RunTooLong as exc:
        raise refusal(str(exc)) from None
    except ValueError as exc:
        raise user_error(exc) from None
    session.run = in_background(RunResult, pix, lat, dict(space=space, **kw))
    return (session, *_run_view(session.run))


def latent_noising(session, seed=0):
    """/image_latent_forward: the six example digits noised in pixel space and in latent space (decoded)."""
    session = _session(session)
    seed = number("noise seed", seed, 0, 2**31 - 1, integer=True)
    latent = hub.load_model(hub.BUNDLED_LDM_ID)
    session.forward = in_background(_forward_result, latent, seed)
    return (session, *_forward_view(session.forward))


def stop(session):
    """/image_latent_stop: stop the session's run (what was done so far is shown)."""
    if isinstance(session, LatentSession):
        session.stop.set()
    return session


def on_load(session=None):
    session = _session(session)
    return (session, *_views(session))


def _scrubber(scrub_id: str, slider_id: str, label: str, play: str, direction: int):
    scrub = gr.HTML(placeholder_html("The default runs are being computed — a few seconds."), elem_id=scrub_id)
    slider = gr.Slider(0, 1, 0, step=1, label=label, elem_id=slider_id)
    play_btn = gr.Button(play, size="sm")
    slider.input(None, slider, None, js=scrub_js(scrub_id))
    slider.change(None, slider, None, js=scrub_js(scrub_id))
    play_btn.click(None, js=play_js(scrub_id, slider_id, direction))
    return scrub, slider


def build_latent_tab() -> None:
    """The "Pixel vs latent" tab's components and events (inside the Image lab's tabs). Its default runs are built on
    the first page load (``on_load``), not here: their first step imports diffusers, which serving does without."""
    state = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=close_session)
    gr.Markdown(LATENT_MD, latex_delimiters=LATEX)
    with gr.Row():
        space = gr.Radio([(v, k) for k, v in SPACES.items()], value=DEFAULT_RUN["space"], label="Pixel / latent")
        sampler = gr.Dropdown(list(SAMPLERS), value=DEFAULT_RUN["sampler"], label="Sampler")
        steps = gr.Slider(1, 1000, DEFAULT_RUN["steps"], step=1, label="Steps")
    with gr.Row():
        batch = gr.Slider(1, MAX_BATCH, DEFAULT_RUN["batch"], step=1, label="Batch size")
        seed = gr.Number(DEFAULT_RUN["seed"], precision=0, minimum=0, label="Seed (the same for both models)")
        eta = gr.Slider(0.0, 1.0, DEFAULT_RUN["eta"], step=0.05, label="η (DDIM only)")
    with gr.Row():
        run_btn = gr.Button("Sample", variant="primary")
        stop_btn = gr.Button("Stop", variant="stop")
    run_scrub, run_t = _scrubber(RUN_ID, RUN_SLIDER, "Step through the runs: 0 = the samples … right end = the "
                                 "start (pure noise)", "▶ Play (noise → digits)", -1)
    cost_md = gr.Markdown(elem_id="img-latent-cost")
    gr.Markdown("### Forward noising in each space\nThe six example digits noised in pixel space, and encoded, "
                "noised in latent space with the same schedule, and decoded. Slide right for more noise.")
    with gr.Row():
        fwd_seed = gr.Number(0, precision=0, minimum=0, label="Noise seed", scale=1)
        fwd_btn = gr.Button("Noise the digits", scale=1)
    fwd_scrub, fwd_t = _scrubber(FWD_ID, FWD_SLIDER, "Noise level (slide right: more noise)",
                                 "▶ Play (clean → noise)", +1)
    fwd_md = gr.Markdown(elem_id="img-latent-forward")

    run_btn.click(latent_run, [state, space, sampler, steps, batch, seed, eta], [state, run_scrub, run_t, cost_md],
                  api_name="image_latent", concurrency_limit=1, concurrency_id="image_heavy")
    stop_btn.click(stop, state, state, api_name="image_latent_stop", queue=False)
    fwd_btn.click(latent_noising, [state, fwd_seed], [state, fwd_scrub, fwd_t, fwd_md], api_name="image_latent_forward",
                  concurrency_id="image_light")
    gr.on(None, on_load, [state], [state, run_scrub, run_t, cost_md, fwd_scrub, fwd_t, fwd_md],
          api_visibility="private", concurrency_limit=None, show_progress="hidden")


__all__ = ["build_latent_tab", "latent_run", "latent_noising", "stop", "on_load", "SHARED", "SESSIONS",
           "DEFAULT_RUN"]

