"""Release a visitor's session soon after their tab closes.

Gradio keeps a closed session's ``gr.State`` values for an hour (``SessionState.STATE_TTL_WHEN_CLOSED``) before its
once-a-second sweeper calls their ``delete_callback``, and keeps the session's own record (a copy of the page's
config) until 10,000 sessions have come after it. A class of 100 leaving their tabs would hold up to 100 x 150 MB
for that hour. Reopening the page starts a *new* session anyway, so that hour buys nothing here.

:func:`release_closed_sessions` registers a ``demo.unload`` handler: it runs when a visitor's heartbeat connection
ends (a closed or reloaded tab, or a closed ``gradio_client.Client``), and :data:`CLOSED_TTL_S` seconds later
:func:`release` deletes the session's state — every ``delete_callback`` runs (``ui.serving.session.close_session``
stops the session's running jobs and drops its runs) — and forgets the session, then asks the C allocator to
hand freed memory back to the system. The per-tab ``time_to_live`` (ui.serving.session.SESSION_TTL_S) still bounds
sessions that stay open.
"""
from __future__ import annotations

import ctypes
import datetime
import os
import threading
import time

import gradio as gr

CLOSED_TTL_S = 60.0   # seconds a closed tab's state is kept (a brief network drop mid-run loses nothing sooner)
IDLE_TTL_S = 45 * 60.0  # a session with no event for this long is released, closed or not: API sessions
                        # (gradio_client scripts send no heartbeat, so they never "close") and forgotten tabs
SWEEP_S = 5.0           # how often the one sweeper thread looks
SESSION_CAPACITY = 1000  # session records Gradio keeps (launch's state_session_capacity; its default 10,000
                         # would hold ~4 GB: 1,500 fresh session hashes cost +635 MiB)


def release_closed_sessions(demo: gr.Blocks) -> None:
    """Register the unload handler on ``demo`` (call once, while building it) and start the one sweeper thread.

    The unload handler only notes the session (a dict entry: no thread, no timer per call -- 1,500 unload calls
    once started ~950 timer threads); the sweeper releases noted sessions CLOSED_TTL_S later, and every session
    idle for IDLE_TTL_S."""
    due: dict[str, float] = {}
    lock = threading.Lock()

    def on_unload(request: gr.Request):
        holder = getattr(demo, "state_holder", None)
        if holder is None or request.session_hash not in holder.session_data:
            return                                          # not a session this server knows: nothing to note
        with lock:
            due.setdefault(request.session_hash, time.monotonic() + CLOSED_TTL_S)

    def sweep():
        while True:
            time.sleep(SWEEP_S)
            try:
                now = time.monotonic()
                with lock:
                    ready = [h for h, t in due.items() if t <= now]
                    for h in ready:
                        due.pop(h, None)
                for h in ready:
                    release(demo, h)
                release_idle(demo, IDLE_TTL_S)
            except Exception:  # pragma: no cover - the sweeper must outlive any one bad session
                pass

    threading.Thread(target=sweep, name="session-sweeper", daemon=True).start()
    demo.unload(on_unload)


def release_idle(demo: gr.Blocks, idle_s: float) -> int:
    """Release every session whose last event is older than ``idle_s`` seconds; returns how many."""
    holder = getattr(demo, "state_holder", None)
    if holder is None:
        return 0
    cutoff = datetime.datetime.now() - datetime.timedelta(seconds=idle_s)
    with holder.lock:
        stale = [h for h, t in holder.time_last_used.items() if t < cutoff]
    return sum(release(demo, h, closed_only=False) for h in stale)


def release(demo: gr.Blocks, session_hash: str | None, closed_only: bool = True) -> bool:
    """Delete the session ``session_hash``'s state (running its delete callbacks) and forget the session.

    Returns False when there was nothing to release (no such session, or -- ``closed_only`` -- it is not closed)."""
    holder = getattr(demo, "state_holder", None)
    state = None if holder is None or session_hash is None else holder.session_data.get(session_hash)
    if state is None or (closed_only and not state.is_closed):
        return False
    holder.delete_state(session_hash)
    with holder.lock:
        holder.session_data.pop(session_hash, None)
        holder.time_last_used.pop(session_hash, None)
    trim_memory()
    return True


def trim_memory() -> None:
    """Ask glibc to return freed heap memory to the system (a no-op where there is no glibc)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


M_ARENA_MAX = -8      # glibc's mallopt() parameter number for MALLOC_ARENA_MAX


def limit_malloc_arenas(count: int = 2) -> bool:
    """Cap glibc's malloc arenas at ``count`` (as MALLOC_ARENA_MAX does), unless the environment sets it.

    glibc gives busy threads arenas of their own (up to 8 per core); a server whose 40 worker threads take turns
    with large, short-lived arrays then keeps freed memory spread over many arenas that malloc_trim cannot shrink.
    bench/load_test.py measures what it buys (bench/README.md: RSS after release, with and without). Call it
    before the server starts its threads. Returns True when the limit was set."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, int(count)))
    except (OSError, AttributeError):
        return False


def live_state_count(demo: gr.Blocks) -> int:
    """How many gr.State values the server still holds, over all sessions (for tests and the load benchmark)."""
    holder = getattr(demo, "state_holder", None)
    if holder is None:
        return 0
    return sum(len(s.state_data) for s in list(holder.session_data.values()))


def session_count(demo: gr.Blocks) -> int:
    """How many sessions the server still keeps a record of."""
    holder = getattr(demo, "state_holder", None)
    return 0 if holder is None else len(holder.session_data)


__all__ = ["CLOSED_TTL_S", "IDLE_TTL_S", "SESSION_CAPACITY", "release_closed_sessions", "release", "release_idle", "trim_memory", "limit_malloc_arenas",
           "live_state_count", "session_count"]
