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


def test_idle_sessions_are_released_open_or_closed_and_busy_ones_are_kept():
    import datetime
    demo, holder, deleted = holder_with("idle", closed=False)      # an API session: it never closes
    holder["busy"]["x"] = "another visitor's run"
    holder.time_last_used["idle"] = datetime.datetime.now() - datetime.timedelta(hours=1)
    assert lifecycle.release_idle(demo, 45 * 60) == 1
    assert deleted == ["the visitor's run"] and "idle" not in holder.session_data and "busy" in holder.session_data
    assert lifecycle.release_idle(demo, 45 * 60) == 0


def test_the_app_caps_gradios_session_records():
    import app
    assert app.launch_kwargs()["state_session_capacity"] == lifecycle.SESSION_CAPACITY <= 1000


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's arena limit is glibc's")
def test_malloc_arenas_are_capped_unless_the_environment_decides(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert lifecycle.limit_malloc_arenas(2) is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert lifecycle.limit_malloc_arenas(2) is False


def test_a_flood_of_unload_calls_starts_no_thread_per_call():
    import threading
    with gr.Blocks() as demo:
        gr.State(None)
    before = threading.active_count()
    lifecycle.release_closed_sessions(demo)
    on_unload = list(demo.fns.values())[-1].fn
    holder = SimpleNamespace(session_data={"known": object()})
    demo.state_holder = holder
    for i in range(1500):
        on_unload(SimpleNamespace(session_hash=f"fresh-{i}"))     # a flood of made-up sessions
    on_unload(SimpleNamespace(session_hash="known"))
    assert threading.active_count() <= before + 1                 # the one sweeper, nothing per call


def test_a_start_up_build_that_dies_still_says_it_is_done_and_why():
    """ui.serving.shared: a build whose error escapes its own handling must not leave visitors waiting forever."""
    from ui.serving.shared import SharedBuild

    class Dies(SharedBuild):
        def _build(self):
            raise ImportError("cannot import name 'UNet2DModel' (a partially initialised module)")
    build = Dies()
    assert build.wait(timeout=10)
    assert "ImportError: cannot import name 'UNet2DModel'" in build.error


def test_models_loaded_from_several_threads_at_once_all_load(tmp_path):
    """The labs' start-up builds load models in parallel threads; diffusers' lazy imports are serialised by the hub
    (two threads importing diffusers at once once killed a build with an ImportError). Run in a fresh process, so
    that diffusers is imported there for the first time, by these threads."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = f"""
import sys, threading
sys.path[:0] = [{str(root)!r}, {str(root / 'tests')!r}]
from tiny_unet import make_checkpoint, make_latent_pipeline
from diffusion import hub
folders = [make_checkpoint({str(tmp_path)!r} + '/a', attention=False), make_checkpoint({str(tmp_path)!r} + '/b'),
           make_latent_pipeline({str(tmp_path)!r} + '/c')]
for name in [m for m in list(sys.modules) if m.startswith("diffusers")]:
    del sys.modules[name]                      # as if nothing had imported it yet
errors, barrier = [], threading.Barrier(3)
def load(folder):
    barrier.wait()
    try:
        hub.load_folder(folder, measure=False)
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=load, args=(f,)) for f in folders]
[t.start() for t in threads]; [t.join() for t in threads]
print("errors", errors)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert "errors []" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
