"""The app in a real browser (Playwright + Debian's Chromium): one test function per lab tab.

Each test gets a fresh tab (``page`` fixture, tests/conftest.py) on the app launched in-process, drives it like a
visitor and saves screenshots under its tmp_path. Other tabs add their own ``test_<tab>_...`` functions here; the
helpers below (``slider_number``, ``wait_text``) are shared. Timings are recorded (bench/out/), never asserted.
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest

from diffusion import toy

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]


# --- shared helpers ---------------------------------------------------------------------------------------------
def slider_number(page, label: str):
    """The number box of the gr.Slider labelled ``label`` (Gradio names it "number input for <label>")."""
    return page.get_by_label(f"number input for {label}")


def set_slider(page, label: str, value) -> None:
    box = slider_number(page, label)
    box.fill(str(value))
    box.press("Enter")


def scrub_to(page, label: str, scrub_id: str, value: int, tries: int = 3) -> None:
    """Set the slider ``label`` to ``value`` and wait until the scrubber ``scrub_id`` shows that frame.

    Once in a full CI run (not reproduced in three runs of the test alone) the frame never followed the number
    box; a miss is retried (moving the slider away first, so the next set is a change), reported as a warning with
    what the page showed, and a failure only if every try misses."""
    from playwright.sync_api import TimeoutError as PageTimeout

    seen = []
    for _ in range(tries):
        set_slider(page, label, value)
        try:
            page.wait_for_function("([id, i]) => document.getElementById(id + '-frames')?.dataset.index === i",
                                   arg=[scrub_id, str(value)], timeout=15_000)
            break
        except PageTimeout as exc:
            seen.append(page.evaluate("""([id, label]) => {
                const box = document.querySelector(`input[aria-label="number input for ${label}"]`);
                const range = document.querySelector(`input[aria-label="range slider for ${label}"]`);
                const root = document.getElementById(id + '-frames');
                return {box: box?.value, range: range?.value, max: range?.max, index: root?.dataset.index,
                        n: root?.dataset.n, error: %r};
            }""" % type(exc).__name__, [scrub_id, label]))
            set_slider(page, label, 0 if value else 1)
    else:
        raise AssertionError(f"the {scrub_id} frames never showed frame {value}: {seen}")
    if seen:
        warnings.warn(f"{scrub_id}: frame {value} shown only after {len(seen)} retries; the page showed {seen}")


def wait_text(page, elem_id: str, text: str, timeout: float = 300_000) -> None:
    """Wait until the element ``#elem_id`` shows ``text`` somewhere in it."""
    page.wait_for_function("([id, text]) => (document.getElementById(id)?.innerText || '').includes(text)",
                           arg=[elem_id, text], timeout=timeout)


def shown_frame(page, scrub_id: str = "toy-scrub") -> dict:
    return page.evaluate("""(id) => {
        const root = document.getElementById(id + '-frames');
        const imgs = [...root.querySelectorAll('img.dl-frame.dl-on')];
        return {index: root.dataset.index, n: root.dataset.n, srcs: imgs.map(i => i.src)};
    }""", scrub_id)


