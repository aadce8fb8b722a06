"""Shared fixtures: the whole app launched in-process (one server per test session), gradio_client clients (one
session each), and a headless Debian Chromium driven by Playwright for the browser tests.

The app is launched exactly as ``python app.py`` does (``app.build_demo()`` + ``app.launch_kwargs()``), except that
the toy lab's start-up default model trains for fewer steps, to keep the suite fast on a 2-core machine.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from types import SimpleNamespace

import pytest

from bench.common import CHROMIUM, launch_chromium

TEST_DEFAULT_STEPS = 400   # training steps of the toy lab's default model in tests (toy.DEFAULTS when served)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module of tiny-tensor tests (``pytestmark = usefixtures(...)``): faster than
    two there, and not slowed several-fold when the shared 2-core machine is busy."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def app_server():
    """The Diffusion Lab app on a free local port, torn down after the session: ``.url``, ``.demo``."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import app
    from ui.toy import session as toy_session

    toy_session.DEFAULT_FIT.setdefault("steps", TEST_DEFAULT_STEPS)
    from ui.guidance import session as guidance_session
    guidance_session.DEFAULT_FIT.setdefault("steps", TEST_DEFAULT_STEPS)
    demo = app.build_demo()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", **app.launch_kwargs())
    from ui.serving.routes import close_unused_routes
    close_unused_routes(demo)                             # as app.main does
    assert toy_session.SHARED.wait(timeout=900), "the toy lab's default model did not finish training"
    assert toy_session.SHARED.error is None, toy_session.SHARED.error
    assert guidance_session.SHARED.wait(timeout=900), "the guidance lab's default model did not finish training"
    assert guidance_session.SHARED.error is None, guidance_session.SHARED.error
    from ui.edit import session as edit_session
    assert edit_session.SHARED.wait(timeout=900), "the edit lab's default runs did not finish"
    assert edit_session.SHARED.error is None, edit_session.SHARED.error
    from ui.image import latent as latent_view
    assert latent_view.SHARED.wait(timeout=900), "the latent view's default runs did not finish"
    assert latent_view.SHARED.error is None, latent_view.SHARED.error
    try:
        yield SimpleNamespace(url=url, demo=demo)
    finally:
        demo.close()
        toy_session.SHARED.join(timeout=600)
        guidance_session.SHARED.join(timeout=600)
        edit_session.SHARED.join(timeout=600)
        latent_view.SHARED.join(timeout=600)


@pytest.fixture
def client(app_server, tmp_path):
    """A gradio_client Client: a fresh visitor session of its own."""
    from gradio_client import Client

    return Client(app_server.url, verbose=False, download_files=str(tmp_path / "downloads"))


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright (Playwright's own browser download does not work here)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if path is None:
        pytest.skip("Chromium is not installed (CI installs it with apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        chromium = launch_chromium(pw, executable_path=path)
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def browser_tab(browser, url: str, timeout_ms: int = 120_000):
    """A fresh browser tab (its own visitor session) on ``url``, 1400 x 1000; closed afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(timeout_ms)
    tab.goto(url)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def open_tab(browser):
    """``open_tab(url, timeout_ms=120_000)``: a fresh tab on ``url`` (:func:`browser_tab`), closed after the test."""
    with contextlib.ExitStack() as tabs:
        yield lambda url, timeout_ms=120_000: tabs.enter_context(browser_tab(browser, url, timeout_ms))


@pytest.fixture
def page(open_tab, app_server):
    """A fresh browser tab on the app."""
    return open_tab(app_server.url)
