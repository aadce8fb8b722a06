"""Classroom load test: N concurrent visitors through the Toy lab and the Image lab, on loopback only.

Each simulated visitor is one ``gradio_client.Client`` (one Gradio session) with settings of its own (data set,
data seed, point counts, training steps, sampling steps and seeds, image batch), and goes through

  1. /toy_frame x K on the fresh session (the shared default run: must equal the default run's frames);
  2. /toy_data -> /toy_train -> /toy_sample with its own settings;
  3. /toy_frame x K, the "scrub": each returned frame must be pixel-for-pixel the frame of the session's *own* run,
     as embedded in its /toy_sample scrubber HTML (which itself must carry the session's seed and point count);
  4. /image_sample (a short DDIM run on the bundled model) and /image_frame: the status must name the session's
     seed, steps and batch, the gallery must hold its batch, the frame its step count.

Each visitor scrubs its own run twice: through gradio_client, and the way the web page does (queue/join and the
session's event stream; gradio_client polls every 50 ms, which sets a floor of 100-200 ms under its calls). While
the visitors work, a probe in a process of its own (one more student's browser; :func:`probe`) scrubs the shared
default run every 0.25 s: the load generator's 20 clients share 2 CPUs and one interpreter lock with each other,
which a class's browsers do not, so the scrub goal (p95 <= 300 ms while training runs) is read on the probe.

A visitor is complete when every call returned and every check held; any content that is not the session's own is
counted as cross-talk. Reported (JSON, medians and 95th percentiles): completion rate, cross-talk count, latency
per endpoint, scrub latency while training jobs were running, and the server's memory: RSS after a warm-up visitor
(baseline), peak RSS during the load, RSS after the load with the sessions still open, and RSS once the sessions
were closed and their state released (goal: within 10 % of the baseline); the largest per-session footprint.

  python bench/load_test.py                 # 20 visitors against a fresh server in a subprocess (python app.py's)
  python bench/load_test.py --sessions 5 --train-steps 150
  python bench/load_test.py --url http://127.0.0.1:7860   # an app already running on this machine (no memory)

Bounded: at most MAX_SESSIONS visitors, every call has a timeout and the whole run a deadline; only loopback URLs
are accepted. tests/test_load.py runs :func:`run_load` at N = 5 against the in-process app.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import urlopen

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import close_clients, free_port, status_mb  # noqa: E402

MAX_SESSIONS = 100
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DATASETS = ("moons", "swiss_roll", "circles", "gaussians8", "checkerboard", "spiral")
SCRUBS = 8                 # /toy_frame calls per phase per visitor
SCRUB_GOAL_MS = 300.0
BROWSER_FRAME = "/toy_frame (page protocol)"   # the timing label of a BrowserScrub call
MEMORY_GOAL = 0.10         # after release, RSS within 10 % of the baseline


# --- one visitor's settings -----------------------------------------------------------------------------------------
def plan(i: int, train_steps: int = 300, image_steps: int = 8, image: bool = True) -> dict:
    """Settings of visitor ``i``: every visitor differs (seeds, counts and steps are unique per visitor)."""
    return dict(
        dataset=DATASETS[i % len(DATASETS)], data_seed=i, n_data=400 + 10 * i,
        train_steps=train_steps + i, train_seed=i,
        sample_steps=6 + i % 9, sample_seed=1000 + i, n_sample=300 + 7 * i,
        image=image, image_steps=image_steps + i % 3, image_seed=2000 + i, image_batch=1 + i % 2,
    )


# --- checks ----------------------------------------------------------------------------------------------------------
_FRAME = re.compile(r'<img class="dl-frame[^"]*" data-i="(\d+)" alt="([^"]*)" src="data:image/png;base64,([^"]+)"')


def scrubber_frames(html: str) -> dict[str, list[np.ndarray]]:
    """The frames embedded in a Toy-lab scrubber, per view ('forward', 'reverse'), as RGB arrays."""
    views: dict[str, dict[int, np.ndarray]] = {"forward": {}, "reverse": {}}
    for index, alt, b64 in _FRAME.findall(html):
        view = "forward" if alt.lower().startswith("forward") else "reverse"
        views[view][int(index)] = rgb(base64.b64decode(b64))
    return {v: [frames[k] for k in sorted(frames)] for v, frames in views.items()}


def rgb(source) -> np.ndarray:
    """An image (path or PNG bytes) as an RGB uint8 array."""
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
        return np.asarray(im.convert("RGB"))


class CrossTalk(AssertionError):
    """A session got back content that is not its own."""


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise CrossTalk(what)


def percentile(values, q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def summary_ms(seconds: list[float]) -> dict:
    ms = [1000 * s for s in seconds]
    return {"n": len(ms), "p50_ms": _r(percentile(ms, 50)), "p95_ms": _r(percentile(ms, 95)),
            "max_ms": _r(max(ms) if ms else None)}


def _r(x):
    return None if x is None else round(x, 1)


# --- a scrub as the browser sends it ---------------------------------------------------------------------------------
class BrowserScrub:
    """/toy_frame called the way the web page calls an event, in a gradio_client visitor's own Gradio session.

    gradio_client 2.x waits for the server's messages by polling every 50 ms (gradio_client/utils.py), which puts a
    floor of 100-200 ms under each of its calls on this machine even with nothing else running. The page does not
    poll: it joins the queue (POST /gradio_api/queue/join) and reads the session's event stream
    (GET /gradio_api/queue/data), then fetches the picture. This does the same, with the visitor's session hash, so
    it scrubs that visitor's own run and its answers are checked the same way.
    """

    def __init__(self, client, timeout: float):
        import httpx
        self.root = client.src.rstrip("/") + "/"
        self.session_hash = client.session_hash
        self.fn_index = next(d["id"] for d in client.config["dependencies"] if d.get("api_name") == "toy_frame")
        self.http = httpx.Client(timeout=timeout, headers=client.headers)      # the client's address too

    def __call__(self, view: str, index: int) -> bytes:
        r = self.http.post(f"{self.root}gradio_api/queue/join",
                           json={"data": [None, view, index], "fn_index": self.fn_index, "event_data": None,
                                 "session_hash": self.session_hash, "trigger_id": None})
        r.raise_for_status()
        event_id, output = r.json()["event_id"], None
        with self.http.stream("GET", f"{self.root}gradio_api/queue/data",
                              params={"session_hash": self.session_hash}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    if msg.get("event_id") == event_id and msg.get("msg") == "process_completed":
                        output = msg.get("output") or {}
                        break
        if output is None or not msg.get("success", True) or output.get("error"):
            raise RuntimeError(f"/toy_frame {view} {index} failed: {output}")
        return self.http.get(output["data"][0]["url"]).content

    def close(self):
        self.http.close()


# --- a probe: one more visitor's browser, in a process of its own -----------------------------------------------------
PROBE_INTERVAL_S = 0.25


def probe(url: str, out: str, interval_s: float = PROBE_INTERVAL_S) -> None:
    """Scrub the shared default run every ``interval_s`` (page protocol) until stdin closes; JSON lines to ``out``.

    The visitors' own timings are taken inside the load generator, a Python process running 20 clients' threads
    (their polling, their picture decoding and checks) on the same 2 CPUs as the server: a scrub's time there
    includes waiting for that process's interpreter lock. A class's browsers run on their own machines; this probe
    is one lightweight client in its own process, so its timings are the server's answer as one student sees it.
    Each answer is checked: it must be the default run's frame (byte-identical to its first answer for that frame).
    """
    from gradio_client import Client
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    c = Client(url, verbose=False, download_files=False)
    page = BrowserScrub(c, 60.0)
    first: dict = {}
    with open(out, "w") as fh:
        k = 0
        while not stop.is_set():
            view, index = ("forward", "reverse")[k % 2], (k * 3) % 11
            wall, t0 = time.time(), time.perf_counter()
            try:
                png = page(view, index)
                ok = first.setdefault((view, index), png) == png
            except Exception:
                ok = False
            fh.write(json.dumps({"wall": wall, "seconds": time.perf_counter() - t0, "ok": ok}) + "\n")
            fh.flush()
            k += 1
            stop.wait(interval_s)
    page.close()
    c.close()


class Probe:
    """Runs :func:`probe` in a subprocess for the duration of a ``with`` block; ``.samples`` afterwards."""

    def __init__(self, url: str):
        self.url, self.samples = url, []

    def __enter__(self):
        import tempfile
        fd, self.out = tempfile.mkstemp(prefix="load-probe-", suffix=".jsonl")
        os.close(fd)
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--probe", self.url,
                                      "--probe-out", self.out], cwd=str(ROOT), stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        return self

    def __exit__(self, *exc):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except Exception:
            self.proc.kill()
        try:
            with open(self.out) as fh:
                self.samples = [json.loads(line) for line in fh if line.strip()]
            os.unlink(self.out)
        except (OSError, ValueError):
            self.samples = []
        return False


# --- the load ---------------------------------------------------------------------------------------------------------
class Load:
    """Shared bookkeeping of one load run: call timings, in-flight training jobs, results per visitor."""

    def __init__(self, url: str, call_timeout: float, deadline: float, download_dir: Path):
        self.url, self.call_timeout, self.deadline = url, call_timeout, deadline
        self.download_dir = download_dir
        self.lock = threading.Lock()
        self.timings: list[dict] = []
        self.training = 0
        self.training_spans: list[tuple[float, float]] = []   # (wall start, wall end) of every /toy_train call
        self.clients: list = []

    def client(self, name: str, address: str | None = None):
        """A gradio_client session; ``address``: the client address the server sees (X-Forwarded-For, which the
        server's uvicorn honours from 127.0.0.1), so each visitor can be a machine of its own, as in a class."""
        from gradio_client import Client
        headers = {"X-Forwarded-For": address} if address else None
        c = Client(self.url, verbose=False, download_files=str(self.download_dir / name), headers=headers)
        with self.lock:
            self.clients.append(c)
        return c

    def call(self, client, endpoint: str, **kwargs):
        """``endpoint`` through gradio_client, timed; a BrowserScrub ``client`` is called with the kwargs instead."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the run's deadline passed before {endpoint}")
        if endpoint == "/toy_train":
            with self.lock:
                self.training += 1
        busy_before = self.training > 0
        start, wall = time.perf_counter(), time.time()
        try:
            if isinstance(client, BrowserScrub):
                return client(**kwargs)
            return client.submit(**kwargs, api_name=endpoint).result(timeout=min(self.call_timeout, left))
        finally:
            seconds = time.perf_counter() - start
            with self.lock:
                if endpoint == "/toy_train":
                    self.training -= 1
                    self.training_spans.append((wall, time.time()))
                self.timings.append(dict(endpoint=endpoint, seconds=seconds,
                                         during_training=busy_before and self.training > 0))


def reference_default_frames(load: Load, indices) -> dict:
    """The shared default run's frames at ``indices`` (what a fresh session must see), from one fresh client."""
    c = load.client("reference")
    return {(view, i): rgb(load.call(c, "/toy_frame", view=view, index=i)) for view, i in indices}


def scrub_indices(count: int, k: int = SCRUBS, offset: int = 0) -> list[tuple[str, int]]:
    """k (view, index) pairs spread over ``count`` frames, alternating views."""
    idx = np.linspace(0, count - 1, k).round().astype(int)
    return [("forward" if (j + offset) % 2 == 0 else "reverse", int((i + offset) % count)) for j, i in enumerate(idx)]


def idle_floor(url: str, call_timeout: float, download_dir: Path, k: int = 10) -> dict:
    """Scrub latency with nothing else running, per protocol: the floor under the figures measured under load."""
    quiet = Load(url, call_timeout, time.monotonic() + 10 * call_timeout, download_dir)
    c = quiet.client("idle")
    page = BrowserScrub(c, call_timeout)
    try:
        for view, index in scrub_indices(11, k):
            quiet.call(c, "/toy_frame", view=view, index=index)
            quiet.call(page, BROWSER_FRAME, view=view, index=index)
    finally:
        page.close()
        _close_all(quiet)
    return {e: summary_ms([t["seconds"] for t in quiet.timings if t["endpoint"] == e])
            for e in ("/toy_frame", BROWSER_FRAME)}


def visitor_address(i: int) -> str:
    """Visitor i's address as the server sees it: one machine per visitor (10.1.x.y, a documentation-free range)."""
    return f"10.1.{i // 250}.{i % 250 + 1}"


def visitor(load: Load, i: int, settings: dict, default_refs: dict) -> dict:
    """One simulated visitor; returns {'ok': bool, 'cross_talk': bool, 'error': str | None, 'step': str}."""
    s = settings
    result = {"visitor": i, "ok": False, "cross_talk": False, "error": None, "step": "connect", "session_bytes": None}
    try:
        c = load.client(f"v{i}", visitor_address(i))
        result["step"] = "scrub the default run"
        for (view, index), want in default_refs.items():
            got = rgb(load.call(c, "/toy_frame", view=view, index=index))
            expect(np.array_equal(got, want), f"/toy_frame {view} {index} of a fresh session is not the default run's")

        result["step"] = "toy_data"
        _, info = load.call(c, "/toy_data", source="dataset", dataset=s["dataset"], n=s["n_data"], seed=s["data_seed"])
        expect(s["dataset"] in info and f"{s['n_data']} points" in info, f"/toy_data answered {info!r}")

        result["step"] = "toy_train"
        _, status = load.call(c, "/toy_train", steps=s["train_steps"], seed=s["train_seed"])
        expect(f"{s['train_steps']} steps" in status and "Done" in status, f"/toy_train answered {status!r}")

        result["step"] = "toy_sample"
        html, slider, quality = load.call(c, "/toy_sample", sampler="ddim", num_steps=s["sample_steps"],
                                          seed=s["sample_seed"], n=s["n_sample"])
        expect(f"seed {s['sample_seed']}, {s['n_sample']} points" in html, "the scrubber is not this session's run")
        expect(s["dataset"] in quality and f"{s['train_steps']} steps" in quality and "your model" in quality,
               f"/toy_sample's model note {quality!r} is not this session's model")
        frames = scrubber_frames(html)
        count = s["sample_steps"] + 1
        expect(len(frames["forward"]) == len(frames["reverse"]) == count and slider["maximum"] == count - 1,
               f"the scrubber has {len(frames['forward'])} frames, expected {count}")

        result["step"] = "scrub own run"
        for view, index in scrub_indices(count, offset=i):
            got = rgb(load.call(c, "/toy_frame", view=view, index=index))
            expect(np.array_equal(got, frames[view][index]), f"/toy_frame {view} {index} is not this session's frame")
        result["step"] = "scrub own run as the page does"
        page = BrowserScrub(c, load.call_timeout)
        try:
            for view, index in scrub_indices(count, offset=i + 1):
                got = rgb(load.call(page, BROWSER_FRAME, view=view, index=index))
                expect(np.array_equal(got, frames[view][index]),
                       f"/toy_frame {view} {index} (page protocol) is not this session's frame")
        finally:
            page.close()

        if s["image"]:
            result["step"] = "image_sample"
            gallery, rev_html, _, _, status = load.call(c, "/image_sample", sampler="ddim", steps=s["image_steps"],
                                                        seed=s["image_seed"], batch=s["image_batch"], eta=0.0)
            expect(f"ddim, {s['image_steps']} steps" in status and f"seed {s['image_seed']}" in status
                   and f"{s['image_batch']} image(s)" in status, f"/image_sample answered {status!r}")
            expect(len(gallery) == s["image_batch"], f"{len(gallery)} images, expected {s['image_batch']}")
            expect(f'data-n="{s["image_steps"] + 1}"' in rev_html, "the image scrubber is not this session's run")
            result["step"] = "image_frame"
            _, label = load.call(c, "/image_frame", view="reverse", image=s["image_batch"], frame=0)
            expect(label.startswith(f"end ({s['image_steps']}/{s['image_steps']}"), f"/image_frame label {label!r}")
        result["ok"], result["step"] = True, "done"
    except CrossTalk as exc:
        result["cross_talk"], result["error"] = True, str(exc)
    except Exception as exc:  # a failed or timed-out call: counted as incomplete, reported
        result["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return result


def run_load(url: str, sessions: int = 20, *, train_steps: int = 300, image_steps: int = 8, image: bool = True,
             timeout_s: float = 900.0, call_timeout_s: float = 300.0, stats=None, release_timeout_s: float = 150.0,
             download_dir: Path | None = None, warm_up: bool = True, with_probe: bool = True) -> dict:
    """Drive ``sessions`` concurrent visitors against the app at ``url``; return the report (a dict).

    ``stats()``, when given, returns the server's figures ({'rss_mb', 'peak_rss_mb', 'toy_sessions',
    'image_sessions', 'compare_sessions', 'live_states', 'max_session_mb'}); memory is reported only with it.
    """
    import tempfile

    check_loopback(url)
    if not 1 <= sessions <= MAX_SESSIONS:
        raise ValueError(f"sessions must be in [1, {MAX_SESSIONS}], got {sessions!r}")
    download_dir = Path(download_dir or tempfile.mkdtemp(prefix="load-test-"))
    report: dict = {"benchmark": "classroom_load", "url": url, "sessions": sessions,
                    "settings": dict(train_steps=train_steps, image_steps=image_steps, image=image, scrubs=SCRUBS),
                    "machine": {"cpus": os.cpu_count(), "loadavg_at_start": _loadavg()}}
    start = time.monotonic()
    load = Load(url, call_timeout_s, start + timeout_s, download_dir)
    memory: dict = {}

    # warm-up: one visitor through everything (loads the image model, fills caches), then it leaves
    refs = reference_default_frames(load, scrub_indices(11))   # the default run has >= 11 frames
    if warm_up:
        warm = Load(url, call_timeout_s, start + timeout_s, download_dir)
        w = visitor(warm, sessions, plan(sessions, train_steps, image_steps, image), refs)
        report["warm_up"] = {k: w[k] for k in ("ok", "error")}
        _close_all(warm)
        if stats is not None:
            _wait_released(stats, release_timeout_s)
    _close_all(load)
    load = Load(url, call_timeout_s, start + timeout_s, download_dir)
    if stats is not None:
        first = stats()
        memory["baseline_rss_mb"] = first["rss_mb"]
    report["idle_floor"] = idle_floor(url, call_timeout_s, download_dir)

    # the load: every visitor in its own thread, all at once
    peak = {"rss_mb": memory.get("baseline_rss_mb") or 0.0}
    done = threading.Event()

    def watch():
        while not done.wait(0.5):
            try:
                peak["rss_mb"] = max(peak["rss_mb"], stats(light=True)["rss_mb"] or 0.0)
            except Exception:
                pass
    watcher = threading.Thread(target=watch, daemon=True) if stats is not None else None
    if watcher:
        watcher.start()
    results: list[dict] = [None] * sessions  # type: ignore[list-item]

    def run(i):
        results[i] = visitor(load, i, plan(i, train_steps, image_steps, image), refs)
    threads = [threading.Thread(target=run, args=(i,), daemon=True, name=f"visitor-{i}") for i in range(sessions)]
    t0 = time.perf_counter()
    with (Probe(url) if with_probe else contextlib.nullcontext()) as prober:
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, load.deadline - time.monotonic()) + 1.0)
    report["load_wall_s"] = round(time.perf_counter() - t0, 1)
    if prober is not None:
        spans = load.training_spans
        during = [p for p in prober.samples if any(a <= p["wall"] <= b for a, b in spans)]
        report["probe"] = dict(interval_s=PROBE_INTERVAL_S, samples=len(prober.samples),
                               wrong_or_failed=sum(not p["ok"] for p in prober.samples),
                               all=summary_ms([p["seconds"] for p in prober.samples]),
                               during_training=summary_ms([p["seconds"] for p in during]))
    done.set()
    results = [r or {"visitor": i, "ok": False, "cross_talk": False, "error": "still running at the deadline"}
               for i, r in enumerate(results)]

    if stats is not None:
        after = stats()
        memory.update(peak_rss_mb=round(max(peak["rss_mb"], after["rss_mb"]), 1),
                      server_peak_rss_mb=after.get("peak_rss_mb"),
                      after_load_rss_mb=after["rss_mb"], max_session_mb=after.get("max_session_mb"),
                      sessions_open_after_load={k: after.get(k) for k in ("toy_sessions", "image_sessions")})
    _close_all(load)
    if stats is not None:
        released, waited = _wait_released(stats, release_timeout_s)
        memory.update(after_release_rss_mb=released["rss_mb"], release_wait_s=waited,
                      sessions_left_after_release={k: released.get(k) for k in
                                                   ("toy_sessions", "image_sessions", "compare_sessions",
                                                    "live_states", "gradio_sessions")})
        base = memory.get("baseline_rss_mb")
        if base:
            memory["after_release_vs_baseline"] = round(released["rss_mb"] / base - 1.0, 3)
        report["memory"] = memory

    timings = load.timings
    endpoints = sorted({t["endpoint"] for t in timings})
    report["latency"] = {e: summary_ms([t["seconds"] for t in timings if t["endpoint"] == e]) for e in endpoints}
    report["scrub_during_training"] = summary_ms([t["seconds"] for t in timings
                                                  if t["endpoint"] == "/toy_frame" and t["during_training"]])
    report["page_scrub_during_training"] = summary_ms([t["seconds"] for t in timings
                                                       if t["endpoint"] == BROWSER_FRAME and t["during_training"]])
    complete = sum(r["ok"] for r in results)
    report.update(completed=complete, completion_rate=round(complete / sessions, 3),
                  cross_talk=sum(r["cross_talk"] for r in results),
                  failures=[r for r in results if not r["ok"]][:10],
                  max_call_s=round(max((t["seconds"] for t in timings), default=0.0), 2))
    # the goal is read on the probe (one student's browser: the page's protocol, its own process) while training
    # runs; the visitors' own scrubs (page protocol and gradio_client, with the latter's polling floor in
    # report["idle_floor"]), timed inside the crowded load generator, are reported beside it
    scrub_p95 = (report.get("probe", {}).get("during_training", {}).get("p95_ms")
                 or report["page_scrub_during_training"]["p95_ms"]
                 or report["latency"].get(BROWSER_FRAME, {}).get("p95_ms"))
    report["goals"] = {
        "all_complete": complete == sessions,
        "no_cross_talk": report["cross_talk"] == 0,
        "scrub_p95_le_300ms": scrub_p95 is not None and scrub_p95 <= SCRUB_GOAL_MS,
        "memory_within_10pct": (None if "after_release_vs_baseline" not in memory
                                else abs(memory["after_release_vs_baseline"]) <= MEMORY_GOAL),
    }
    report["machine"]["loadavg_at_end"] = _loadavg()
    report["total_wall_s"] = round(time.monotonic() - start, 1)
    return report


