"""The queue stays open whatever one visitor sends (ui/serving/queue_guard.py): fresh session hashes by the
thousand cannot stop it, and a flood of heavy requests from one address waits behind other addresses' work."""
import collections
import time
import uuid
from types import SimpleNamespace

import httpx
from gradio_client import Client

from tests.api_helpers import long_training_steps
from ui.serving import queue_guard


def test_the_message_store_never_drops_a_session_that_still_waits_for_results():
    busy = {"a"}
    store = queue_guard.SessionMessages(3, lambda: busy)
    for key in "abcdef":
        store[key] = [key]
    assert list(store) == ["a", "e", "f"]          # the oldest idle ones went; the busy one stayed
    busy.update("ef")
    store["g"] = ["g"]
    assert list(store) == ["a", "e", "f", "g"]     # everyone busy: it grows (bounded by the queue's size) ...
    busy.clear()
    store["h"] = ["h"]
    assert list(store) == ["f", "g", "h"]          # ... and shrinks back to its bound once they are done
    store["g"] = ["again"]
    assert list(store) == ["f", "h", "g"]              # re-setting a key refreshes it, as Gradio's LRUCache does


def _event(address, name):
    return SimpleNamespace(request=SimpleNamespace(client=SimpleNamespace(host=address)), name=name)


def test_waiting_events_are_served_round_robin_by_address():
    flood = [_event("10.0.0.9", f"x{i}") for i in range(4)]
    waiting = flood[:3] + [_event("10.0.0.1", "alice"), flood[3], _event("10.0.0.2", "bob"),
                           _event("10.0.0.1", "alice2")]
    order = [e.name for e in queue_guard.fair_order(waiting)]
    assert order == ["x0", "alice", "bob", "x1", "alice2", "x2", "x3"]
    assert queue_guard.fair_order([]) == []
    # an address with a run going already waits behind the first events of addresses with none
    running = collections.Counter({"10.0.0.1": 1})
    order = [e.name for e in queue_guard.fair_order(waiting, running)]
    assert order == ["x0", "bob", "x1", "alice", "x2", "alice2", "x3"]
    assert queue_guard.address_of(SimpleNamespace(request=None)) == "unknown"


def _join(http, url, fn_index, session_hash):
    # from an address of its own (X-Forwarded-For), so the flood does not spend 127.0.0.1's new-session allowance
    return http.post(url.rstrip("/") + "/gradio_api/queue/join", headers={"X-Forwarded-For": "10.88.0.1"},
                     json={"data": [None, "reverse", 0], "fn_index": fn_index, "event_data": None,
                           "session_hash": session_hash, "trigger_id": None})


def test_fresh_session_hashes_beyond_the_store_do_not_stop_the_queue(app_server, monkeypatch):
    queue = app_server.demo._queue
    store = queue.pending_messages_per_session
    assert isinstance(store, queue_guard.SessionMessages) and store.capacity == 2000
    monkeypatch.setattr(store, "capacity", 20)     # Gradio's 2,000, scaled down so the test is quick
    alice = Client(app_server.url, verbose=False)
    training = alice.submit(steps=long_training_steps(64, 2, 256), hidden=64, depth=2, batch_size=256, api_name="/toy_train")
    try:
        deadline = time.time() + 60
        while training.status().code.name not in ("PROCESSING", "ITERATING") and time.time() < deadline:
            time.sleep(0.1)
        frame = next(d["id"] for d in alice.config["dependencies"] if d.get("api_name") == "toy_frame")
        with httpx.Client(timeout=30) as http:
            codes = [_join(http, app_server.url, frame, uuid.uuid4().hex[:11]).status_code for _ in range(60)]
        assert codes.count(200) == 60, codes
        time.sleep(1.5)         # queue estimates are broadcast to every waiting session meanwhile
        assert not queue.stopped
        assert len(store) <= 20 + len(queue.event_ids_to_events)
        alice.predict(api_name="/toy_stop")
        loss_plot, status = training.result(timeout=120)
        assert "stopped" in status, status     # the visitor's run ended normally, by their Stop
        newcomer = Client(app_server.url, verbose=False)
        assert newcomer.predict(view="reverse", index=0, api_name="/toy_frame")
    finally:
        if not training.done():
            alice.predict(api_name="/toy_stop")


def test_empty_event_id_sets_of_forgotten_sessions_are_dropped():
    queue = SimpleNamespace(pending_event_ids_session={"gone": set(), "reading": set(), "busy": {"e1"}},
                            pending_messages_per_session={"reading": object()})
    assert queue_guard.forget_finished_sessions(queue) == 1
    assert set(queue.pending_event_ids_session) == {"reading", "busy"}


def test_a_free_slot_goes_to_an_address_with_nothing_running_at_dispatch_time():
    def ev(address, name, group="toy_train"):
        e = _event(address, name)
        e.concurrency_id = group
        return e
    running = ev("10.0.0.9", "flood-running")
    waiting = [ev("10.0.0.9", "flood-1"), ev("10.0.0.9", "flood-2"), ev("10.0.0.1", "alice")]
    group = SimpleNamespace(queue=list(waiting), concurrency_limit=2, current_concurrency=1)

    class FakeQueue:
        pending_messages_per_session = {}
        event_ids_to_events = {}
        event_queue_per_concurrency_id = {"toy_train": group}
        active_jobs = [[running], None]

        def send_message(self, event, message):
            pass

        async def push(self, body, request, username):
            return False, "", "error"

        def get_events(self):                        # Gradio's rule: the first waiting event of a group
            return [self.event_queue_per_concurrency_id["toy_train"].queue.pop(0)], False, "toy_train"

    queue = FakeQueue()
    queue_guard.install(queue, {"toy_train": "toy training"})
    assert queue.get_events()[0][0].name == "alice"      # pushed last, served first: the flood has one running
    assert queue.get_events()[0][0].name == "flood-1"


def test_a_job_of_an_address_with_other_heavy_work_in_flight_runs_at_the_lowest_priority(monkeypatch):
    from ui.serving import fair_queue, priority

    class Request:
        client = SimpleNamespace(host="10.0.0.9")
    from gradio.context import LocalContext
    token = LocalContext.request.set(Request())
    try:
        monkeypatch.setattr(fair_queue, "heavy_in_flight", lambda host: {"10.0.0.9": 3}.get(host, 0))
        assert priority.job_nice() == priority.GREEDY_NICE
        monkeypatch.setattr(fair_queue, "heavy_in_flight", lambda host: 1)      # only the job itself
        assert priority.job_nice() == priority.NICE
    finally:
        LocalContext.request.reset(token)
    assert priority.job_nice() == priority.NICE                                # no request: a start-up job
