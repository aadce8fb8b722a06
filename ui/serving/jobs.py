"""A session's long job, streamed: it runs in a fresh low-priority thread while the handler yields progress to the
page every ``poll_s``; the session's Stop flag ends it, and a second job in the same session is refused.

    job = StreamedJob(session, work, name="toy-train")
    for _ in job.running(POLL_S):
        yield ...progress...
    result = job.result()          # the work's return value, or its exception raised here
"""
from __future__ import annotations

import contextvars
import threading
from typing import Any, Callable


from .priority import lower_priority
from ..widgets.inputs import refusal

__all__ = ["StreamedJob"]


class StreamedJob:
    """``work()`` for ``session`` (a :class:`~ui.serving.session.LabSession`), started at once in its own thread."""

    def __init__(self, session, work: Callable[[], Any], name: str, busy_message: str):
        if session.busy:
            raise refusal(busy_message)
        self.session, self._box = session, {}
        session.stop.clear()
        context = contextvars.copy_context()      # gr.Progress finds its request through context variables

        def run():
            context.run(lower_priority)           # a scrub or a redraw by anyone goes first (see job_nice)
            try:
                self._box["result"] = context.run(work)
            except Exception as exc:              # handed to the handler by result()
                self._box["error"] = exc

        session.busy = True
        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    def running(self, poll_s: float):
        """Yield every ``poll_s`` while the job runs. However the handler leaves (done, an error, the visitor gone
        and the stream closed), the session is freed and its Stop flag set, so an orphaned job ends too."""
        try:
            while self._thread.is_alive():
                self._thread.join(poll_s)
                yield
        finally:
            self.session.busy = False
            self.session.stop.set()

    def result(self):
        if "error" in self._box:
            raise self._box["error"]
        return self._box["result"]
