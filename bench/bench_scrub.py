"""Scrub latency in a real browser: from the time slider's input event to the new frame painted.

    python bench/bench_scrub.py [--moves 20] [--url URL]

Without --url it launches the app in-process (as ``python app.py`` does, default model trained for fewer steps to
save time; scrubbing does not depend on the model), opens it in headless Debian Chromium, drags the Toy lab's time
slider with the mouse in ``--moves`` steps and prints JSON: the median and other figures in milliseconds. It also
writes them to ``bench/out/scrub_latency.json``. The browser test (tests/test_browser.py) records the same figure
with :func:`measure_scrub`.

What is measured, per move: ``t0`` = the slider's ``input`` event (a capturing listener on the range input, which
fires before Gradio's own handler); ``t1`` = the first moment after the frame swap has been painted: a
MutationObserver sees the scrubber switch frames, then the newly shown image is decoded (``img.decode()``), then
one ``requestAnimationFrame`` (the frame is about to be painted) and a ``setTimeout(0)`` (it has been).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "scrub_latency.json"
SCRUB_ID, SLIDER_ID = "toy-scrub", "toy-t"

_INSTALL = """([scrubId, sliderId]) => {
  const range = document.querySelector('#' + sliderId + ' input[type=range]');
  const root = document.getElementById(scrubId + '-frames');
  window.__scrub = {lat: [], t0: null};
  range.addEventListener('input', () => { window.__scrub.t0 = performance.now(); }, true);
  new MutationObserver(() => {
    const t0 = window.__scrub.t0;
    if (t0 === null) return;
    window.__scrub.t0 = null;
    const shown = root.querySelector('img.dl-frame.dl-on');
    const done = () => requestAnimationFrame(() => setTimeout(() => {
      window.__scrub.lat.push(performance.now() - t0);
    }, 0));
    (shown && shown.decode ? shown.decode() : Promise.resolve()).then(done, done);
  }).observe(root, {attributes: true, attributeFilter: ['data-index']});
  return parseInt(root.dataset.n);
}"""


def measure_scrub(page, moves: int = 20, pause_ms: int = 150) -> dict:
    """Drag the toy lab's time slider in ``moves`` mouse steps; return latency figures (ms) and the frames seen.

    ``page``: a Playwright page showing the app with a scrubbable run. Each move lands on a different frame.
    """
    frames = page.evaluate(_INSTALL, [SCRUB_ID, SLIDER_ID])
    if frames < moves + 1:
        raise ValueError(f"the run has {frames} frames; need at least {moves + 1} for {moves} distinct moves")
    track = page.locator(f"#{SLIDER_ID} input[type=range]")
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    y = box["y"] + box["height"] / 2
    x_of = lambda i: box["x"] + 8 + (box["width"] - 16) * i / (frames - 1)   # noqa: E731 (thumb ~16 px)
    start = page.evaluate(f"document.getElementById('{SCRUB_ID}-frames').dataset.index")
    page.mouse.move(x_of(int(start)), y)
    page.mouse.down()
    seen = []
    for k in range(1, moves + 1):
        target = round(k * (frames - 1) / moves)
        page.mouse.move(x_of(target), y, steps=1)
        page.wait_for_timeout(pause_ms)
        seen.append(int(page.evaluate(f"document.getElementById('{SCRUB_ID}-frames').dataset.index")))
    page.mouse.up()
    page.wait_for_timeout(300)
    lat = page.evaluate("window.__scrub.lat")
    return {
        "median_ms": round(statistics.median(lat), 2) if lat else None,
        "p90_ms": round(sorted(lat)[int(0.9 * (len(lat) - 1))], 2) if lat else None,
        "max_ms": round(max(lat), 2) if lat else None,
        "moves": moves,
        "measured": len(lat),
        "frames_in_run": frames,
        "frames_seen": seen,
        "samples_ms": [round(v, 2) for v in lat],
    }


def write(result: dict, path: Path = OUT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return path


def context() -> dict:
    return {"machine": platform.machine(), "cpus": os.cpu_count(),
            "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--url", help="an already running app (default: launch one in-process)")
    parser.add_argument("--train-steps", type=int, default=300, help="default model's steps when launching")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from bench.common import launch_chromium

    demo = None
    url = args.url
    if url is None:
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        import app
        from ui.toy import session as toy_session
        toy_session.DEFAULT_FIT.setdefault("steps", args.train_steps)
        toy_session.WARM_EXTRAS = False
        demo = app.build_demo()
        _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1",
                                **app.launch_kwargs())
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector(f"#{SCRUB_ID}-frames img.dl-on", timeout=600_000)
            result = {"benchmark": "scrub_latency", "source": "bench/bench_scrub.py", **measure_scrub(page, args.moves),
                      **context()}
            browser.close()
    finally:
        if demo is not None:
            demo.close()
            from ui.toy import session as toy_session
            toy_session.SHARED.join(timeout=600)
    write(result)
    print(json.dumps({k: v for k, v in result.items() if k not in ("samples_ms", "frames_seen")}))
    return result


if __name__ == "__main__":
    main()
