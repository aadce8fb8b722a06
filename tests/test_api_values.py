"""Wrong types, absurd numbers, NaN and infinity, a word too long and a diverging training run, through the whole
app as ``python app.py`` serves it: each gets a clear message (never a crash), and the same session is served again
afterwards. Each tab's own range checks are in test_app_toy, test_app_image and test_app_compare."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client.exceptions import AppError  # noqa: E402

from tests.api_helpers import still_serves_image, still_serves_toy  # noqa: E402


# --- wrong types and absurd numbers through the API ------------------------------------------------------------------
# --- wrong types and absurd numbers through the API ------------------------------------------------------------------
PARSE = "Expected a .* but the value passed to the event handler was"   # Gradio's own message (show_error=True)

WRONG = [
    ("/toy_train", dict(steps="many"), PARSE + ": 'many'"),
    ("/toy_train", dict(lr="fast"), PARSE + ": 'fast'"),
    ("/toy_train", dict(lr=1e308), r"learning rate must be in \[1e-07, 10\]"),
    ("/toy_train", dict(seed=2**63), r"seed must be in \[0, "),
    ("/toy_train", dict(batch_size=[1, 2]), PARSE + r": \[1, 2\]"),
    ("/toy_data", dict(n="lots"), PARSE + ": 'lots'"),
    ("/toy_sample", dict(seed={"a": 1}), PARSE),
    ("/toy_sample", dict(overlays="trajectories, nonsense"), "not in the list of choices"),
    ("/toy_frame", dict(index="last"), PARSE + ": 'last'"),
    ("/toy_gif", dict(fps=1e9), "greater than maximum value 30"),
    ("/image_sample", dict(seed="x", steps=3, batch=1), PARSE + ": 'x'"),
    ("/image_sample", dict(seed=2**40, steps=3, batch=1), r"seed must be in \[0, "),
    ("/image_sample", dict(eta=None, steps=3, batch=1), PARSE + ": None"),
    ("/image_forward", dict(example=["a", "b"]), "not in the list of choices"),
    ("/image_forward", dict(example="../../etc/passwd"), "not in the list of choices"),
    ("/image_restore", dict(t_start=-1), "less than minimum value 0"),
    ("/image_gif", dict(fps=-3), "less than minimum value 2"),
    ("/race", dict(points="many", samplers=["ddim"], steps="2"), PARSE + ": 'many'"),
    ("/race", dict(steps=[2, "x"], samplers=["ddim"], points=200), "Step count .* is not a number"),
    ("/compare_schedules", dict(T="ten"), PARSE + ": 'ten'"),
]

@pytest.mark.parametrize("endpoint, kwargs, words", WRONG, ids=[f"{e[1:]}-{k}" for e, k, _ in WRONG])
def test_wrong_types_and_absurd_numbers_get_a_clear_message_and_the_server_keeps_serving(client, endpoint, kwargs,
                                                                                          words):
    with pytest.raises(AppError, match=words):
        client.predict(**kwargs, api_name=endpoint)
    still_serves_toy(client)

def test_a_fractional_seed_is_rounded_by_the_number_box(client):
    _, info = client.predict(source="dataset", dataset="moons", n=300, seed=1.5, api_name="/toy_data")
    assert "300 points" in info


# --- NaN and infinity: gradio_client will not send them; raw JSON through the call API gets a clear message ---------
# --- NaN and infinity: gradio_client will not send them; raw JSON through the call API gets a clear message ---------
def raw_call(client, endpoint: str, **values) -> tuple[str, dict]:
    """POST the endpoint's parameters (defaults, with ``values`` in their place) as raw JSON, where Python's json
    writes NaN and Infinity, on the client's own session; return (event, data) of the answer's last event."""
    import httpx
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"][endpoint]
    data = [values.get(p["parameter_name"], p["parameter_default"]) for p in api["parameters"]]
    base = client.src.rstrip("/") + "/gradio_api/call" + endpoint
    body = json.dumps({"data": data, "session_hash": client.session_hash})
    posted = httpx.post(base, content=body, headers={"content-type": "application/json"}, timeout=60)
    assert posted.status_code == 200, posted.text[:300]
    stream = httpx.get(f"{base}/{posted.json()['event_id']}", timeout=300).text
    events = [block.splitlines() for block in stream.strip().split("\n\n") if block.strip()]
    kind = events[-1][0].removeprefix("event: ")
    return kind, json.loads(events[-1][1].removeprefix("data: "))

NAN = float("nan")

RAW = [
    ("/toy_train", dict(lr=NAN), "learning rate must be in [1e-07, 10]; got nan."),
    ("/toy_train", dict(lr=float("inf")), "learning rate must be in [1e-07, 10]; got inf."),
    ("/toy_train", dict(steps=NAN), "training steps must be in [1, 20000]; got nan."),
    ("/toy_data", dict(n=NAN), "points must be in [2, 5000]; got nan."),
    ("/image_sample", dict(batch=-float("inf")), "Value -inf is less than minimum value 1."),
    ("/image_sample", dict(steps=NAN), "steps must be in [1, 1000]; got nan."),
    ("/toy_data", dict(seed=NAN), "Original error: ValueError: cannot convert float NaN to integer"),
]

@pytest.mark.parametrize("endpoint, values, words", RAW, ids=[f"{e[1:]}-{k}={v}" for e, d, _ in RAW
                                                              for k, v in d.items()])
def test_nan_and_infinity_sent_as_raw_json_get_a_clear_message(client, endpoint, values, words):
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        client.predict(**values, api_name=endpoint)                               # the client refuses to send them
    kind, data = raw_call(client, endpoint, **values)
    assert kind == "error" and words in (data or {}).get("error", ""), (kind, data)
    still_serves_toy(client)
    still_serves_image(client)


# --- text and training ---------------------------------------------------------------------------------------------
# --- text and training ---------------------------------------------------------------------------------------------
def test_a_word_that_is_too_long_gets_a_clear_message(client):
    with pytest.raises(AppError, match=r"the word 'A{40}' is too long \(40 characters\); at most 24"):
        client.predict(source="word", word="A" * 40, api_name="/toy_data")
    _, info = client.predict(source="word", word="HI", api_name="/toy_data")
    assert "HI" in info

def test_a_diverging_training_run_keeps_the_previous_model(client):
    client.predict(source="dataset", dataset="moons", n=500, api_name="/toy_data")
    diverged = (r"Training failed: training diverged at step \d+ of 300 \(loss (?:[0-9.e+]+|nan|inf)\) with lr=10; "
                r"lower the learning rate \(the default is 0\.01\) — the previous model is kept\.")
    with pytest.raises(AppError, match=diverged):
        client.predict(lr=10.0, steps=300, api_name="/toy_train")
    html, _, quality = client.predict(num_steps=10, n=300, api_name="/toy_sample")
    assert "default model" in quality and "nan" not in quality.lower(), quality   # the previous (default) model
    assert html.count('<img class="dl-frame') == 2 * 11


def test_gradios_monitoring_pages_are_closed(app_server):
    import httpx
    for path in ("/monitoring/summary", "/gradio_api/monitoring/summary", "/monitoring"):
        r = httpx.get(app_server.url.rstrip("/") + path, timeout=30)
        assert r.status_code in (403, 404), (path, r.status_code, r.text[:200])
        assert "avg_duration" not in r.text and "Monitoring URL" not in r.text


def test_gradios_deep_link_files_are_off(app_server, client):
    import httpx
    client.predict(num_steps=5, n=200, api_name="/toy_sample")          # a session with values to write out
    r = httpx.get(app_server.url.rstrip("/") + "/gradio_api/deep_link",
                  params={"session_hash": client.session_hash}, timeout=30)
    assert r.status_code == 404, (r.status_code, r.text[:200])
    deep = Path(app_server.demo.app.uploaded_file_dir) / "deep_links"
    assert not deep.exists() or not any(deep.rglob("state.json"))
