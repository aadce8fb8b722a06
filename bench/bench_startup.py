"""First impression: how long `python app.py` takes to serve, and to show a visitor the default toy model.

    python bench/bench_startup.py              # 3 cold starts of `python app.py`, medians
    python bench/bench_startup.py --browser    # also: a Chromium tab until the Toy lab's scrubber shows frames

Figures (one JSON object):
* serve_s: process start -> the page's HTML answers 200 (what "serves within seconds" means).
* api_s: process start -> /gradio_api/info answers (the named endpoints are callable).
* toy_frames_s (--browser): process start -> a fresh tab shows the default toy model's first frame (the model is
  trained once per server, after launch, in a background thread; the page opens before it is ready).
* import_s: where the time goes in one more process: importing gradio, then torch, then the app's modules and
  building the UI (app.build_demo); and whether diffusers was imported by then (it should not be: it is imported
  when a model is first loaded -- by the Image lab, or by the Edit and Guidance labs' start-up builds, which run in
  background threads).
The app is started exactly as the README's command does (`python app.py` in the repository root), on a free port
(GRADIO_SERVER_PORT), offline. Each start is a new process; the OS file cache is warm after the first.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import free_port, launch_chromium  # noqa: E402

def _answers(url: str) -> bool:
    try:
        with urlopen(url, timeout=2) as r:
            return r.status == 200
    except (URLError, OSError):
        return False


def one_start(browser=None, timeout_s: float = 180.0) -> dict:
    """Start `python app.py`, time the page and the API (and the toy frames in ``browser``), stop it."""
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1",
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    url = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    out: dict = {}
    try:
        for name, path in (("serve_s", "/"), ("api_s", "/gradio_api/info")):
            while not _answers(url + path):
                if proc.poll() is not None or time.perf_counter() - start > timeout_s:
                    raise RuntimeError(f"`python app.py` did not answer {path} (exit code {proc.poll()})")
                time.sleep(0.05)
            out[name] = round(time.perf_counter() - start, 2)
        if browser is not None:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            try:
                page = context.new_page()
                page.goto(url)
                page.wait_for_selector("#toy-scrub-frames img.dl-on", timeout=timeout_s * 1000)
                out["toy_frames_s"] = round(time.perf_counter() - start, 2)
            finally:
                context.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return out


_IMPORTS = """
import json, os, sys, time
t0 = time.perf_counter()
import gradio
t1 = time.perf_counter()
import torch
t2 = time.perf_counter()
import app
demo = app.build_demo()
t3 = time.perf_counter()
print(json.dumps({"gradio": round(t1 - t0, 2), "torch": round(t2 - t1, 2), "app_and_build_demo": round(t3 - t2, 2),
                  "diffusers_imported_before_serving": "diffusers" in sys.modules}), flush=True)
os._exit(0)   # the default toy model's training thread may be running: leave without joining it
"""


def import_times() -> dict:
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", _IMPORTS], cwd=str(ROOT), env=env, capture_output=True, text=True,
                          timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also time the default toy frames in Chromium")
    args = parser.parse_args(argv)
    runs = []
    if args.browser:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                runs = [one_start(browser) for _ in range(args.starts)]
            finally:
                browser.close()
    else:
        runs = [one_start() for _ in range(args.starts)]
    result = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    result.update(runs=runs, import_s=import_times(), goal="serves within seconds; no training or downloads "
                  "before serving")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
