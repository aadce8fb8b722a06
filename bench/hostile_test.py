"""One hostile visitor against a class: does the lab stay usable for everyone else?

Against ONE fresh server subprocess (started as ``bench/load_test.py`` starts it, with a quick default model),
this runs :func:`bench.load_test.run_load` twice with the same ordinary visitors (and its probe process):

1. **baseline**: the ordinary visitors alone;
2. **with a hostile visitor**: the same visitors while one hostile client (a thread of this process) works for the
   whole time the visitors do, in rounds of

   a. *queue flood*: rapid session-less ``POST /gradio_api/call/toy_train`` (``{"data": []}``) and, from one
      ``gradio_client`` session, ``client.submit`` of /toy_train in a loop (ui/serving/fair_queue.py: one queued or
      running heavy event per visitor and group; session-less calls keyed by client address);
   b. *largest requests*: /toy_train at the widest, deepest, largest-batch, longest settings and /toy_sample heun
      1,000 steps on 5,000 points, each from a fresh session (ui/serving/limits.py must refuse both at once);
   c. *new-session flood*: ``queue/join`` requests each with a fresh random session hash (what gradio_client
      sends), for heavy endpoints (/toy_train, /toy_sample with the page's default values; only in the first
      round) and then for a light one (/toy_frame, read to completion on the session's event stream) -- the
      per-session rule cannot see through fresh hashes, only the heavy share of the queue bounds them;
   d. *sketch-pad blob abuse*: ``POST /gradio_api/component_server`` accept_blobs with layer index 10,000,000
      (ui/widgets/inputs.py, bounded_blobs).

Every visitor is a machine of its own as the server sees it: each request carries an X-Forwarded-For address
(which the server's uvicorn honours from 127.0.0.1, as behind a local reverse proxy): the ordinary visitors
10.1.0.1, 10.1.0.2, ... (bench/load_test.py, visitor_address), the hostile one ``--hostile-address`` (10.66.0.1).

No step waits for the answers to its heavy requests (they are followed in background threads), so every kind is
sent while the ordinary visitors work; the rounds repeat until the visitors are done.

Reported as one JSON object (also written to bench/out/hostile_test.json): per run, the ordinary visitors'
completion rate, cross-talk, median latency per endpoint and the probe's scrub p50/p95; the ratio with/without the
hostile visitor of each endpoint's median; per hostile kind, how many requests were accepted, refused or failed,
the HTTP codes and the refusal messages seen; the server's RSS (warm baseline, peak, after the sessions were
released) and the files under its TMPDIR / GRADIO_TEMP_DIR. Targets are printed beside the figures, not asserted.

  python bench/hostile_test.py                         # 10 visitors, ~10-15 min on 2 CPUs
  python bench/hostile_test.py --sessions 3 --light-flood 60 --heavy-flood 8   # a quick smoke run

Bounded: every request has a timeout, the whole run a deadline (--timeout, default 900 s); loopback only.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import load_test as lt  # noqa: E402
from bench.common import close_clients  # noqa: E402

SCRUB_GOAL_MS = lt.SCRUB_GOAL_MS
LATENCY_RATIO_GOAL = 1.5
MEMORY_GOAL = lt.MEMORY_GOAL
PEAK_GOAL_MB = 4096.0
HTTP_TIMEOUT_S = 30.0
LARGEST_TRAIN = dict(hidden=512, depth=8, batch_size=4096, steps=20000)
LARGEST_SAMPLE = dict(sampler="heun", num_steps=1000, n=5000)
BIG_LAYER_INDEX = "10000000"


# --- bookkeeping of the hostile visitor's requests --------------------------------------------------------------------
class Tally:
    """Per kind of hostile request: sent / accepted / refused / failed, HTTP codes, distinct messages, timings."""

    def __init__(self):
        self.lock = threading.Lock()
        self.kinds: dict[str, dict] = {}

    def _kind(self, kind: str) -> dict:
        return self.kinds.setdefault(kind, dict(sent=0, accepted=0, refused=0, failed=0, http_codes=collections.Counter(),
                                                outcomes=collections.Counter(), messages=collections.Counter(),
                                                seconds=[]))

    def add(self, kind: str, verdict: str, code=None, message: str | None = None, seconds: float | None = None):
        """verdict: 'accepted' (the server took the request in), 'refused' (it said no), 'failed' (no answer, or
        an answer that is neither: a timeout, a connection error)."""
        with self.lock:
            k = self._kind(kind)
            k["sent"] += 1
            k[verdict] += 1
            if code is not None:
                k["http_codes"][str(code)] += 1
            if message:
                k["messages"][_short(message)] += 1
            if seconds is not None:
                k["seconds"].append(seconds)

    def outcome(self, kind: str, what: str, message: str | None = None):
        """What became of an accepted request (e.g. 'completed', 'error', 'still pending at the end')."""
        with self.lock:
            k = self._kind(kind)
            k["outcomes"][what] += 1
            if message:
                k["messages"][_short(message)] += 1

    def report(self) -> dict:
        with self.lock:
            out = {}
            for kind, k in self.kinds.items():
                out[kind] = dict(sent=k["sent"], accepted=k["accepted"], refused=k["refused"], failed=k["failed"],
                                 http_codes=dict(k["http_codes"]), outcomes_of_accepted=dict(k["outcomes"]),
                                 answer_s=lt.summary_ms(k["seconds"]) if k["seconds"] else None,
                                 messages=dict(k["messages"].most_common(6)))
            return out


def _short(text: str, n: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _detail(response) -> str:
    """The refusal text of an HTTP answer (Gradio's {"detail": ...}, a validator list, or the body)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        msgs = [d.get("message") for d in detail if isinstance(d, dict) and d.get("message")]
        if msgs:
            return " | ".join(msgs)
    if isinstance(detail, dict) and detail.get("error"):
        return str(detail["error"])
    return json.dumps(detail)[:300] if not isinstance(detail, str) else detail


# --- the hostile visitor -----------------------------------------------------------------------------------------------
class Hostile:
    """One hostile client, in a thread: rounds of (a)-(d) from ``start`` until ``stop`` is set (or its deadline)."""

    def __init__(self, url: str, deadline: float, call_flood: int, submit_flood: int, light_flood: int,
                 heavy_flood: int, blob_posts: int, heavy_rounds: int = 1, workers: int = 16,
                 address: str | None = None):
        import httpx
        self.url = url.rstrip("/")
        self.api = self.url + "/gradio_api"
        self.deadline = deadline
        self.counts = dict(call_flood=call_flood, submit_flood=submit_flood, light_flood=light_flood,
                           heavy_flood=heavy_flood, blob_posts=blob_posts)
        self.heavy_rounds, self.workers = heavy_rounds, workers
        self.tally = Tally()
        self.start, self.stop = threading.Event(), threading.Event()
        # every request comes from one address of its own (X-Forwarded-For, which the server's uvicorn honours
        # from 127.0.0.1), as one machine's would; the ordinary visitors have one each (load_test.visitor_address)
        self.address = address
        self.headers = {"X-Forwarded-For": address} if address else None
        self.http = httpx.Client(timeout=HTTP_TIMEOUT_S, limits=httpx.Limits(max_connections=64), headers=self.headers)
        self.pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="hostile")
        # followers of the answers (they wait on sockets or poll a job: cheap), so that no step waits for an answer
        # and every kind of request is sent while the ordinary visitors work
        self.readers = cf.ThreadPoolExecutor(max(128, heavy_flood + submit_flood + 48),
                                             thread_name_prefix="hostile-reader")
        self.pending: list[cf.Future] = []       # stream readers of accepted events
        self.clients: list = []
        self.rounds: list[dict] = []
        self.thread = threading.Thread(target=self._main, name="hostile", daemon=True)
        self.error: str | None = None
        self.stop_readers = threading.Event()
        self.finished_at: float | None = None
        self.began: float | None = None
        self.visitors_done_at_s: float | None = None
        from gradio_client import Client
        first = Client(self.url, verbose=False, download_files=False, headers=self.headers)   # its config; its session floods in round 0
        self.clients.append(first)
        self.spare = [first]
        cfg = first.config
        self.fn = {d["api_name"]: d["id"] for d in cfg["dependencies"] if d.get("api_name")}
        comps = {c["id"]: c for c in cfg["components"]}
        self.defaults = {name: [None if comps[i]["type"] == "state" else comps[i].get("props", {}).get("value")
                                for i in dep["inputs"]]
                         for dep in cfg["dependencies"] if (name := dep.get("api_name"))}
        pad = next((c for c in cfg["components"] if c.get("props", {}).get("elem_id") == "toy-drawing"), None)
        self.pad_id = pad["id"] if pad else None

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def _main(self):
        self.start.wait(max(0.0, self.left()))
        self.began = time.monotonic()
        r = 0
        try:
            while not self.stop.is_set() and self.left() > 30:
                t0 = time.monotonic()
                steps = {}
                for name, step in (("a_queue_flood", self.queue_flood), ("b_largest_requests", self.largest),
                                   ("c_new_session_flood", lambda: self.new_sessions(heavy=r < self.heavy_rounds)),
                                   ("d_blob_abuse", self.blobs)):
                    if self.left() <= 20:
                        break
                    s0 = time.monotonic()
                    step()
                    steps[name] = round(time.monotonic() - s0, 1)
                self.rounds.append(dict(round=r, started_at_s=round(t0 - self.began, 1),
                                        seconds=round(time.monotonic() - t0, 1), steps_s=steps))
                r += 1
                self.stop.wait(1.0)
        except Exception as exc:   # the report says so; the ordinary run goes on
            self.error = f"{type(exc).__name__}: {_short(exc)}"
        finally:
            self.finished_at = time.monotonic()

    # (a) queue flood --------------------------------------------------------------------------------------------------
    def queue_flood(self):
        def call(_):
            t0 = time.perf_counter()
            try:
                r = self.http.post(f"{self.api}/call/toy_train", json={"data": []})
            except Exception as exc:
                self.tally.add("a1_call_toy_train_no_session", "failed", message=f"{type(exc).__name__}: {exc}")
                return
            s = time.perf_counter() - t0
            if r.status_code == 200 and "event_id" in r.json():
                self.tally.add("a1_call_toy_train_no_session", "accepted", r.status_code, seconds=s)
                self.pending.append(self.readers.submit(self._read_call, "a1_call_toy_train_no_session",
                                                        "toy_train", r.json()["event_id"]))
            else:
                self.tally.add("a1_call_toy_train_no_session", "refused", r.status_code, _detail(r), s)
        list(self.pool.map(call, range(self.counts["call_flood"])))

        from gradio_client import Client
        c = self.spare.pop() if self.spare else Client(self.url, verbose=False, download_files=False, headers=self.headers)
        if c not in self.clients:
            self.clients.append(c)
        for _ in range(self.counts["submit_flood"]):
            t0 = time.perf_counter()
            job = c.submit(api_name="/toy_train")
            self.pending.append(self.readers.submit(self._classify_job, "a2_submit_toy_train_one_session", job, t0,
                                                    wait_s=min(60.0, max(1.0, self.left() - 20))))

    def _classify_job(self, kind, job, t0, wait_s: float = 0.0, keep=None):
        """A gradio_client job: refused at the queue (ValidationError / QueueError), refused by the handler (an
        AppError: a work limit), accepted and finished, or accepted and still pending (then followed to its end)."""
        end = time.monotonic() + wait_s
        while not job.done() and time.monotonic() < end and not self.stop_readers.is_set():
            time.sleep(0.05)
        if not job.done():          # taken in and not answered yet: followed here to its end (or the deadline)
            self.tally.add(kind, "accepted")
            self._finish_job(kind, job, t0, keep)
            return
        exc = job.exception()
        s = time.perf_counter() - t0      # polled every 50 ms: the answer's time to within that
        if exc is None:
            self.tally.add(kind, "accepted", seconds=s)
            self.tally.outcome(kind, "completed", keep(job.result()) if keep else None)
        else:
            # ValidationError / QueueError: the queue said no; AppError: the handler did (a work limit's gr.Error)
            self.tally.add(kind, "refused", message=f"{type(exc).__name__}: {exc}", seconds=s)

    def _finish_job(self, kind, job, t0, keep=None):
        while not job.done() and self.left() > 5 and not self.stop_readers.is_set():
            time.sleep(0.1)
        if not job.done():
            self.tally.outcome(kind, "still pending at the end")
            return
        exc = job.exception()
        if exc is None:
            self.tally.outcome(kind, "completed", keep(job.result()) if keep else None)
        else:
            self.tally.outcome(kind, "error", f"{type(exc).__name__}: {exc}")
        with self.tally.lock:
            self.tally._kind(kind).setdefault("completion_s", []).append(time.perf_counter() - t0)

    # (b) the largest requests -----------------------------------------------------------------------------------------
    def largest(self):
        from gradio_client import Client
        def train_note(result):     # (loss plot, status) of an accepted training
            return "accepted, status: " + str(result[-1])[:200]

        def sample_note(result):    # (scrubber html, slider, quality note) of an accepted sampling run
            return f"accepted, {len(str(result[0])) // 1000} kB scrubber, note: " + str(result[-1])[:200]
        for kind, api, kwargs, keep in (("b1_largest_toy_train", "/toy_train", LARGEST_TRAIN, train_note),
                                        ("b2_largest_toy_sample", "/toy_sample", LARGEST_SAMPLE, sample_note)):
            c = Client(self.url, verbose=False, download_files=False, headers=self.headers)    # a fresh session: not the per-visitor rule
            self.clients.append(c)
            t0 = time.perf_counter()
            job = c.submit(**kwargs, api_name=api)
            self.pending.append(self.readers.submit(self._classify_job, kind, job, t0,
                                                    wait_s=min(240.0, max(1.0, self.left() - 20)), keep=keep))

    # (c) new-session flood --------------------------------------------------------------------------------------------
    def _join(self, api_name: str, data: list, session_hash: str):
        return self.http.post(f"{self.api}/queue/join",
                              json={"data": data, "fn_index": self.fn[api_name], "event_data": None,
                                    "session_hash": session_hash, "trigger_id": None})

    def _read_session(self, kind: str, session_hash: str, event_id: str, t0: float | None = None,
                      limit_s: float = 60.0):
        """Read the session's event stream until the event completes (or limit_s / the deadline)."""
        end = time.monotonic() + max(1.0, min(limit_s, self.left() - 5))
        try:
            with self.http.stream("GET", f"{self.api}/queue/data", params={"session_hash": session_hash}) as s:
                for line in s.iter_lines():
                    if time.monotonic() > end or self.stop_readers.is_set():
                        break
                    if not line.startswith("data:"):
                        continue
                    msg = json.loads(line[5:])
                    if msg.get("event_id") == event_id and msg.get("msg") == "process_completed":
                        out = msg.get("output") or {}
                        ok = msg.get("success", True) and not out.get("error")
                        self.tally.outcome(kind, "completed" if ok else "error",
                                           None if ok else str(out.get("error"))[:300])
                        if t0 is not None:
                            with self.tally.lock:
                                self.tally._kind(kind).setdefault("completion_s", []).append(
                                    time.perf_counter() - t0)
                        return
        except Exception as exc:
            self.tally.outcome(kind, "stream failed", f"{type(exc).__name__}: {exc}")
            return
        self.tally.outcome(kind, "still pending at the end")

    def _read_call(self, kind: str, api_name: str, event_id: str):
        """GET /call/<api>/<event_id>: what became of a session-less event."""
        end = time.monotonic() + max(1.0, self.left() - 5)
        try:
            with self.http.stream("GET", f"{self.api}/call/{api_name}/{event_id}") as s:
                event = None
                for line in s.iter_lines():
                    if time.monotonic() > end or self.stop_readers.is_set():
                        break
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event in ("complete", "error"):
                        self.tally.outcome(kind, "completed" if event == "complete" else "error",
                                           None if event == "complete" else line[5:].strip()[:300])
                        return
        except Exception as exc:
            self.tally.outcome(kind, "stream failed", f"{type(exc).__name__}: {exc}")
            return
        self.tally.outcome(kind, "still pending at the end")

    def new_sessions(self, heavy: bool):
        if heavy:
            self._heavy_sessions()

        def light(_):
            h, t0 = uuid.uuid4().hex[:11], time.perf_counter()
            try:
                r = self._join("toy_frame", [None, "reverse", 0], h)
            except Exception as exc:
                self.tally.add("c1_fresh_session_toy_frame", "failed", message=f"{type(exc).__name__}: {exc}")
                return
            if r.status_code != 200:
                self.tally.add("c1_fresh_session_toy_frame", "refused", r.status_code, _detail(r),
                               time.perf_counter() - t0)
                return
            self.tally.add("c1_fresh_session_toy_frame", "accepted", r.status_code, seconds=time.perf_counter() - t0)
            self._read_session("c1_fresh_session_toy_frame", h, r.json()["event_id"], t0, limit_s=60.0)
        list(self.pool.map(light, range(self.counts["light_flood"])))

    def _heavy_sessions(self):
        names = ["toy_train", "toy_sample"]

        def heavy_one(i):
            api = names[i % 2]
            kind = f"c2_fresh_session_{api}"
            h, t0 = uuid.uuid4().hex[:11], time.perf_counter()
            try:
                r = self._join(api, self.defaults[api], h)
            except Exception as exc:
                self.tally.add(kind, "failed", message=f"{type(exc).__name__}: {exc}")
                return
            if r.status_code == 200:
                self.tally.add(kind, "accepted", r.status_code, seconds=time.perf_counter() - t0)
                self.pending.append(self.readers.submit(self._read_session, kind, h, r.json()["event_id"], t0,
                                                        1e9))
            else:
                self.tally.add(kind, "refused", r.status_code, _detail(r), time.perf_counter() - t0)
        list(self.pool.map(heavy_one, range(self.counts["heavy_flood"])))

    # (d) blob abuse ---------------------------------------------------------------------------------------------------
    def blobs(self):
        from PIL import Image
        buf = io.BytesIO()
        Image.new("RGBA", (8, 8), (0, 0, 0, 255)).save(buf, "PNG")
        png = buf.getvalue()
        kind = "d_blob_layer_index_10M"
        if self.pad_id is None:
            self.tally.add(kind, "failed", message="no sketch pad (elem_id toy-drawing) in the config")
            return
        import httpx
        session_hash = uuid.uuid4().hex[:11]     # one session, as tests/test_blob_store.py sends them
        # a connection of its own per post: the server closes a connection after an error answer, and a pooled
        # connection reused after that is reset (a client-side artefact that would hide the answer's code)
        with httpx.Client(timeout=HTTP_TIMEOUT_S, headers={"Connection": "close", **(self.headers or {})}) as http:
            for i in range(self.counts["blob_posts"]):
                fields = {"component_id": str(self.pad_id), "session_hash": session_hash,
                          "fn_name": "accept_blobs", "type": "layer", "index": BIG_LAYER_INDEX,
                          "id": f"hostile-{uuid.uuid4().hex[:8]}"}
                t0 = time.perf_counter()
                try:
                    r = http.post(f"{self.api}/component_server", data=fields,
                                  files={"file": ("blob", png, "image/png")})
                except Exception as exc:
                    self.tally.add(kind, "failed", message=f"{type(exc).__name__}: {exc}")
                    continue
                verdict = "accepted" if r.status_code == 200 else "refused"
                self.tally.add(kind, verdict, r.status_code, _detail(r) if r.status_code != 200 else None,
                               time.perf_counter() - t0)

    # the end ------------------------------------------------------------------------------------------------------
    def finish(self, wait_s: float) -> dict:
        """Stop after the current round, wait for accepted events (up to wait_s), close everything; the report."""
        self.stop.set()
        self.thread.join(max(1.0, min(wait_s, self.left())))
        end = time.monotonic() + max(0.0, min(wait_s, self.left() - 5))
        for f in list(self.pending):
            try:
                f.result(timeout=max(0.1, end - time.monotonic()))
            except Exception:
                pass
        self.stop_readers.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.readers.shutdown(wait=True, cancel_futures=True)
        close_clients(self.clients)
        self.http.close()
        report = self.tally.report()
        for kind, k in self.tally.kinds.items():
            if k.get("completion_s"):
                report[kind]["completion_s"] = lt.summary_ms(k["completion_s"])
        return dict(rounds=self.rounds, visitors_done_at_s=self.visitors_done_at_s, error=self.error,
                    still_running_at_finish=self.thread.is_alive(), kinds=report)


