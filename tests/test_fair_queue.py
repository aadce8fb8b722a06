"""Fair queueing (ui/serving/fair_queue.py): one visitor holds one slot per heavy group, session-less API floods get
one slot per address, and heavy work never takes the places that light events and page loads need."""
import logging
import time

import httpx
import pytest
from gradio_client import Client

from ui.serving import fair_queue

from tests.api_helpers import long_sampling_steps, long_training_steps


def _long_training(client):
    # long enough to still be running while the test sends more (the test stops it at the end)
    return client.submit(steps=long_training_steps(64, 2, 256), hidden=64, depth=2, batch_size=256,
                         api_name="/toy_train")


def _wait_running(job, timeout=60):
    t0 = time.time()
    while job.status().code.name not in ("PROCESSING", "ITERATING") and time.time() - t0 < timeout:
        time.sleep(0.1)


def test_a_second_heavy_run_of_one_visitor_is_refused_with_a_message_and_others_still_get_in(app_server, caplog):
    alice = Client(app_server.url, verbose=False)
    bob = Client(app_server.url, verbose=False)
    first = _long_training(alice)
    try:
        _wait_running(first)
        with caplog.at_level(logging.INFO, logger="diffusion_lab"):
            with pytest.raises(Exception, match="You already have a toy training queued or running"):
                alice.predict(steps=50, api_name="/toy_train")
        assert any("refused a second toy training" in r.getMessage() for r in caplog.records)
        assert not any(r.exc_info for r in caplog.records if r.name == "diffusion_lab")   # one line, no traceback
        # another group of the same visitor, and the same group for another visitor, are admitted
        html, _, quality = alice.predict(num_steps=5, n=200, api_name="/toy_sample")
        assert "On the data" in quality
        bob.predict(source="dataset", dataset="moons", n=500, api_name="/toy_data")
        bob.predict(steps=100, hidden=16, depth=1, batch_size=64, api_name="/toy_train")
    finally:
        alice.predict(api_name="/toy_stop")
        first.result(timeout=120)
    # once the first run has ended, the visitor may start another
    alice.predict(steps=100, hidden=16, depth=1, batch_size=64, api_name="/toy_train")


def test_session_less_api_calls_share_one_slot_per_address(app_server):
    url = app_server.url.rstrip("/") + "/gradio_api/call/toy_sample"
    steps = long_sampling_steps("dpmpp_2m", 5000)
    accepted, refused = 0, []
    with httpx.Client(timeout=30) as http:
        for _ in range(6):      # six at once from one address, naming no session: like a curl loop
            r = http.post(url, json={"data": ["dpmpp_2m", steps, 0, 0, 5000, ["trajectories"], "karras"]})
            if r.status_code == 200:
                accepted += 1
            else:
                refused.append((r.status_code, r.json().get("detail", "")))
    assert accepted == 1, (accepted, refused)
    assert all(code == 422 and "You already have a toy sampling run queued or running" in detail[0]["message"]
               for code, detail in refused), refused


def test_heavy_work_leaves_the_rest_of_the_queue_to_light_events(app_server, monkeypatch):
    queue = app_server.demo._queue
    cap = int(fair_queue.HEAVY_SHARE * queue.max_size)
    assert 0 < cap < queue.max_size
    # fill the heavy share with stand-in pending events of many visitors (no real work), then ask for one more

    class Pending:
        def __init__(self, i):
            self.concurrency_id, self.lab_visitor = "toy_train", f"session:fake{i}"
    fakes = {f"fake{i}": Pending(i) for i in range(cap)}
    monkeypatch.setattr(queue, "event_ids_to_events", {**queue.event_ids_to_events, **fakes})
    newcomer = Client(app_server.url, verbose=False)
    with pytest.raises(Exception, match=r"The lab is busy \(\d+ runs waiting\)"):
        newcomer.predict(steps=100, api_name="/toy_train")
    # light events still get in: a frame of the newcomer's default run
    png = newcomer.predict(view="reverse", index=0, api_name="/toy_frame")
    assert png


def test_a_request_with_too_few_inputs_is_refused_in_the_labs_words(app_server, caplog):
    url = app_server.url.rstrip("/") + "/gradio_api/call/toy_train"
    with caplog.at_level(logging.INFO, logger="diffusion_lab"), httpx.Client(timeout=30) as http:
        r = http.post(url, json={"data": []})
    assert r.status_code == 422
    message = r.json()["detail"][0]["message"]
    assert message.startswith("This request sent 0 input values; /toy_train takes 10: send every parameter")
    assert "gradio.components" not in r.text and "object at 0x" not in r.text
    assert any("refused a request with 0 of 10 inputs" in rec.getMessage() for rec in caplog.records)
