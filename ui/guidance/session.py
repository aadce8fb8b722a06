"""Per-session Guidance-lab state, and the default conditional model every session starts from (trained once per
server, in a background thread, shared read-only).

A visitor's :class:`GuidanceSession` lives in a ``gr.State``: their labelled data, their conditional model, their
runs (with rendered frames) and their sweep. Until they train, it points at :data:`SHARED`.
"""
from __future__ import annotations

import time
import traceback

from diffusion import hub, toy
from diffusion.labs.digit_guidance import guidance_grid
from diffusion.labs.guidance import GuidanceData, guided_runs, sweep

from ..serving.priority import lower_priority
from ..serving.session import LabSession, SessionRegistry
from ..serving.shared import SharedBuild
from .views import data_picture, grid_view, render_runs

SESSIONS = SessionRegistry()

DEFAULT_DATA = "gaussians8:plus-cross"
DEFAULT_RUN = dict(y=0, w=3.0, n=1000, seed=0)
DEFAULT_FIT: dict = {}     # extra toy.fit settings for the default model (toy.DEFAULTS otherwise; tests shorten it)
DATA_POINTS = 8000         # labelled points a session's data holds (the k-NN judge and the pictures use them)
DEFAULT_DIGITS = dict(digit=3, w=3.0, batch=8, steps=50, seed=0)   # the bundled conditional model's digits


class Runs:
    """One x_T's runs (unconditional, conditional, guided and, for a mixture, exact) with their frames."""

    def __init__(self, runs: dict, data: GuidanceData, settings: dict):
        self.runs, self.settings = runs, dict(settings)
        self.frames = render_runs(runs, data, settings["y"])

    @property
    def num_frames(self) -> int:
        return len(next(iter(self.runs.values())).times)

    def nbytes(self) -> int:
        return (sum(r.frames.nbytes for r in self.runs.values())
                + sum(len(b) for frames in self.frames.values() for b in frames))


class GuidanceSession(LabSession):
    registry = SESSIONS

    def __init__(self, shared: "SharedGuidance"):
        super().__init__()
        self.data: GuidanceData = shared.data          # the data picked now
        self.model = shared.model
        self.model_data: GuidanceData = shared.data    # the data the model learned
        self.model_note = shared.model_note
        self.runs: Runs | None = shared.runs
        self.sweep = shared.sweep                      # (class, rows) of the last sweep
        self.digits = None                             # (GuidedDigits, frames) of the last digit run

    def release(self) -> None:
        self.data = self.model = self.model_data = self.runs = self.sweep = self.digits = None


class SharedGuidance(SharedBuild):
    """The start-up Guidance lab: a conditional model of DEFAULT_DATA, its default runs and its sweep."""

    thread_name = "guidance-defaults"

    def __init__(self):
        super().__init__()
        self.data = self.model = self.runs = self.sweep = self.picture = None
        self.grid = (None, "")
        self.model_note = ""

    def _build(self) -> None:
        lower_priority(19)       # the Toy lab's default model (the first screen) trains first; this one after it
        try:
            t0 = time.perf_counter()
            data = GuidanceData.from_name(DEFAULT_DATA, DATA_POINTS)
            model = toy.fit(DEFAULT_DATA, labels=True, seed=0, **DEFAULT_FIT)
            runs = guided_runs(model, data, DEFAULT_RUN["y"], DEFAULT_RUN["w"], n=DEFAULT_RUN["n"],
                               seed=DEFAULT_RUN["seed"])
            self.data, self.model = data, model
            self.picture = data_picture(data)        # drawn once: every page load shows it
            self.runs = Runs(runs, data, DEFAULT_RUN)
            self.sweep = (DEFAULT_RUN["y"], sweep(model, data, DEFAULT_RUN["y"]))
            self.grid = default_grid()                  # (picture, text) of the digits x guidance grid
            self.model_note = (f"default model: {data_label(DEFAULT_DATA)}, {len(model.losses)} steps, trained once at "
                               f"server start-up ({time.perf_counter() - t0:.1f} s, shared by every visitor)")
        except Exception:  # pragma: no cover - reported on the page instead of killing the server
            self.error = traceback.format_exc(limit=3)
            traceback.print_exc()
        finally:
            self.ready.set()


def data_label(name: str) -> str:
    """How a labelled data set is named on the page."""
    if name == "drawing":
        return "your drawing"
    return f"word “{name[5:]}”" if name.startswith("text:") else name


SHARED = SharedGuidance()


def default_grid():
    """The digits x guidance grid every page opens with (built once at start-up): (picture, text), or (None, why
    not)."""
    try:
        grid = guidance_grid(hub.load_model(hub.BUNDLED_COND_ID), steps=DEFAULT_DIGITS["steps"],
                             seed=DEFAULT_DIGITS["seed"], limit_s=float("inf"))
    except hub.HubError as exc:
        return None, str(exc)
    return grid_view(grid, DEFAULT_DIGITS["steps"], DEFAULT_DIGITS["seed"])


def session_or_new(session) -> "GuidanceSession":
    """The visitor's session, or a new one (pointing at the shared default) when they have none yet."""
    if session is None or session.data is None:
        return new_session()
    return session


def new_session() -> GuidanceSession:
    SHARED.wait()
    if SHARED.error:
        raise RuntimeError(f"the default guidance model could not be built:\n{SHARED.error}")
    return GuidanceSession(SHARED)


__all__ = ["SESSIONS", "SHARED", "GuidanceSession", "Runs", "new_session", "session_or_new", "DEFAULT_DATA",
           "DEFAULT_RUN", "DEFAULT_DIGITS", "data_label"]
