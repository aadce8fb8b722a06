"""Heavy jobs run at a lower CPU priority than serving requests: a scrub stays quick while a class trains.

On a 2-vCPU Space, a few training runs and samplers keep both CPUs busy. The operating system shares CPU time by
priority, so a job thread whose "nice" value is raised yields the CPU to the threads that answer requests (a frame,
a redraw, the queue's own bookkeeping) whenever those have work, and takes all of it otherwise: the jobs lose
almost nothing, the light requests stop waiting behind them.

Only threads this module lowers are affected, and only fresh threads are lowered: an unprivileged process cannot
raise a thread's priority back, so a pooled worker thread (Gradio's) must never be lowered. On Linux
``setpriority(PRIO_PROCESS, thread id)`` applies to that one thread; elsewhere, or where it is refused, nothing
changes and the job just runs at normal priority.
"""
from __future__ import annotations

import contextvars
import os
import threading
from typing import Any, Callable

NICE = 10   # CFS weight 110 against 1024 at nice 0: a waiting request gets ~90 % of a CPU within a time slice
GREEDY_NICE = 19   # weight 15: a job of an address with other heavy work in flight, against 110 for everyone else's


def job_nice() -> int:
    """The nice value for a job of the request being served: NICE, or GREEDY_NICE when the request's client address
    has other heavy work queued or running -- so one machine's flood of runs gets little CPU while anyone else
    has work, and all of it otherwise (visitors behind one address share alike)."""
    try:
        from gradio.context import LocalContext
        request = LocalContext.request.get(None)
        host = request.client.host if request is not None and request.client is not None else None
    except (AttributeError, LookupError, ImportError):
        host = None
    if host is None:
        return NICE
    from .fair_queue import heavy_in_flight
    return GREEDY_NICE if heavy_in_flight(host) > 1 else NICE


def lower_priority(nice: int | None = None) -> bool:
    """Raise the calling thread's nice value by ``nice`` (lower its priority); True if that was done.

    Call it at the start of a thread that exists for one job (and ends with it); ``nice`` None: :func:`job_nice`
    (the thread must run in a copy of the request's context, as in_background and StreamedJob run theirs)."""
    nice = job_nice() if nice is None else nice
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
        return True
    except OSError:
        return False


def in_background(fn: Callable[..., Any], *args, **kwargs) -> Any:
    """``fn(*args, **kwargs)`` run in a fresh low-priority thread; waits, then returns its result or raises its error.

    The thread runs in a copy of the caller's context, so Gradio's progress bar (``gr.Progress``, which finds its
    request through context variables) still works from inside ``fn``."""
    box: dict[str, Any] = {}
    context = contextvars.copy_context()

    def job():
        context.run(lower_priority)      # in the request's context: job_nice reads its address
        try:
            box["result"] = context.run(fn, *args, **kwargs)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=job, name=f"job-{getattr(fn, '__name__', 'fn')}", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


__all__ = ["NICE", "GREEDY_NICE", "job_nice", "lower_priority", "in_background"]