def _tree() -> dict:
    """The checkout the server ran: its commit and the files changed in the working tree."""
    import subprocess
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--short"], cwd=ROOT, capture_output=True, text=True,
                               timeout=10).stdout.splitlines()
        return {"commit": head, "changed": [line.strip() for line in dirty]}
    except Exception as exc:
        return {"error": str(exc)}


# --- the server's disk ------------------------------------------------------------------------------------------------
def disk_usage(root: Path) -> dict:
    files = size = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            try:
                size += os.lstat(os.path.join(dirpath, n)).st_size
                files += 1
            except OSError:
                pass
    return {"files": files, "bytes": size}


def queue_size(url: str) -> int | None:
    try:
        with lt.urlopen(url.rstrip("/") + "/gradio_api/queue/status", timeout=10) as r:
            return json.loads(r.read()).get("queue_size")
    except Exception:
        return None


# --- the run -----------------------------------------------------------------------------------------------------------
def run_summary(report: dict) -> dict:
    probe = report.get("probe", {})
    return dict(
        completion_rate=report.get("completion_rate"), completed=report.get("completed"),
        sessions=report.get("sessions"), cross_talk=report.get("cross_talk"),
        failures=[{k: f.get(k) for k in ("visitor", "step", "error", "cross_talk")} for f in report.get("failures", [])],
        median_ms={e: v["p50_ms"] for e, v in report.get("latency", {}).items()},
        p95_ms={e: v["p95_ms"] for e, v in report.get("latency", {}).items()},
        probe_scrub_ms={"samples": probe.get("samples"), "wrong_or_failed": probe.get("wrong_or_failed"),
                        "all_p50": probe.get("all", {}).get("p50_ms"), "all_p95": probe.get("all", {}).get("p95_ms"),
                        "during_training_p50": probe.get("during_training", {}).get("p50_ms"),
                        "during_training_p95": probe.get("during_training", {}).get("p95_ms")},
        load_wall_s=report.get("load_wall_s"), max_call_s=report.get("max_call_s"), memory=report.get("memory"),
    )


