"""Per-session toy state, and the default model every session starts from (trained once per server, shared).

A visitor's :class:`ToySession` lives in a ``gr.State``: their data, their model, their recorded run and its
frames. Nothing in it is shared with another visitor except the read-only :class:`SharedDefault` (the start-up model,
its run and its frames), which sessions point to until they train or sample their own.
"""
from __future__ import annotations

import threading
import time
import traceback

from diffusion import LAB_DEFAULT, toy
from diffusion.labs import toy_cost
from diffusion.labs.toy_extras import compare_flow, density_paths
from diffusion.labs.toy_runs import RunQuality, RunRecord, ToyData, add_exact, record_run

from ..serving.session import LabSession, SessionRegistry
from ..serving.shared import SharedBuild
from .figures import compare_table, draw_compare, draw_density_paths
from .views import DEFAULT_OVERLAYS, render_frames

SESSIONS = SessionRegistry()   # live sessions, for tests and the load benchmark

DEFAULT_DATA = dict(name="moons", n=2000, seed=0)
DEFAULT_SAMPLING = dict(sampler=LAB_DEFAULT["sampler"], num_steps=LAB_DEFAULT["num_steps"], eta=0.0, seed=0, n=2000,
                        spacing="karras" if LAB_DEFAULT.get("use_karras_sigmas") else "leading")
DEFAULT_1D = "gmm1d"           # the 1-D view's data when the visitor's own model is 2-D
WARM_EXTRAS = True             # compute the shared flow-vs-diffusion and 1-D views right after the default model
DEFAULT_FIT: dict = {}         # extra toy.fit settings for the default model (toy.DEFAULTS otherwise; tests shorten it)


EXACT = "exact field & exact-denoiser samples"   # the overlay that needs the (slower) exact view


class Run:
    """One recorded sampling run with its rendered frames (for the current overlays).

    The exact denoiser's view is computed on first need (when its overlay is on), from ``model`` and ``data``."""

    def __init__(self, record: RunRecord, quality: RunQuality, settings: dict, overlays=DEFAULT_OVERLAYS,
                 model=None, data: ToyData | None = None):
        self.quality, self.settings = quality, dict(settings)
        self.model, self.data = model, data
        self.overlays = tuple(overlays)
        self.record = self._with_exact_if_shown(record)
        self.frames = render_frames(self.record, self.overlays)

    def _with_exact_if_shown(self, record: RunRecord) -> RunRecord:
        if EXACT in self.overlays and record.exact_reverse is None:
            return add_exact(record, self.model, self.data)
        return record

    def with_overlays(self, overlays) -> "Run":
        """The same run drawn with other overlays (a new object: a shared run is never modified)."""
        return Run(self.record, self.quality, self.settings, overlays, self.model, self.data)

    def nbytes(self) -> int:
        return self.record.nbytes() + sum(len(b) for frames in self.frames.values() for b in frames)


class ToySession(LabSession):
    """One visitor's lab: data, model, run. Lives in a gr.State; released by ``close_session``."""

    registry = SESSIONS

    def __init__(self, defaults: "SharedDefault"):
        super().__init__()
        self.data: ToyData = defaults.data          # the data picked now
        self.model = defaults.model
        self.model_data: ToyData = defaults.data    # the data the model learned (the scrubber shows this)
        self.model_note = defaults.model_note
        self.losses: list[float] = list(getattr(defaults.model, "losses", []) or [])
        self.run: Run | None = defaults.run
        self.flow_compare = None       # (figure, table) of the diffusion-vs-flow comparison, once made

    def nbytes(self) -> int:
        """Bytes this session holds of its own (shared defaults not counted)."""
        own = 0
        if self.run is not None and self.run is not SHARED.run:
            own += self.run.nbytes()
        for data in {id(d): d for d in (self.data, self.model_data) if d is not SHARED.data}.values():
            own += data.points.numel() * 4
        return own

    def release(self) -> None:
        self.model = self.run = self.data = self.model_data = self.flow_compare = None


class SharedDefault(SharedBuild):
    """The start-up lab, built once per server in a background thread and shared read-only by every session."""

    thread_name = "toy-defaults"

    def __init__(self):
        super().__init__()
        self.data = self.model = self.run = None
        self.model_note = ""
        self.losses: list[float] = []         # the default model's training loss, live while it trains
        self.total_steps = 0
        self._extra_lock = threading.Lock()    # one computation of the extra views, shared by everyone
        self._flow = self._oned = None

    def flow_compare(self):
        """(figure, table) of diffusion vs flow matching on the default data; computed once, on first need."""
        with self._extra_lock:
            if self._flow is None:
                self.wait()
                flow = toy.fit(self.data.name, seed=0, objective="flow_matching", **DEFAULT_FIT)
                result = compare_flow(self.model, flow, self.data)
                self._flow = (draw_compare(result), compare_table(result))
            return self._flow

    def oned(self):
        """(data, model, figure) of the default 1-D lab; computed once, on first need."""
        with self._extra_lock:
            if self._oned is None:
                data = ToyData.from_dataset(DEFAULT_1D, 2000, 0)
                model = toy.fit(DEFAULT_1D, seed=0, **DEFAULT_FIT)
                self._oned = (data, model, draw_density_paths(density_paths(model, data)))
            return self._oned

    def _build(self) -> None:
        try:
            t0 = time.perf_counter()
            data = ToyData.from_dataset(DEFAULT_DATA["name"], DEFAULT_DATA["n"], DEFAULT_DATA["seed"])
            self.total_steps = DEFAULT_FIT.get("steps", toy.DEFAULTS["steps"])
            model = toy.fit(data.name, seed=0, callback=lambda step, total, loss: self.losses.append(loss),
                            **DEFAULT_FIT)
            record, quality = record_run(model, data, **DEFAULT_SAMPLING, with_exact=False)
            self.data, self.model = data, model
            self.run = Run(record, quality, DEFAULT_SAMPLING, model=model, data=data)
            self.model_note = (f"default model: {data.label}, trained once at server start-up "
                               f"({time.perf_counter() - t0:.1f} s, shared by every visitor)")
            toy_cost.calibrate()    # the cost lines for every visitor's estimates, timed once, after the model
        except Exception:  # pragma: no cover - reported on the page instead of killing the server
            self.error = traceback.format_exc(limit=3)
            traceback.print_exc()
        finally:
            self.ready.set()
        if self.error is None and WARM_EXTRAS:
            try:       # warm the extra views now, so the first visitor to open them waits less
                # swapping in the richer record is atomic: every reader sees the old or the new, both valid
                self.run.record = add_exact(self.run.record, self.model, self.data)
                self.flow_compare()
                self.oned()
            except Exception:  # pragma: no cover - computed again (and reported) when a visitor asks
                traceback.print_exc()


SHARED = SharedDefault()   # the default model and run every session starts from


def new_session() -> ToySession:
    """A session pointing at the shared defaults (waits for them; they take a few seconds after start-up)."""
    SHARED.wait()
    if SHARED.error:
        raise RuntimeError(f"the default toy model could not be built:\n{SHARED.error}")
    return ToySession(SHARED)


__all__ = ["SESSIONS", "SHARED", "ToySession", "Run", "new_session"]
