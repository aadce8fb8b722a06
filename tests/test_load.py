"""The classroom load test (bench/load_test.py) at a small N against the app launched in-process.

Asserted: every visitor completes, none gets content that is not its own, and once their clients are closed the
server releases their session state. Latency is reported by the benchmark, never asserted here (the CI machine
is a loaded 2-core box).
"""
from __future__ import annotations

import gc
import time

import numpy as np
import pytest

from bench import load_test as L

N = 5


@pytest.fixture
def quick_release(monkeypatch):
    """Closed tabs released after 1 s instead of a minute, so the test need not wait."""
    from ui.serving import lifecycle
    monkeypatch.setattr(lifecycle, "CLOSED_TTL_S", 1.0)


def live(registry) -> set[int]:
    gc.collect()
    return {id(s) for s in registry.items()}


def test_visitors_plans_differ_so_cross_talk_would_show():
    plans = [L.plan(i) for i in range(20)]
    for key in ("data_seed", "n_data", "train_steps", "sample_seed", "n_sample", "image_seed"):
        assert len({p[key] for p in plans}) == 20, key
    assert {p["dataset"] for p in plans} == set(L.DATASETS)


def test_only_loopback_urls_and_a_bounded_number_of_sessions():
    with pytest.raises(ValueError, match="loopback only"):
        L.run_load("http://example.org:7860", 1)
    with pytest.raises(ValueError, match="sessions must be in"):
        L.run_load("http://127.0.0.1:1", L.MAX_SESSIONS + 1)


def test_a_visitor_shown_someone_elses_frame_is_reported_as_cross_talk(app_server, tmp_path):
    load = L.Load(app_server.url, 120, time.monotonic() + 300, tmp_path)
    wrong = {("forward", 0): np.zeros((340, 340, 3), np.uint8)}      # not the default run's first frame
    result = L.visitor(load, 0, L.plan(0), wrong)
    L._close_all(load)
    assert result["cross_talk"] and not result["ok"] and "default run" in result["error"]


def test_five_concurrent_visitors_complete_get_their_own_results_and_are_released(app_server, tmp_path,
                                                                                   quick_release):
    from diffusion import hub
    from ui.image import session as image_tab
    from ui.toy import session as toy_session
    unload = [d for d in app_server.demo.fns.values() if any(t[1] == "unload" for t in d.targets)]
    assert unload, "app.build_demo() must call ui.lifecycle.release_closed_sessions(demo)"
    image = (hub.loading.BUNDLED_DIR / "config.json").is_file()   # the bundled MNIST model (CI has it)
    toy_before, image_before = live(toy_session.SESSIONS), live(image_tab.SESSIONS)

    report = L.run_load(app_server.url, N, train_steps=150, image_steps=3, image=image, timeout_s=600,
                        call_timeout_s=300, warm_up=False, download_dir=tmp_path)
    assert report["cross_talk"] == 0, report["failures"]
    assert report["completed"] == N, report["failures"]
    assert report["latency"]["/toy_frame"]["n"] == 2 * L.SCRUBS * N
    assert report["latency"][L.BROWSER_FRAME]["n"] == L.SCRUBS * N       # the page's protocol, same checks
    assert report["idle_floor"][L.BROWSER_FRAME]["n"] == 10
    assert report["probe"]["samples"] > 0 and report["probe"]["wrong_or_failed"] == 0, report["probe"]
    assert report["latency"]["/toy_train"]["n"] == N

    deadline = time.monotonic() + 120      # heartbeat noticed within ~15 s, then the 1 s closed-tab TTL
    while time.monotonic() < deadline:
        toy_left = live(toy_session.SESSIONS) - toy_before
        image_left = live(image_tab.SESSIONS) - image_before
        if not toy_left and not image_left:
            break
        time.sleep(1.0)
    assert not toy_left and not image_left, f"{len(toy_left)} toy and {len(image_left)} image sessions not released"
