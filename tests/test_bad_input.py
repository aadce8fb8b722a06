"""Bad input everywhere, through the whole app as ``python app.py`` serves it.

This file holds the rows of the README's bad-input table that the tab tests (test_app_toy, test_app_image,
test_app_compare), the loader tests (test_hub, test_images) and test_toy_model do not already cover through the
API (test_bad_input_more.py holds the rest); the README's "Bad input" table maps every row to its test. Each case
checks the message the visitor gets and then that the same session still gets a good answer (the server keeps
serving).
"""
from __future__ import annotations

import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from diffusion import hub  # noqa: E402
from tests.tiny_unet import FakeHub, edit_json, make_checkpoint, response  # noqa: E402


def still_serves_toy(client) -> None:
    """A good toy call on the same session after a bad one."""
    path = client.predict(view="forward", index=0, api_name="/toy_frame")
    assert Image.open(path).size == (340, 340)


def still_serves_image(client) -> None:
    """A good Image-lab call on the same session after a bad one."""
    _, html, _, text = client.predict(api_name="/image_forward")
    assert 'data-n="' in html and "as " in text


def drawing_value(path) -> dict:
    """What the Toy lab's sketch pad sends: a composite image (and its layers)."""
    return {"background": None, "layers": [handle_file(str(path))], "composite": handle_file(str(path))}


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png_header(path, width: int, height: int) -> None:
    """A PNG that claims width x height pixels of 8-bit RGBA with one tiny compressed row of data (a 'bomb')."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 4 * width))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
                     + png_chunk(b"IEND", b""))


# --- uploads to the Image lab ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad-uploads")
    good = d / "good.png"
    Image.new("RGB", (64, 64), (20, 120, 220)).save(good)
    data = good.read_bytes()
    (d / "truncated.png").write_bytes(data[: len(data) // 2])
    (d / "empty.png").write_bytes(b"")
    (d / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40)     # a JPEG header, then noise
    (d / "page.html").write_text("<html><script>alert(1)</script></html>")
    huge_png_header(d / "bomb.png", 30_000, 30_000)
    rng = np.random.default_rng(0)
    (d / "over_limit.png").write_bytes(rng.integers(0, 256, 11 * 2**20, dtype=np.uint8).tobytes())  # > 10 MB
    return d


CORRUPT = [
    ("truncated.png", r"That upload cannot be used: the image data is damaged or truncated \(image file is truncated"),
    ("empty.png", r"That upload cannot be used: 'empty.png' is not an image the lab can read \(PNG, JPEG, GIF, WebP"),
    ("garbage.jpg", r"That upload cannot be used: 'garbage.jpg' is not an image the lab can read"),
    ("page.html", r"Invalid file type. Please upload a file that is one of these formats: \['image'\]"),   # Gradio's
    ("bomb.png", r"That upload cannot be used: 'bomb.png' claims an enormous size \(a decompression bomb\?\); refused"),
]


@pytest.mark.parametrize("name, words", CORRUPT, ids=[name for name, _ in CORRUPT])
def test_corrupt_and_non_image_uploads_get_a_clear_message(client, bad_files, name, words):
    with pytest.raises(AppError, match=words):
        client.predict(upload=handle_file(str(bad_files / name)), api_name="/image_forward")
    still_serves_image(client)


def test_an_upload_over_the_size_limit_is_refused_by_the_server(app_server, client, bad_files):
    import httpx
    import app
    assert app.launch_kwargs()["max_file_size"] == "10mb"
    big = bad_files / "over_limit.png"
    with pytest.raises(ValueError, match="exceeds the maximum file size of 10485760 bytes"):   # the client checks
        client.predict(upload=handle_file(str(big)), api_name="/image_forward")
    with big.open("rb") as fh:                                                                  # and the server
        answer = httpx.post(app_server.url.rstrip("/") + "/gradio_api/upload", files={"files": fh}, timeout=120)
    assert answer.status_code == 413 and "10" in answer.text, (answer.status_code, answer.text[:200])
    still_serves_image(client)


# --- drawings for the Toy lab --------------------------------------------------------------------------------------
def stroke(mode: str, size=(200, 200)) -> Image.Image:
    """A black bar on a white (or transparent) canvas in the given PIL mode."""
    canvas = Image.new("RGBA", size, (255, 255, 255, 0 if mode in ("RGBA", "LA", "P") else 255))
    canvas.paste((0, 0, 0, 255), (40, 80, 160, 120))
    if mode == "I;16":
        a = np.asarray(canvas.convert("L"), dtype=np.uint16) * 257
        return Image.fromarray(a)
    if mode == "CMYK":
        return canvas.convert("RGB").convert("CMYK")
    return canvas.convert(mode)


@pytest.mark.parametrize("mode, fmt", [("RGBA", "PNG"), ("RGB", "PNG"), ("L", "PNG"), ("LA", "PNG"), ("1", "PNG"),
                                       ("P", "PNG"), ("I;16", "PNG"), ("CMYK", "JPEG"), ("RGB", "WEBP")])
def test_a_drawing_in_any_image_mode_becomes_data(client, tmp_path, mode, fmt):
    path = tmp_path / f"drawing.{fmt.lower()}"
    stroke(mode).save(path, fmt)
    _, info = client.predict(source="drawing", drawing=drawing_value(path), n=300, api_name="/toy_data")
    assert "your drawing" in info and "300 points" in info


def test_a_huge_drawing_becomes_data(client, tmp_path):
    path = tmp_path / "huge.png"
    stroke("1", (8000, 8000)).save(path)          # 64 Mpx, a few kB on disk: shrunk to 1024 px, then sampled
    _, info = client.predict(source="drawing", drawing=drawing_value(path), n=300, api_name="/toy_data")
    assert "your drawing" in info and "300 points" in info
    still_serves_toy(client)


def test_a_drawing_bomb_is_refused(client, tmp_path):
    path = tmp_path / "bomb.png"
    huge_png_header(path, 30_000, 30_000)          # 900 Mpx claimed by a 100 kB file
    with pytest.raises(AppError, match=r"The drawing is far too large to open \(over 89 million pixels\)") as err:
        client.predict(source="drawing", drawing=drawing_value(path), n=300, api_name="/toy_data")
    assert "/tmp" not in str(err.value) and "preprocess" not in str(err.value)   # no server paths, no internals
    still_serves_toy(client)


@pytest.mark.parametrize("name, content, words", [("blank.png", "white", "drawing is empty"),
                                                  ("corrupt.png", "corrupt",
                                                   r"could not be read as a picture \(truncated or corrupt\)"),
                                                  ("notes.png", "text",
                                                   r"could not be read as a picture \(not an image\)")],
                         ids=["blank", "corrupt", "not-an-image"])
def test_an_empty_or_broken_drawing_gets_a_clear_message(client, tmp_path, name, content, words):
    path = tmp_path / name
    if content == "white":
        Image.new("RGB", (120, 120), (255, 255, 255)).save(path)
    elif content == "corrupt":
        Image.new("RGB", (120, 120), 0).save(path)
        path.write_bytes(path.read_bytes()[:60])
    else:
        path.write_text("not a drawing")
    with pytest.raises(AppError, match=words) as err:
        client.predict(source="drawing", drawing=drawing_value(path), n=300, api_name="/toy_data")
    assert "/tmp" not in str(err.value) and "preprocess" not in str(err.value)   # no server paths, no internals
    still_serves_toy(client)


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
