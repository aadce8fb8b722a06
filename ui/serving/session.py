"""Per-session state, one base for every lab: a visitor's session lives in a ``gr.State``, has a Stop flag and a
creation time, is counted in its lab's registry while alive, and drops what it holds when Gradio deletes the state
(the tab closed, or the session expired)."""
from __future__ import annotations

import threading
import time
import weakref

__all__ = ["SESSION_TTL_S", "MAX_SESSION_BYTES", "SessionRegistry", "LabSession", "close_session"]

SESSION_TTL_S = 2 * 3600         # a session's state is dropped this long after its last update
MAX_SESSION_BYTES = 150 * 2**20  # per-session budget (frames + recorded trajectories)


class SessionRegistry:
    """Weak bookkeeping of live session objects, so tests and the load benchmark can see they are released."""

    def __init__(self):
        self._live: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, obj) -> None:
        with self._lock:
            self._live.add(obj)

    def discard(self, obj) -> None:
        with self._lock:
            self._live.discard(obj)

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)

    def items(self) -> list:
        with self._lock:
            return list(self._live)


class LabSession:
    """One visitor's state in one lab. Subclasses set ``registry`` and say in :meth:`release` what to drop.

    ``stop`` is the visitor's Stop flag, which every job of the session polls; ``busy`` is True while a streamed job
    (training, a race) runs, so a second one is refused rather than queued."""

    registry: SessionRegistry

    def __init__(self):
        self.stop = threading.Event()
        self.busy = False
        self.created = time.time()
        self.registry.add(self)

    def release(self) -> None:   # pragma: no cover - every lab overrides it
        """Drop the session's own objects (runs, pictures, models); shared ones stay."""

    def close(self) -> None:
        """Stop any job of this session and drop what it holds."""
        self.stop.set()
        self.release()
        self.registry.discard(self)


def close_session(session) -> None:
    """gr.State's delete_callback for every lab: close the session (anything else is left alone)."""
    if isinstance(session, LabSession):
        session.close()