# --- Toy lab ------------------------------------------------------------------------------------------------------
def test_toy_lab_train_sample_scrub_play_and_draw(page, tmp_path):
    page.wait_for_selector("#toy-scrub-frames img.dl-on")                 # the shared default model is alive
    page.screenshot(path=str(tmp_path / "toy-loaded.png"), full_page=True)

    # train a short model of our own (the page then samples with it by itself)
    page.get_by_text("Training settings").click()
    set_slider(page, "Training steps", 200)
    page.get_by_role("button", name="Train", exact=True).click()
    wait_text(page, "toy-train-status", "Done")
    wait_text(page, "toy-quality", f"your model: {toy.DEFAULTS['objective']} on moons, 200 steps")   # then sampled

    # sample again with other settings: 30 steps -> 31 frames per view
    set_slider(page, "Sampling steps", 30)
    page.get_by_role("button", name="Sample", exact=True).click()
    page.wait_for_function("document.getElementById('toy-scrub-frames')?.dataset.n === '31'")
    before = shown_frame(page)
    assert before["index"] == "0" and len(before["srcs"]) == 2         # forward and reverse panels, clean end

    # drag the slider with the mouse: the picture must change, without a server round trip
    sys.path.insert(0, str(ROOT))
    from bench.bench_scrub import context, measure_scrub, write
    result = measure_scrub(page, moves=20)
    after = shown_frame(page)
    assert after["index"] != before["index"]
    assert after["srcs"][0] != before["srcs"][0] and after["srcs"][1] != before["srcs"][1]
    assert result["measured"] == 20 and len(set(result["frames_seen"])) == 20
    write({"benchmark": "scrub_latency", "source": "tests/test_browser.py", **result, **context()})
    (tmp_path / "scrub_latency.json").write_text(json.dumps(result, indent=2))
    page.screenshot(path=str(tmp_path / "toy-scrubbed.png"), full_page=True)

    # overlays redraw every frame; Play runs the reverse process back to clean data (frame 0)
    page.get_by_label("learned field").check()
    page.wait_for_function("(src) => document.querySelector('#toy-scrub-frames img.dl-on')?.src !== src",
                           arg=after["srcs"][0])
    assert shown_frame(page)["index"] == after["index"]                  # redrawn at the same step
    page.get_by_role("button", name="▶ Play reverse (noise → data)").click()
    page.wait_for_function("document.getElementById('toy-scrub-frames')?.dataset.index === '0'", timeout=30_000)
    assert slider_number(page, "Step through the run: 0 = clean data … right end = pure noise").input_value() == "0"

    # draw a distribution on the sketch pad and use it as data
    page.get_by_label("drawing", exact=True).check()
    canvas = page.locator("#toy-drawing canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(box["x"] + box["width"] * (0.2 + 0.06 * k), box["y"] + box["height"] * (0.5 - 0.02 * k))
    page.mouse.up()
    page.get_by_role("button", name="Use this data").click()
    wait_text(page, "toy-data-info", "your drawing")
    page.screenshot(path=str(tmp_path / "toy-drawing.png"), full_page=True)


# --- Lessons ------------------------------------------------------------------------------------------------------
def _choose_lesson(page, name: str) -> None:
    page.click("#dl-lesson-menu input")
    page.get_by_role("option", name=name, exact=True).click()


def test_a_lesson_sets_the_controls_runs_and_says_what_to_look_for(page, tmp_path):
    wait_text(page, "toy-scrub", "frames")                      # the default run is on screen first
    _choose_lesson(page, "DDPM vs DDIM and η")
    wait_text(page, "dl-lesson-prompt", "With η = 0 DDIM is deterministic", timeout=30_000)
    wait_text(page, "toy-scrub", "ddim, 50 steps, η = 0", timeout=300_000)        # it ran, with its settings
    assert page.input_value("#toy-sample-btn ~ * input, [aria-label='number input for Sampling steps']") == "50"
    page.screenshot(path=str(tmp_path / "lesson_toy.png"))
    _choose_lesson(page, "Break it: T too small")                # another tab: it switches there and runs
    wait_text(page, "dl-lesson-prompt", "Linear betas with only T = 50", timeout=30_000)
    page.wait_for_function("() => (document.getElementById('cmp-break-md')?.innerText || '').length > 40",
                           timeout=300_000)
    assert page.locator("#cmp-break-btn").is_visible()
    page.screenshot(path=str(tmp_path / "lesson_compare.png"))


def test_a_share_link_opens_its_lesson_set_up(open_tab, app_server, tmp_path):
    from urllib.parse import quote
    page = open_tab(app_server.url.rstrip("/") + "/?lesson=" + quote("Exact vs learned score"))
    wait_text(page, "dl-lesson-prompt", "The grey arrows are the network's score", timeout=120_000)
    assert "a link to this lesson" in page.inner_text("#dl-lesson-prompt")
    for label in ("learned field", "exact field & exact-denoiser samples"):
        page.wait_for_function("(l) => document.querySelector(`input[aria-label=\"${l}\"]`)?.checked === true "
                               "|| [...document.querySelectorAll('label')].some(x => x.innerText.trim() === l && "
                               "x.querySelector('input')?.checked)", arg=label, timeout=30_000)
    # once the default run is up the lesson presses Sample, so the frames are drawn with its overlays: at t > 0 the
    # reverse panel shows the learned field's dark arrows and the exact field's orange ones (the default run's frame
    # has ~600 pixels of each kind, from its points and text; with the arrows ~4,600 and ~1,900)
    import base64
    import io
    import time

    import numpy as np
    from PIL import Image

    def arrow_pixels() -> tuple[int, int]:
        scrub_to(page, "Step through the run: 0 = clean data … right end = pure noise", "toy-scrub", 5)
        src = shown_frame(page)["srcs"][-1]
        a = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB")).astype(int)
        r, g, b = a[..., 0], a[..., 1], a[..., 2]
        orange = int(((r > 200) & (g > 90) & (g < 190) & (b < 110)).sum())
        dark = int(((abs(r - g) < 12) & (abs(g - b) < 12) & (r < 140)).sum())
        return orange, dark

    deadline, seen = time.time() + 300, []
    while not ((seen := arrow_pixels())[0] > 2000 and seen[1] > 1200):
        assert time.time() < deadline, f"the lesson's overlays never reached the frames: {seen}"
        page.wait_for_timeout(1000)
    page.screenshot(path=str(tmp_path / "share_link.png"))
    bad = open_tab(app_server.url.rstrip("/") + "/?lesson=" + quote("<script>nope</script>"))
    wait_text(bad, "toy-scrub", "frames")                     # an unknown lesson is ignored: the usual first page
    assert bad.inner_text("#dl-lesson-prompt").strip() == ""


def test_presentation_mode_hides_the_forms_and_enlarges_the_pictures(page, tmp_path):
    wait_text(page, "toy-scrub", "frames")
    panel = "#toy-scrub-frames .dl-panel"
    before = page.eval_on_selector(panel, "e => e.getBoundingClientRect().width")
    assert page.get_by_role("button", name="Use this data").is_visible()
    page.click("#dl-present-btn")
    page.wait_for_function("() => document.body.classList.contains('dl-present')")
    assert not page.get_by_role("button", name="Use this data").is_visible()      # the form is gone
    after = page.eval_on_selector(panel, "e => e.getBoundingClientRect().width")
    assert after >= 1.4 * before and after >= 500, (before, after)
    assert page.locator("#toy-scrub-frames").is_visible()
    assert "Leave presentation mode" in page.inner_text("#dl-present-btn")
    page.screenshot(path=str(tmp_path / "presentation.png"))
    page.click("#dl-present-btn")                                                   # and back
    page.wait_for_function("() => !document.body.classList.contains('dl-present')")
    assert page.get_by_role("button", name="Use this data").is_visible()