def _close_all(load: Load) -> None:
    close_clients(load.clients)


def _wait_released(stats, timeout_s: float) -> tuple[dict, float]:
    """Poll the server until no session state is left (or timeout); returns (last stats, seconds waited)."""
    start = time.monotonic()
    while True:
        s = stats()
        if (s.get("toy_sessions", 0) == 0 and s.get("image_sessions", 0) == 0 and s.get("compare_sessions", 0) == 0
                and s.get("live_states", 0) == 0) or time.monotonic() - start > timeout_s:
            return s, round(time.monotonic() - start, 1)
        time.sleep(1.0)


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"the load test runs on loopback only; {url!r} is not 127.0.0.1/localhost")


# --- server-side figures (in the server's process) -------------------------------------------------------------------
def _proc_status_mb(field: str, pid: int | str = "self") -> float | None:
    mb = status_mb(field, pid)
    return None if mb is None else round(mb, 1)


def server_stats(demo=None) -> dict:
    """The server process's memory and live sessions (call it in the server's process)."""
    from ui.toy import session as toy_session
    gc.collect()
    out = {"rss_mb": _proc_status_mb("VmRSS"), "peak_rss_mb": _proc_status_mb("VmHWM"),
           "toy_sessions": len(toy_session.SESSIONS)}
    biggest = [s.nbytes() for s in toy_session.SESSIONS.items() if s.data is not None]
    try:
        from ui.image import session as image_session
        out["image_sessions"] = len(image_session.SESSIONS)
        biggest += [s.nbytes() for s in image_session.SESSIONS.items()]
    except ImportError:
        pass
    try:
        from ui.compare import session as compare_session
        out["compare_sessions"] = len(compare_session.SESSIONS)
    except ImportError:
        pass
    if demo is not None:
        from ui.serving.lifecycle import live_state_count, session_count
        out["live_states"] = live_state_count(demo)
        out["gradio_sessions"] = session_count(demo)
    out["max_session_mb"] = round(max(biggest, default=0) / 2**20, 2)
    return out