def hostile_benchmark(url: str, stats, a, server_tmp: Path, client_tmp: Path, deadline: float) -> dict:
    lt.check_loopback(url)
    out: dict = {"benchmark": "hostile_visitor", "url": url, "tree": _tree(),
                 "settings": dict(sessions=a.sessions, train_steps=a.train_steps, image_steps=a.image_steps,
                                  image=not a.no_image, default_steps=a.default_steps, call_flood=a.call_flood,
                                  submit_flood=a.submit_flood, light_flood=a.light_flood, heavy_flood=a.heavy_flood,
                                  blob_posts=a.blob_posts, heavy_rounds=a.heavy_rounds, timeout_s=a.timeout),
                 "machine": {"cpus": os.cpu_count(), "loadavg_at_start": lt._loadavg()},
                 "server_tmp_dir": str(server_tmp)}
    disk = {"at_server_ready": disk_usage(server_tmp)}
    rss = {"peak_mb": 0.0, "peak_at": None}
    t_start = time.monotonic()
    done = threading.Event()
    phase = {"name": "start"}

    def watch():   # the server's RSS from /proc every 0.5 s, the whole time (no request: no gc in the server)
        while not done.wait(0.5):
            try:
                mb = stats(light=True)["rss_mb"] or 0.0
            except Exception:
                continue
            if mb > rss["peak_mb"]:
                rss.update(peak_mb=mb, peak_at=phase["name"], peak_at_s=round(time.monotonic() - t_start, 1))
    threading.Thread(target=watch, daemon=True).start()
    common = dict(sessions=a.sessions, train_steps=a.train_steps, image_steps=a.image_steps, image=not a.no_image,
                  stats=stats, with_probe=True, call_timeout_s=a.call_timeout)
    try:
        # 1. baseline: the ordinary visitors alone (with load_test's warm-up visitor first)
        phase["name"] = "baseline"
        left = deadline - time.monotonic()
        base = lt.run_load(url, timeout_s=min(a.run_timeout, max(150.0, 0.45 * left)), release_timeout_s=120.0,
                           download_dir=client_tmp / "baseline", warm_up=True, **common)
        disk["after_baseline"] = disk_usage(server_tmp)
        stats_before = stats()

        # 2. the same visitors with one hostile visitor, who starts when they start (load_test.Probe's entry)
        phase["name"] = "with_hostile"
        hostile = Hostile(url, deadline - 60, a.call_flood, a.submit_flood, a.light_flood, a.heavy_flood,
                          a.blob_posts, heavy_rounds=a.heavy_rounds, address=a.hostile_address or None)
        hostile.thread.start()
        original_probe = lt.Probe

        class SignallingProbe(original_probe):
            def __enter__(self):
                entered = super().__enter__()
                hostile.start.set()
                return entered

            def __exit__(self, *exc):
                hostile.stop.set()           # the visitors are done: the hostile visitor ends its round
                if hostile.began is not None:
                    hostile.visitors_done_at_s = round(time.monotonic() - hostile.began, 1)
                return super().__exit__(*exc)
        lt.Probe = SignallingProbe
        try:
            left = deadline - time.monotonic()
            hot = lt.run_load(url, timeout_s=max(60.0, left - 240), release_timeout_s=90.0,
                              download_dir=client_tmp / "hostile", warm_up=False, **common)
        finally:
            lt.Probe = original_probe
            hostile.start.set()
            hostile.stop.set()
        phase["name"] = "hostile drain"
        hostile_report = hostile.finish(wait_s=max(5.0, min(180.0, deadline - time.monotonic() - 100)))
        closed_at = time.monotonic()

        # 3. after the hostile phase: the queue drained, closed sessions released (CLOSED_TTL_S + a sweep)
        phase["name"] = "release"
        drain = {"queue_size_at_finish": queue_size(url)}
        end = min(deadline - 20, time.monotonic() + 120)
        while (queue_size(url) or 0) > 0 and time.monotonic() < end:
            time.sleep(1.0)
        drain["queue_size_after_drain"] = queue_size(url)
        from ui.serving.lifecycle import CLOSED_TTL_S, SWEEP_S
        wait_until = min(deadline - 15, closed_at + CLOSED_TTL_S + 2 * SWEEP_S + 2.0)
        while time.monotonic() < wait_until:
            time.sleep(1.0)
        released, waited = lt._wait_released(stats, max(1.0, min(20.0, deadline - time.monotonic() - 10)))
        drain["released_wait_s"] = round(time.monotonic() - closed_at, 1)
        disk["after_hostile_and_release"] = disk_usage(server_tmp)
    finally:
        done.set()

    warm = (base.get("memory") or {}).get("baseline_rss_mb")
    after = released.get("rss_mb")
    memory = {
        "warm_baseline_rss_mb": warm,
        "after_baseline_release_rss_mb": (base.get("memory") or {}).get("after_release_rss_mb"),
        "before_hostile_rss_mb": stats_before.get("rss_mb"),
        "peak_rss_mb_sampled": round(rss["peak_mb"], 1), "peak_during": rss.get("peak_at"),
        "peak_at_s": rss.get("peak_at_s"),
        "server_vmhwm_mb": released.get("peak_rss_mb"),
        "after_hostile_release_rss_mb": after,
        "after_vs_warm_baseline_ratio": round(after / warm, 3) if warm and after else None,
        "sessions_left_after_release": {k: released.get(k) for k in ("toy_sessions", "image_sessions",
                                                                     "compare_sessions", "live_states",
                                                                     "gradio_sessions", "max_session_mb")},
        "sessions_before_hostile": {k: stats_before.get(k) for k in ("toy_sessions", "image_sessions",
                                                                    "live_states", "gradio_sessions")},
        "drain": drain,
    }
    b, h = run_summary(base), run_summary(hot)
    ratios = {e: (round(h["median_ms"][e] / m, 2) if m and h["median_ms"].get(e) else None)
              for e, m in b["median_ms"].items()}
    peak = max(rss["peak_mb"], released.get("peak_rss_mb") or 0.0)
    probe_p95 = h["probe_scrub_ms"]["all_p95"]
    targets = {
        "ordinary_completion_100pct": {"target": "100 %", "baseline": b["completion_rate"],
                                       "with_hostile": h["completion_rate"],
                                       "met": b["completion_rate"] == 1.0 and h["completion_rate"] == 1.0},
        "no_cross_talk": {"target": 0, "baseline": b["cross_talk"], "with_hostile": h["cross_talk"],
                          "met": b["cross_talk"] == 0 and h["cross_talk"] == 0},
        "probe_scrub_p95_le_300ms": {"target": f"<= {SCRUB_GOAL_MS:.0f} ms (probe, all samples, with hostile)",
                                     "baseline": b["probe_scrub_ms"]["all_p95"], "with_hostile": probe_p95,
                                     "with_hostile_during_training": h["probe_scrub_ms"]["during_training_p95"],
                                     "met": probe_p95 is not None and probe_p95 <= SCRUB_GOAL_MS},
        "each_endpoint_median_le_1_5x": {"target": f"<= {LATENCY_RATIO_GOAL}x its no-hostile median",
                                         "worst": max((r for r in ratios.values() if r), default=None),
                                         "over": {e: r for e, r in ratios.items() if r and r > LATENCY_RATIO_GOAL},
                                         "met": all(r is not None and r <= LATENCY_RATIO_GOAL
                                                    for r in ratios.values())},
        "rss_after_release_within_10pct": {"target": "within 10 % of the warm baseline",
                                           "ratio": memory["after_vs_warm_baseline_ratio"],
                                           "met": (memory["after_vs_warm_baseline_ratio"] is not None
                                                   and abs(memory["after_vs_warm_baseline_ratio"] - 1) <= MEMORY_GOAL)},
        "peak_rss_le_4GB": {"target": f"<= {PEAK_GOAL_MB:.0f} MB", "peak_mb": round(peak, 1),
                            "met": peak <= PEAK_GOAL_MB},
    }
    out.update(targets=targets,
               runs={"baseline": b, "with_hostile": h},
               latency_ratio_with_over_without=ratios,
               hostile=hostile_report, memory=memory,
               disk={**disk, "added_files": disk["after_hostile_and_release"]["files"] - disk["at_server_ready"]["files"],
                     "added_bytes": disk["after_hostile_and_release"]["bytes"] - disk["at_server_ready"]["bytes"],
                     "added_by_hostile_run_files": disk["after_hostile_and_release"]["files"]
                     - disk["after_baseline"]["files"],
                     "added_by_hostile_run_bytes": disk["after_hostile_and_release"]["bytes"]
                     - disk["after_baseline"]["bytes"]},
               load_reports={"baseline": base, "with_hostile": hot})
    out["machine"]["loadavg_at_end"] = lt._loadavg()
    out["total_wall_s"] = round(time.monotonic() - t_start, 1)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=10, help="ordinary visitors")
    p.add_argument("--train-steps", type=int, default=150, help="ordinary visitors' training steps (+ their number)")
    p.add_argument("--image-steps", type=int, default=8)
    p.add_argument("--no-image", action="store_true")
    p.add_argument("--default-steps", type=int, default=400, help="training steps of the server's default model")
    p.add_argument("--call-flood", type=int, default=102, help="session-less POST /call/toy_train per round")
    p.add_argument("--submit-flood", type=int, default=40, help="client.submit /toy_train from one session per round")
    p.add_argument("--light-flood", type=int, default=300, help="fresh-session /toy_frame joins per round")
    p.add_argument("--heavy-flood", type=int, default=40, help="fresh-session /toy_train + /toy_sample joins")
    p.add_argument("--heavy-rounds", type=int, default=1, help="rounds that include the heavy fresh-session flood")
    p.add_argument("--blob-posts", type=int, default=50, help="accept_blobs posts with layer index 10,000,000")
    p.add_argument("--hostile-address", default="10.66.0.1",
                   help="the hostile visitor's address as the server sees it (X-Forwarded-For; '' = 127.0.0.1)")
    p.add_argument("--timeout", type=float, default=900.0, help="deadline of the whole run (server start included)")
    p.add_argument("--run-timeout", type=float, default=300.0, help="deadline of the baseline run's visitors")
    p.add_argument("--call-timeout", type=float, default=300.0, help="timeout of one ordinary call")
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "hostile_test.json"))
    a = p.parse_args(argv)
    if not 1 <= a.sessions <= lt.MAX_SESSIONS:
        p.error(f"--sessions must be in [1, {lt.MAX_SESSIONS}]")

    import signal
    # a SIGTERM ends the run through the finally blocks: the server subprocess is stopped, the temporary folders go
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    deadline = time.monotonic() + a.timeout
    work = Path(tempfile.mkdtemp(prefix="hostile-test-"))
    server_tmp, client_tmp = work / "server", work / "client"
    (server_tmp / "tmp").mkdir(parents=True)
    (server_tmp / "gradio").mkdir()
    client_tmp.mkdir()
    tempfile.tempdir = str(client_tmp)          # this process's own temporary files stay out of the server's
    saved = {k: os.environ.get(k) for k in ("TMPDIR", "GRADIO_TEMP_DIR")}
    os.environ.update(TMPDIR=str(server_tmp / "tmp"), GRADIO_TEMP_DIR=str(server_tmp / "gradio"))

    def restore_env():
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def fn(url, stats):
        restore_env()            # the server has started with them; the probe process does not need them
        return hostile_benchmark(url, stats, a, server_tmp, client_tmp, deadline)
    try:
        report = lt.with_subprocess_server(fn, a.default_steps,
                                           start_timeout_s=max(60.0, min(600.0, deadline - time.monotonic() - 300)))
    finally:
        restore_env()
        shutil.rmtree(work, ignore_errors=True)
    report["command"] = " ".join(["python", "bench/hostile_test.py", *(argv if argv is not None else sys.argv[1:])])
    text = json.dumps(report, indent=2, ensure_ascii=False, default=str)
    print(text)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
