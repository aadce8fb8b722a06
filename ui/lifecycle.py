"""Release a visitor's session state soon after their tab closes (issue 6, item 2).

Gradio keeps a closed session's ``gr.State`` values for an hour (``SessionState.STATE_TTL_WHEN_CLOSED``) before its
once-a-second sweeper calls their ``delete_callback``; a class of 100 leaving their tabs would hold up to 100 x
150 MB for that hour. Reopening the page starts a *new* session anyway, so that hour buys nothing here.

:func:`release_closed_sessions` registers a ``demo.unload`` handler (it runs when a visitor's heartbeat connection
ends: a closed or reloaded tab, or a ``gradio_client.Client`` that is closed) which shortens the closed session's
time to live to :data:`CLOSED_TTL_S`. Gradio's own sweeper then deletes the state and runs every
``delete_callback`` (``ui.toy_session.close_session`` and the others), which stop running jobs and drop the
session's runs. The per-tab ``time_to_live`` (ui.common.SESSION_TTL_S) still bounds sessions that stay open.
"""
from __future__ import annotations

import gradio as gr

CLOSED_TTL_S = 60.0   # seconds a closed tab's state is kept (a brief network drop mid-run loses nothing sooner)


def release_closed_sessions(demo: gr.Blocks) -> None:
    """Register the unload handler on ``demo`` (call once, after building it)."""

    def on_unload(request: gr.Request):
        shorten_closed_ttl(demo, request.session_hash)

    demo.unload(on_unload)


def shorten_closed_ttl(demo: gr.Blocks, session_hash: str | None, ttl_s: float | None = None) -> bool:
    """Give the session ``session_hash`` a closed-tab time to live of ``ttl_s`` (default :data:`CLOSED_TTL_S`).

    Returns False when the server holds no state for that session (it never set any)."""
    holder = getattr(demo, "state_holder", None)
    state = None if holder is None or session_hash is None else holder.session_data.get(session_hash)
    if state is None:
        return False
    state.STATE_TTL_WHEN_CLOSED = CLOSED_TTL_S if ttl_s is None else ttl_s
    return True


def live_state_count(demo: gr.Blocks) -> int:
    """How many gr.State values the server still holds, over all sessions (for tests and the load benchmark)."""
    holder = getattr(demo, "state_holder", None)
    if holder is None:
        return 0
    return sum(len(s.state_data) for s in list(holder.session_data.values()))


__all__ = ["CLOSED_TTL_S", "release_closed_sessions", "shorten_closed_ttl", "live_state_count"]
