"""ui.lifecycle: closed sessions are released through Gradio's state holder; malloc arenas are capped.

The end-to-end check (real visitors, closed clients, the per-session stores empty afterwards, the app's unload
handler registered) is in test_load.py."""
from __future__ import annotations

import platform
from types import SimpleNamespace

import gradio as gr
import pytest

from ui.serving import lifecycle


def holder_with(session_hash: str, closed: bool):
    """A Gradio StateHolder with one session whose gr.State holds a value with a delete callback."""
    from gradio.state_holder import StateHolder
    deleted = []
    with gr.Blocks() as demo:
        state = gr.State(None, time_to_live=3600, delete_callback=deleted.append)
    holder = StateHolder()
    holder.set_blocks(demo)
    holder[session_hash][state._id] = "the visitor's run"
    holder[session_hash].is_closed = closed
    return demo, holder, deleted


def test_release_deletes_a_closed_sessions_state_and_forgets_it():
    demo, holder, deleted = holder_with("abc", closed=True)
    assert lifecycle.live_state_count(demo) == 1 and lifecycle.session_count(demo) == 1
    assert lifecycle.release(demo, "abc")
    assert deleted == ["the visitor's run"]
    assert lifecycle.live_state_count(demo) == 0 and lifecycle.session_count(demo) == 0


def test_release_leaves_open_and_unknown_sessions_alone():
    demo, holder, deleted = holder_with("abc", closed=False)
    assert not lifecycle.release(demo, "abc") and not lifecycle.release(demo, "nobody")
    assert not lifecycle.release(demo, None) and not lifecycle.release(SimpleNamespace(), "abc")
    assert deleted == [] and lifecycle.session_count(demo) == 1


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's arena limit is glibc's")
def test_malloc_arenas_are_capped_unless_the_environment_decides(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert lifecycle.limit_malloc_arenas(2) is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert lifecycle.limit_malloc_arenas(2) is False
