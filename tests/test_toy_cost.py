"""Toy work limits: estimates from the settings (diffusion/labs/toy_cost.py), refusals that name what fits, and the
hard wall-clock cap on training (ui/toy/handlers.py)."""
import re

import pytest
from gradio_client import Client

from diffusion.labs import toy_cost
from tests.api_helpers import long_training_steps
from ui.serving import limits as handlers


def test_estimates_grow_with_the_work_and_the_largest_fit_fits():
    costs = toy_cost.calibrate()
    assert costs.train_b > 0 and costs.call_b > 0 and costs.train_a >= 0 and costs.call_a >= 0
    small, big = toy_cost.macs(2, 64, 2, 7), toy_cost.macs(2, 512, 8, 7)
    assert big > 20 * small
    est = lambda **k: toy_cost.train_seconds(costs, **k)  # noqa: E731
    assert est(steps=2000, batch_size=512, work=small) == pytest.approx(2 * est(steps=1000, batch_size=512, work=small))
    assert est(steps=1000, batch_size=4096, work=big) > est(steps=1000, batch_size=512, work=big) > \
        est(steps=1000, batch_size=512, work=small)
    n = toy_cost.largest_steps(costs, 60.0, batch_size=4096, work=big)
    assert est(steps=n, batch_size=4096, work=big) <= 60.0 < est(steps=n + 1, batch_size=4096, work=big)
    assert toy_cost.sample_seconds(costs, calls=40, n=4000, work=small) == pytest.approx(
        2 * toy_cost.sample_seconds(costs, calls=20, n=4000, work=small))


def test_training_at_the_sliders_maxima_is_refused_with_what_fits(client):
    with pytest.raises(Exception, match=r"This training would take about \d+ s \(20000 steps of batch 4096, width "
                                        r"512, depth 8\); the lab allows 120 s per run: at these settings at most "
                                        r"(\d+) steps fit") as err:
        client.predict(hidden=512, depth=8, batch_size=4096, steps=20000, api_name="/toy_train")
    fit = int(re.search(r"at most (\d+) steps fit", str(err.value)).group(1))
    assert 0 < fit < 20000
    # the session keeps working, with its previous (default) model
    _, _, quality = client.predict(num_steps=5, n=200, api_name="/toy_sample")
    assert "default model" in quality


def test_a_run_over_the_limit_is_refused_when_it_arrives_not_after_waiting_for_a_slot(app_server):
    import time
    busy = [Client(app_server.url, verbose=False) for _ in range(2)]     # both training slots taken
    jobs = [c.submit(steps=long_training_steps(64, 2, 256), hidden=64, depth=2, batch_size=256, api_name="/toy_train") for c in busy]
    try:
        deadline = time.time() + 60
        while sum(j.status().code.name in ("PROCESSING", "ITERATING") for j in jobs) < 2 and time.time() < deadline:
            time.sleep(0.1)
        t0 = time.perf_counter()
        with pytest.raises(Exception, match=r"steps: This training would take about \d+ s"):
            Client(app_server.url, verbose=False).predict(hidden=512, depth=8, batch_size=4096, steps=20000,
                                                           api_name="/toy_train")
        waited = time.perf_counter() - t0
        assert all(not j.done() for j in jobs), "the refusal must come while both slots are still busy"
        assert waited < 30, waited
    finally:
        for c, j in zip(busy, jobs):
            c.predict(api_name="/toy_stop")
            j.result(timeout=120)


def test_a_long_sampling_run_is_refused_before_it_starts(client):
    with pytest.raises(Exception, match=r"This run would take about \d+ s \(\d+ network calls on 5000 points\); the "
                                        r"lab allows 10 s per run: with heun at most (\d+) steps fit") as err:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(handlers, "MAX_SAMPLE_S", 10.0)     # the real limit needs a run too long for a test
            client.predict(sampler="heun", num_steps=1000, n=5000, api_name="/toy_sample")
    assert 1 < int(err.value.args[0].split("at most ")[1].split()[0]) < 1000


def test_training_stops_at_its_hard_wall_clock_cap_and_keeps_the_model(app_server, monkeypatch):
    monkeypatch.setattr(handlers, "HARD_CAP_MIN_S", 0.5)
    monkeypatch.setattr(handlers, "HARD_CAP_FACTOR", 0.0)   # cap = 0.5 s whatever the estimate
    c = Client(app_server.url, verbose=False)
    _, status = c.predict(steps=5000, hidden=64, depth=2, batch_size=512, api_name="/toy_train")
    assert "stopped" in status
    steps = int(re.search(r"\*\*Done\*\*.*?: (\d+) steps in", status).group(1))
    assert 0 < steps < 5000
    _, _, quality = c.predict(num_steps=5, n=200, api_name="/toy_sample")
    assert f"{steps} steps (stopped early)" in quality


def test_an_expected_refusal_is_one_log_line_and_no_traceback(client, caplog, capfd):
    import logging
    with caplog.at_level(logging.INFO, logger="diffusion_lab"):
        with pytest.raises(Exception, match=r"sampling steps must be a whole number in \[1, 1000\]; got 2.5"):
            client.predict(num_steps=2.5, api_name="/toy_sample")
    lines = [r.getMessage() for r in caplog.records if r.name == "diffusion_lab"]
    assert "refused: sampling steps must be a whole number in [1, 1000]; got 2.5." in lines
    assert "Traceback" not in capfd.readouterr().err              # Gradio printed none for it
