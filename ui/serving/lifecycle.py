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
import os
import threading

import gradio as gr

CLOSED_TTL_S = 60.0   # seconds a closed tab's state is kept (a brief network drop mid-run loses nothing sooner)


def release_closed_sessions(demo: gr.Blocks) -> None:
    """Register the unload handler on ``demo`` (call once, while building it)."""

    def on_unload(request: gr.Request):
        timer = threading.Timer(CLOSED_TTL_S, release, args=(demo, request.session_hash))
        timer.daemon = True
        timer.start()

    demo.unload(on_unload)


def release(demo: gr.Blocks, session_hash: str | None) -> bool:
    """Delete the closed session ``session_hash``'s state (running its delete callbacks) and forget the session.

    Returns False when there was nothing to release (no such session, or it is not closed)."""
    holder = getattr(demo, "state_holder", None)
    state = None if holder is None or session_hash is None else holder.session_data.get(session_hash)
    if state is None or not state.is_closed:
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


__all__ = ["CLOSED_TTL_S", "release_closed_sessions", "release", "trim_memory", "limit_malloc_arenas",
           "live_state_count", "session_count"]
