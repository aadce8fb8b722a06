"""Per-session Edit-lab state, and the default runs every session starts from (built once per server, in a
background thread, shared read-only).

A visitor's :class:`EditSession` lives in a ``gr.State``: their last 2-D edits (with rendered frames) and their last
digit edit. Until they run their own, it points at :data:`SHARED`'s.
"""
from __future__ import annotations

import time
import traceback

from diffusion import hub
from diffusion.labs.edit_image import image_edit
from diffusion.labs.edit_toy import observe, toy_edits

from ..serving.priority import lower_priority
from ..serving.session import LabSession, SessionRegistry
from ..serving.shared import SharedBuild
from ..widgets.pictures import example_digits
from .views import render_image_run, render_toy

SESSIONS = SessionRegistry()

DEFAULT_TOY = dict(kind="coordinate", c=0.9, n=1000, steps=50, seed=0)
DEFAULT_IMAGE = dict(task="inpaint", method="repaint", mask="left half", steps=50, seed=0)


class ToyResult:
    """One observation's runs and their frames."""

    def __init__(self, edits, settings: dict):
        self.edits, self.settings = edits, dict(settings)
        self.frames, self.labels = render_toy(edits)

    def nbytes(self) -> int:
        return sum(len(b) for frames in self.frames.values() for b in frames)


class ImageResult:
    """One digit edit (an ImageRun) and its frames."""

    def __init__(self, run):
        self.run = run
        self.frames = render_image_run(run)

    def nbytes(self) -> int:
        return self.run.nbytes() + sum(len(b) for b in self.frames)


class EditSession(LabSession):
    registry = SESSIONS

    def __init__(self, shared: "SharedEdit"):
        super().__init__()
        self.toy: ToyResult | None = shared.toy
        self.image: ImageResult | None = shared.image

    def release(self) -> None:
        self.toy = self.image = None


class SharedEdit(SharedBuild):
    """The start-up Edit lab: the default 2-D edits and the default digit edit."""

    thread_name = "edit-defaults"

    def __init__(self):
        super().__init__()
        self.toy = self.image = None
        self.note = ""

    def _build(self) -> None:
        lower_priority(19)       # after the first screen's default model
        try:
            t0 = time.perf_counter()
            d = DEFAULT_TOY
            self.toy = ToyResult(toy_edits(observe(d["kind"], c=d["c"]), n=d["n"], seed=d["seed"],
                                           num_steps=d["steps"]), d)
            i = DEFAULT_IMAGE
            run = image_edit(hub.load_model(hub.BUNDLED_ID), example_digits(), i["task"], i["method"],
                             num_steps=i["steps"], seed=i["seed"], mask=i["mask"],
                             limit_s=float("inf"))     # the lab's own fixed run: a busy start-up must not refuse it
            self.image = ImageResult(run)
            self.note = f"default runs built once at server start-up ({time.perf_counter() - t0:.1f} s)"
        except Exception:  # pragma: no cover - reported on the page instead of killing the server
            self.error = traceback.format_exc(limit=3)
            traceback.print_exc()
        finally:
            self.ready.set()


SHARED = SharedEdit()


def new_session() -> EditSession:
    SHARED.wait()
    if SHARED.error:
        raise RuntimeError(f"the Edit lab's default runs could not be built:\n{SHARED.error}")
    return EditSession(SHARED)


__all__ = ["SESSIONS", "SHARED", "EditSession", "ToyResult", "ImageResult", "new_session", "DEFAULT_TOY",
           "DEFAULT_IMAGE"]