def serve(port: int, stats_port: int, default_steps: int | None) -> None:
    """The app as ``python app.py`` serves it (one torch thread per request), plus a loopback stats endpoint."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import torch

    import app
    from ui.guidance import session as guidance_session
    from ui.toy import session as toy_session
    if default_steps:
        toy_session.DEFAULT_FIT.setdefault("steps", default_steps)
        guidance_session.DEFAULT_FIT.setdefault("steps", default_steps)
    torch.set_num_threads(int(os.environ.get("DIFFUSION_LAB_TORCH_THREADS", "1")))   # as app.main()
    demo = app.build_demo()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **app.launch_kwargs())
    if not toy_session.SHARED.wait(timeout=900) or toy_session.SHARED.error:
        print("FAILED default model", toy_session.SHARED.error, flush=True)
        return
    toy_session.SHARED.join(timeout=900)   # the shared extra views too: start-up work must not count as load
    guidance_session.SHARED.join(timeout=900)

    class Stats(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(server_stats(demo)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    httpd = ThreadingHTTPServer(("127.0.0.1", stats_port), Stats)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print("READY", demo.local_url, flush=True)
    sys.stdin.read()                       # until the parent closes our stdin (or exits)
    httpd.shutdown()
    demo.close()
    toy_session.SHARED.join(timeout=120)
    guidance_session.SHARED.join(timeout=120)


def with_subprocess_server(fn, default_steps: int | None = None, start_timeout_s: float = 900.0):
    """Start the app in a subprocess on loopback, call fn(url, stats), stop the server; return fn's result."""
    port, stats_port = free_port(), free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE=os.environ.get("HF_HUB_OFFLINE", "1"),
               PYTHONUNBUFFERED="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", str(port), "--stats-port", str(stats_port)]
    if default_steps:
        cmd += ["--default-steps", str(default_steps)]
    log = os.environ.get("LOAD_TEST_SERVER_LOG")        # a file for the server's stderr (default: discarded)
    err = open(log, "w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=err, text=True)
    try:
        url = _wait_ready(proc, start_timeout_s)

        def stats(light: bool = False):
            """The server's figures; light=True: only its RSS, read from /proc here, without a request (the
            endpoint runs gc.collect(), which holds the server's interpreter lock for ~0.1 s: polled every 0.5 s
            during the load, it stalled every request, scrubs included)."""
            if light:
                return {"rss_mb": _proc_status_mb("VmRSS", proc.pid)}
            with urlopen(f"http://127.0.0.1:{stats_port}/", timeout=30) as r:
                return json.loads(r.read())
        return fn(url, stats)
    finally:
        try:
            proc.stdin.close()
            proc.wait(timeout=150)
        except Exception:
            proc.kill()


def _wait_ready(proc, timeout_s: float) -> str:
    box: dict = {}
    seen = threading.Event()

    def read():
        for line in proc.stdout:
            if line.startswith(("READY", "FAILED")) and "line" not in box:
                box["line"] = line.strip()
                seen.set()
        seen.set()
        # it reads on to the end: a server whose stdout pipe fills up (Gradio prints some refusals) blocks in
        # print() on its event loop, and then answers no one
    threading.Thread(target=read, daemon=True).start()
    seen.wait(timeout_s)
    line = box.get("line", "")
    if not line.startswith("READY"):
        raise RuntimeError(f"the app server did not start: {line or 'no answer'}")
    return line.split()[1]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=20, help=f"concurrent visitors (1-{MAX_SESSIONS})")
    p.add_argument("--train-steps", type=int, default=300, help="training steps per visitor (+ its number)")
    p.add_argument("--image-steps", type=int, default=8, help="DDIM steps of the image run (+ 0-2)")
    p.add_argument("--no-image", action="store_true", help="skip the Image lab step")
    p.add_argument("--timeout", type=float, default=1200.0, help="deadline of the whole run, seconds")
    p.add_argument("--release-timeout", type=float, default=150.0,
                   help="how long to wait for closed sessions' state to be released, seconds")
    p.add_argument("--url", help="an app already running on loopback (memory is then not measured)")
    p.add_argument("--default-steps", type=int, help="training steps of the server's default model")
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "load_test.json"))
    p.add_argument("--no-probe", action="store_true", help="no separate probe process scrubbing during the load")
    p.add_argument("--probe", help=argparse.SUPPRESS)
    p.add_argument("--probe-out", help=argparse.SUPPRESS)
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--stats-port", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.serve:
        serve(a.serve, a.stats_port, a.default_steps)
        return
    if a.probe:
        check_loopback(a.probe)
        probe(a.probe, a.probe_out)
        return
    options = dict(sessions=a.sessions, train_steps=a.train_steps, image_steps=a.image_steps, image=not a.no_image,
                   timeout_s=a.timeout, release_timeout_s=a.release_timeout, with_probe=not a.no_probe)
    if a.url:
        report = run_load(a.url, **options)
    else:
        report = with_subprocess_server(lambda url, stats: run_load(url, stats=stats, **options), a.default_steps)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
