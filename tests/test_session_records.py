"""Gradio's per-session record made cheap (no pre-rendered page config) and new sessions per address bounded
(ui/serving/session_records.py)."""
import uuid

import httpx

from ui.serving import session_records
from ui.serving.session_records import NewSessions


def test_the_patch_applies_to_this_gradio_and_a_new_record_renders_nothing(app_server):
    assert session_records.lazy_session_records()          # app.build_demo applied it; the pinned Gradio matches
    assert session_records.state_holder.SessionState.__init__._lab_lazy
    record = app_server.demo.state_holder[f"fresh-{uuid.uuid4().hex}"]
    assert record.config_values == {}
    # what Gradio fills on demand still works: a component's value written into its config
    key = next(k for k, b in record.blocks_config.blocks.items() if hasattr(b, "value") and not b.stateful)
    record._update_value_in_config(key, "x")
    assert record.config_values[key]["props"]["value"] == "x"


def test_another_gradio_release_is_left_alone(monkeypatch):
    cls = session_records.state_holder.SessionState
    monkeypatch.setattr(cls, "__init__", lambda self, blocks: None)     # a stand-in "other release"
    assert session_records.lazy_session_records() is False
    assert session_records.lazy_session_records(expected="f" * 64) is False


def test_new_sessions_are_a_token_bucket_per_address():
    now = [0.0]
    bucket = NewSessions(burst=3, rate=0.5, clock=lambda: now[0])
    assert [bucket.take("a") for _ in range(4)] == [True, True, True, False]
    assert bucket.take("b")                                   # another address has its own bucket
    now[0] = 1.9
    assert not bucket.take("a")                               # 0.95 of a token back: not yet
    now[0] = 2.1
    assert bucket.take("a") and not bucket.take("a")          # one token per 2 s


def test_a_flood_of_new_sessions_from_one_address_is_cut_off_and_others_still_get_in(app_server, monkeypatch):
    url = app_server.url.rstrip("/") + "/gradio_api/queue/join"
    fn = next(d["id"] for d in app_server.demo.config["dependencies"] if d.get("api_name") == "toy_frame")
    # no refill while the flood runs, however slowly this machine serves it (a token per 0.5 s otherwise
    # lets a slow run's last request in): the count of sessions let in is then exactly the burst
    monkeypatch.setattr(app_server.demo._queue._lab_new_sessions, "rate", 0.0)

    def join(http, address):
        return http.post(url, headers={"X-Forwarded-For": address},
                         json={"data": [None, "reverse", 0], "fn_index": fn, "event_data": None,
                               "session_hash": uuid.uuid4().hex[:12], "trigger_id": None})
    with httpx.Client(timeout=30) as http:
        codes = [join(http, "10.77.0.1").status_code for _ in range(session_records.BURST + 30)]
        refused = join(http, "10.77.0.1")
        other = join(http, "10.77.0.2")
    assert codes == [200] * session_records.BURST + [422] * 30, codes
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["message"] == ("Too many new sessions from your address at once: try again "
                                                     "in a few seconds.")
    assert other.status_code == 200
