"""The Guidance lab's digits: classifier-free guidance on the bundled class-conditional MNIST model.

``/guidance_digits`` samples a batch of one digit at one w, scrubbed as x_t, x̂₀ and the two predicted noises
eps(x_t, y) and eps(x_t, no label); ``/guidance_grid`` draws digits x guidance scales from one x_T per row. The
maths is in :mod:`diffusion.labs.digit_guidance`."""
from __future__ import annotations

import gradio as gr

from diffusion import hub
from diffusion.labs.digit_guidance import GRID_SCALES, guidance_grid, guided_run
from diffusion.labs.image_runs import RunTooLong

from ..serving.priority import in_background
from ..widgets.inputs import number, refusal, user_error
from ..widgets.scrubber import encode_png, scrubber_html, slider_update
from ..widgets.tiles import stack, strip
from .session import DEFAULT_DIGITS, session_or_new
from .views import grid_view

SCRUB_ID, SLIDER_ID = "guidance-digits-scrub", "guidance-digits-t"
ROWS = ("x_t (state)", "x̂₀ (prediction)", "ε̂(x_t, y)", "ε̂(x_t, ∅)")


def _model() -> hub.ImageModel:
    try:
        return hub.load_model(hub.BUNDLED_COND_ID)
    except hub.HubError as exc:
        raise refusal(str(exc)) from None


def render_digits(run) -> list[bytes]:
    """One PNG per frame: rows x_t, x̂₀, eps_cond, eps_uncond over the batch."""
    out = []
    for k in range(run.num_frames):
        rows = [strip(list(a[k]), name) for a, name in zip((run.x_t, run.x0_pred, run.eps_cond, run.eps_uncond),
                                                            ROWS)]
        out.append(encode_png(stack(rows, f"digit {run.settings['digit']}, w = {run.settings['w']:g}: "
                                          f"{run.labels[k]}")))
    return out


def digits_view(session) -> tuple[str, dict, str]:
    run, frames = session.digits
    html = scrubber_html(SCRUB_ID, [("digits", frames)], run.labels, wide=True)
    s = run.settings
    md = (f"**{s['batch']} samples of digit {s['digit']} at w = {s['w']:g}** (DDIM {s['steps']} steps, seed "
          f"{s['seed']}, no x̂₀ clipping) in {run.seconds:.1f} s. The guided noise is "
          f"ε̂(x_t, ∅) + w · (ε̂(x_t, y) − ε̂(x_t, ∅)): where the two bottom rows differ is where the label "
          "acts.")
    return html, slider_update(run.num_frames), md


def digits_sample(session, digit=DEFAULT_DIGITS["digit"], w=DEFAULT_DIGITS["w"], batch=DEFAULT_DIGITS["batch"],
                  seed=DEFAULT_DIGITS["seed"], steps=DEFAULT_DIGITS["steps"], progress=gr.Progress()):
    """/guidance_digits: ``batch`` samples of ``digit`` at guidance scale ``w`` from the bundled conditional model."""
    session = session_or_new(session)
    kwargs = dict(digit=number("digit", digit, 0, 9, integer=True), w=number("w", w, 0.0, 10.0),
                  batch=number("batch", batch, 1, 16, integer=True), steps=number("steps", steps, 2, 200, integer=True),
                  seed=number("seed", seed, 0, 2**31 - 1, integer=True))
    model = _model()
    try:
        run = in_background(guided_run, model, on_step=lambda d, t: progress((d, t), desc=f"step {d}/{t}"),
                            **kwargs)
    except RunTooLong as exc:
        raise refusal(str(exc)) from None
    except ValueError as exc:
        raise user_error(exc) from None
    session.digits = (run, in_background(render_digits, run))
    return (session, *digits_view(session))


def digits_grid(session, seed=DEFAULT_DIGITS["seed"], steps=DEFAULT_DIGITS["steps"]):
    """/guidance_grid: digits 0-9 (rows) x w = 0, 1, 3, 7 (columns), the same x_T along each row."""
    session = session_or_new(session)
    steps = number("steps", steps, 2, 200, integer=True)
    seed = number("seed", seed, 0, 2**31 - 1, integer=True)
    try:
        grid = in_background(guidance_grid, _model(), steps=steps, seed=seed)
    except RunTooLong as exc:
        raise refusal(str(exc)) from None
    except ValueError as exc:
        raise user_error(exc) from None
    return (session, *grid_view(grid, steps, seed))


__all__ = ["digits_sample", "digits_grid", "DEFAULT_DIGITS", "GRID_SCALES", "SCRUB_ID", "SLIDER_ID"]
