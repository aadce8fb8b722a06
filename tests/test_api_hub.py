"""Hub ids through the Image lab, as ``python app.py`` serves it: ids that cannot be loaded say why and keep the
current model, malformed ids never reach the Hub, an unreachable Hub is reported at once. The loader's own cases
are in test_hub.py."""
from __future__ import annotations

import re
import time

import pytest

gradio_client = pytest.importorskip("gradio_client")

from diffusion import hub  # noqa: E402
from tests.api_helpers import still_serves_image  # noqa: E402
from tests.tiny_unet import FakeHub, edit_json, make_checkpoint, response  # noqa: E402

STAYING = "staying on mnist-ddpm (bundled)"



# --- Hub ids through the Image lab (the loader's own cases are in test_hub; offline and malformed ids through the
# app in test_app_image) ---------------------------------------------------------------------------------------------
@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    return FakeHub(monkeypatch, tmp_path)

def hub_case(fake, tmp_path, case: str) -> str:
    """Set the faked Hub up for ``case``; return the id to ask for."""
    if case == "missing":
        return "nobody/nothing"
    if case == "private":
        from huggingface_hub import errors as hf_errors
        fake.error = hf_errors.HfHubHTTPError("401 Unauthorized", response=response(401))
        return "someone/secret"
    folder = make_checkpoint(tmp_path / case, channels=1, size=8, attention=False)
    if case == "gated":
        fake.gated = "manual"
    elif case == "not a UNet2DModel":
        edit_json(folder / "config.json", _class_name="UNet2DConditionModel")
    elif case == "too large":
        fake.size_override["diffusion_pytorch_model.safetensors"] = 2 * hub.MAX_DOWNLOAD_BYTES
    elif case == "pickle only":
        (folder / "diffusion_pytorch_model.safetensors").rename(folder / "diffusion_pytorch_model.bin")
    repo = "someone/" + case.replace(" ", "-")
    fake.add(repo, folder)
    return repo

@pytest.mark.parametrize("case, words", [
    ("missing", "nobody/nothing was not found on the Hub"),
    ("private", "someone/secret is private or gated"),
    ("gated", "is gated"),
    ("not a UNet2DModel", "is a UNet2DConditionModel, not a UNet2DModel"),
    ("too large", r"is too large: 800 MB of weights, over the lab's 400 MB limit"),
    ("pickle only", "has only pickle weights .*safetensors only"),
])
def test_a_hub_id_that_cannot_be_loaded_says_why_and_keeps_the_current_model(client, fake_hub, tmp_path, case, words):
    client.predict(api_name="/image_load_model")                 # the bundled model
    info, name, *_ = client.predict(hub_case(fake_hub, tmp_path, case), api_name="/image_load_model")
    assert re.search(words, info), info
    assert "staying on mnist-ddpm (bundled)" in info and name == hub.BUNDLED_ID
    if case in ("too large", "pickle only", "gated"):
        assert not any(f.endswith((".safetensors", ".bin")) for f in fake_hub.downloads)   # nothing downloaded
    still_serves_image(client)

def test_empty_text_for_the_model_name_means_the_bundled_model(client):
    info, name, *_ = client.predict("   ", api_name="/image_load_model")
    assert name == hub.BUNDLED_ID and "mnist-ddpm (bundled)" in info


# --- Hub ids that never reach the Hub, and a Hub that cannot be reached --------------------------------------------
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
