"""What a lab computes once per server and shares read-only with every session (a default model, its run): built in
one background thread on first need; ``wait()`` for it, ``join()`` it before the process exits."""
from __future__ import annotations

import threading
import traceback

__all__ = ["SharedBuild"]


class SharedBuild:
    """Subclasses say what to build in ``_build()``, which must set ``ready`` when done (and ``error`` on failure)."""

    thread_name = "lab-defaults"

    def __init__(self):
        self.ready = threading.Event()
        self.error: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin the build (idempotent; returns at once)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        self.start()
        return self.ready.wait(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background thread to finish, e.g. before the process exits: a daemon thread still inside
        torch at interpreter shutdown can abort the process."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        """The thread: ``_build()``, and whatever happens in it, ``ready`` is set, so no visitor waits forever on a
        build that died (an uncaught error becomes ``error``)."""
        try:
            self._build()
        except BaseException:
            if self.error is None:
                self.error = traceback.format_exc(limit=3)
            traceback.print_exc()
        finally:
            self.ready.set()

    def _build(self) -> None:  # pragma: no cover - every lab overrides it
        raise NotImplementedError
