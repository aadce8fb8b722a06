"""ui/priority.py: heavy jobs run in fresh threads at a lower CPU priority; the serving threads keep theirs."""
import contextvars
import os
import sys
import threading

import pytest

from ui.serving.priority import NICE, in_background, lower_priority

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@linux
def test_the_job_thread_is_lowered_and_the_caller_is_not():
    before = _nice()
    inside = in_background(_nice)
    assert inside == min(19, before + NICE)
    assert _nice() == before            # only the job's own thread changed


@linux
def test_lower_priority_affects_only_the_calling_thread():
    box = {}

    def job():
        box["ok"] = lower_priority(3)
        box["nice"] = _nice()
    before = _nice()
    t = threading.Thread(target=job)
    t.start()
    t.join()
    assert box["ok"] and box["nice"] == min(19, before + 3) and _nice() == before


def test_result_arguments_and_errors_come_back():
    assert in_background(lambda a, b=0: a * 10 + b, 4, b=2) == 42
    with pytest.raises(ValueError, match="bad steps"):
        in_background(lambda: (_ for _ in ()).throw(ValueError("bad steps")))


def test_the_callers_context_is_seen_by_the_job():
    """gr.Progress finds its request through context variables: the job thread must see the caller's."""
    var = contextvars.ContextVar("request", default=None)
    var.set("visitor-7")
    assert in_background(var.get) == "visitor-7"
    assert threading.current_thread().name != "job"   # and the job did run elsewhere:
    assert in_background(lambda: threading.current_thread().name).startswith("job-")
