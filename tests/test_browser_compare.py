"""The Compare tab in a real browser (headless Debian Chromium through Playwright; fixtures in tests/conftest.py).

Open the tab, compare schedules, run a small race (clouds, table, PNG link), start a long race and stop it, break
something; screenshots go to the test's temp dir. The tab is served standalone (see tests/test_app_compare.py).
"""
from __future__ import annotations

import pytest

from tests.test_app_compare import compare_server  # noqa: F401  (the standalone server fixture)

pytest.importorskip("playwright.sync_api")
SAMPLERS = ("ddpm", "ddim", "euler", "heun", "dpmpp_2m")     # the race's default samplers


@pytest.fixture
def cpage(open_tab, compare_server):  # noqa: F811
    return open_tab(compare_server.url, timeout_ms=180_000)


def _image_src(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} img").first.get_attribute("src") or ""


def rows_per_sampler(page, n: int, timeout_s: float = 300) -> str:
    """Wait until the race table lists every sampler exactly ``n`` times (one row per step count); its text."""
    import time
    deadline = time.time() + timeout_s
    while True:
        table = page.inner_text("#cmp-race-table")
        if all(table.count(s) == n for s in SAMPLERS):
            return table
        assert time.time() < deadline, (n, table)
        page.wait_for_timeout(200)


def test_compare_tab_in_the_browser(cpage, tmp_path, monkeypatch):
    from diffusion.labs import race
    monkeypatch.setattr(race, "MAX_RACE_SECONDS", 10_000.0)     # the long race below is long on purpose
    page = cpage
    page.wait_for_selector("#cmp-sch-btn")

    # 1 · schedules: the tab opens with them filled in (no button pressed), the same as pressing the button
    page.wait_for_function("document.querySelector('#cmp-sch-md')?.innerText.includes('flagged')")
    assert _image_src(page, "cmp-curves")
    page.click("#cmp-sch-btn")
    page.wait_for_function("document.querySelector('#cmp-sch-md')?.innerText.includes('flagged')")
    assert _image_src(page, "cmp-curves")
    assert "No schedule flagged" in page.inner_text("#cmp-sch-md")

    # 3 · the tab opens with the default race drawn (5 samplers x 4 step counts, no button pressed) ...
    rows_per_sampler(page, 4)
    assert _image_src(page, "cmp-race-clouds")
    # ... then a small race: clouds, a table row per run, a PNG to download
    page.fill("#cmp-race-steps textarea, #cmp-race-steps input", "2, 5")
    page.click("#cmp-race-btn")
    table = rows_per_sampler(page, 2)                             # 5 samplers x 2 step counts
    page.wait_for_function("document.querySelector('#cmp-race-md')?.innerText.includes('Best for a budget')")
    assert _image_src(page, "cmp-race-clouds")
    assert page.locator("#cmp-race-png a").count() >= 1
    page.screenshot(path=str(tmp_path / "compare-race.png"), full_page=True)

    # a long race, stopped: the finished cells are kept and the page says so
    page.fill("#cmp-race-steps textarea, #cmp-race-steps input", "200, 400, 800, 900")
    page.click("#cmp-race-btn")
    page.wait_for_function("document.querySelector('#cmp-race-md')?.innerText.includes('Racing')")
    page.click("#cmp-race-stop")
    page.wait_for_function("document.querySelector('#cmp-race-md')?.innerText.includes('stopped')",
                           timeout=60_000)
    table = page.inner_text("#cmp-race-table")
    assert sum(table.count(s) for s in SAMPLERS) < 20, table

    # 4 · break it
    page.click("#cmp-break-btn")
    page.wait_for_function("document.querySelector('#cmp-break-md')?.innerText.includes('quality')")
    assert _image_src(page, "cmp-break-img")
    page.screenshot(path=str(tmp_path / "compare-tab.png"), full_page=True)
