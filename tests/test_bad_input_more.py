"""More rows of the README's bad-input table, through the whole app as ``python app.py`` serves it.

test_bad_input.py and the tab tests hold most rows; this file holds the ones that had no test through the API:
every image mode of an Image-lab upload checked on its pixels, malformed Hub ids and an unreachable Hub through the
whole app, NaN and infinity sent as raw JSON, a word that is too long, and a diverging training run keeping the
previous model. Each bad call is followed by a good call on the same session (the server keeps serving).
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from diffusion import hub  # noqa: E402
from tests.test_bad_input import still_serves_image, still_serves_toy  # noqa: E402
from tests.tiny_unet import FakeHub  # noqa: E402

STAYING = "staying on mnist-ddpm (bundled)"


# --- every image mode of an upload, checked on what the model sees -------------------------------------------------
def halves(mode: str, left, right, size=(40, 40)) -> Image.Image:
    """A picture in ``mode``: the left half one value, the right half another."""
    im = Image.new(mode, size, right)
    im.paste(left, (0, 0, size[0] // 2, size[1]))
    return im


def palette(transparent: bool) -> tuple[Image.Image, dict]:
    im = halves("P", 0, 1)
    im.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)          # 0: black, 1: green (ITU-R 601 luma 124)
    return im, ({"transparency": 1} if transparent else {})


def sixteen_bit() -> Image.Image:
    a = np.full((40, 40), 128 * 257, dtype=np.uint16)          # 16-bit mid-grey: rescaled to 128, not clipped to 255
    a[:, :20] = 65535
    return Image.fromarray(a)


def animated() -> tuple[Image.Image, dict]:
    first, second = halves("RGB", (0, 0, 0), (255, 255, 255)), halves("RGB", (255, 255, 255), (0, 0, 0))
    return first, {"save_all": True, "append_images": [second], "duration": 100}


# (picture, save options, format, grey value expected on the left half and on the right half)
MODES = {
    "RGBA": (halves("RGBA", (0, 0, 0, 255), (0, 0, 0, 0)), {}, "PNG", 0, 255),       # transparency over white
    "LA": (halves("LA", (0, 255), (0, 0)), {}, "PNG", 0, 255),
    "P": (*palette(False), "PNG", 0, 124),
    "P-transparent": (*palette(True), "PNG", 0, 255),
    "I;16": (sixteen_bit(), {}, "PNG", 255, 128),
    "CMYK": (halves("CMYK", (0, 0, 0, 255), (0, 0, 0, 0)), {"quality": 95}, "JPEG", 0, 255),
    "1": (halves("1", 0, 1), {}, "PNG", 0, 255),
    "GIF-animated": (*animated(), "GIF", 0, 255),                                     # the first frame
}


@pytest.mark.parametrize("mode", list(MODES))
def test_an_upload_in_any_image_mode_becomes_what_the_model_sees(client, tmp_path, mode):
    im, options, fmt, left, right = MODES[mode]
    assert mode.split("-")[0] in (im.mode, "GIF")
    path = tmp_path / f"upload.{fmt.lower()}"
    im.save(path, fmt, **options)
    client.predict(api_name="/image_load_model")                                   # the bundled grey model
    shown, html, _, text = client.predict(upload=handle_file(str(path)), api_name="/image_forward")
    assert "your upload as mnist-ddpm (bundled) sees it" in text and "grey" in text and 'data-n="' in html
    a = np.asarray(Image.open(shown).convert("L"), dtype=float)
    w = a.shape[1]
    got = a[:, : w // 4].mean(), a[:, -w // 4:].mean()                            # away from the middle edge
    assert abs(got[0] - left) <= 6 and abs(got[1] - right) <= 6, (mode, got)


# --- Hub ids that never reach the Hub, and a Hub that cannot be reached --------------------------------------------
MALFORMED = {
    "dotdot": ("../../etc/passwd", "'../../etc/passwd' is not a Hub model id; expected owner/name"),
    "abs-path": ("/tmp/model", "is not a Hub model id"),
    "three-parts": ("a/b/c", "is not a Hub model id"),
    "dot-git": ("owner/name.git", "is not a Hub model id"),
    "windows-path": ("C:\\models\\m", "is not a Hub model id"),
    "home": ("~/model", "is not a Hub model id"),
    "long-owner": ("x" * 100 + "/y", "is not a Hub model id"),
    "other-site": ("https://evil.example.com/a/b", "is not a Hub model id"),
    "number": (42, "a model name must be text, got int"),
    "list": (["a/b"], "a model name must be text, got list"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_hub_id_is_refused_before_asking_the_hub(client, monkeypatch, tmp_path, case):
    fake = FakeHub(monkeypatch, tmp_path)
    name, words = MALFORMED[case]
    client.predict(api_name="/image_load_model")
    info, current, *_ = client.predict(name, api_name="/image_load_model")
    assert words in info and STAYING in info and current == hub.BUNDLED_ID, info
    assert fake.info_calls == 0 and fake.downloads == []                          # nothing asked of the Hub
    still_serves_image(client)


@pytest.mark.parametrize("case", ["offline", "no-network", "timeout"])
def test_a_hub_model_asked_for_while_offline_or_unreachable_says_so_at_once(client, monkeypatch, tmp_path, case):
    import httpx2
    import huggingface_hub
    if case == "offline":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")

        def no_network(*args, **kwargs):
            raise AssertionError("the network must not be tried when HF_HUB_OFFLINE is set")
        monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_network)
    else:
        fake = FakeHub(monkeypatch, tmp_path)
        fake.error = (httpx2.ConnectError("[Errno -2] Name or service not known") if case == "no-network"
                      else httpx2.ReadTimeout("timed out"))
    client.predict(api_name="/image_load_model")
    start = time.perf_counter()
    info, current, *_ = client.predict("google/ddpm-cifar10-32", api_name="/image_load_model")
    assert time.perf_counter() - start < 5
    assert ("the Hugging Face Hub cannot be reached (offline?), so google/ddpm-cifar10-32 cannot be downloaded"
            in info), info
    assert STAYING in info and current == hub.BUNDLED_ID
    still_serves_image(client)


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
def test_a_word_that_is_too_long_gets_a_clear_message(client):
    with pytest.raises(AppError, match=r"the word 'A{40}' is too long \(40 characters\); at most 24"):
        client.predict(source="word", word="A" * 40, api_name="/toy_data")
    _, info = client.predict(source="word", word="HI", api_name="/toy_data")
    assert "HI" in info


def test_a_diverging_training_run_keeps_the_previous_model(client):
    client.predict(source="dataset", dataset="moons", n=500, api_name="/toy_data")
    diverged = (r"Training failed: training diverged at step \d+ of 300 \(loss (?:[0-9.e+]+|nan|inf)\) with lr=10; "
                r"lower the learning rate \(the default is 0\.02\) — the previous model is kept\.")
    with pytest.raises(AppError, match=diverged):
        client.predict(lr=10.0, steps=300, api_name="/toy_train")
    html, _, quality = client.predict(num_steps=10, n=300, api_name="/toy_sample")
    assert "default model" in quality and "nan" not in quality.lower(), quality   # the previous (default) model
    assert html.count('<img class="dl-frame') == 2 * 11
