"""Bad uploads and drawings, through the whole app as ``python app.py`` serves it: corrupt, oversized and bomb
files get the lab's message, every image mode becomes what the model sees (checked on its pixels), and the same
session is served again afterwards. The loader's own cases are in test_images.py."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from tests.api_helpers import drawing_value, still_serves_image, still_serves_toy  # noqa: E402


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

def huge_png_header(path, width: int, height: int) -> None:
    """A PNG that claims width x height pixels of 8-bit RGBA with one tiny compressed row of data (a 'bomb')."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 4 * width))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
                     + png_chunk(b"IEND", b""))


# --- uploads to the Image lab ------------------------------------------------------------------------------------
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
    from PIL.PngImagePlugin import PngInfo
    meta = PngInfo()
    meta.add_text("comment", "a" * 50_000_000, zip=True)                          # 50 MB of zTXt, ~50 kB on disk
    Image.new("L", (16, 16)).save(d / "ztxt.png", pnginfo=meta)
    rng = np.random.default_rng(0)
    (d / "over_limit.png").write_bytes(rng.integers(0, 256, 11 * 2**20, dtype=np.uint8).tobytes())  # > 10 MB
    return d

CORRUPT = [
    ("truncated.png", r"That upload cannot be used: the image data is damaged or truncated\.$"),
    ("empty.png", r"That upload cannot be used: 'empty.png' is not an image the lab can read \(PNG, JPEG, GIF, WebP"),
    ("garbage.jpg", r"That upload cannot be used: 'garbage.jpg' is not an image the lab can read"),
    ("page.html", r"Invalid file type. Please upload a file that is one of these formats: \['image'\]"),   # Gradio's
    ("bomb.png", r"That upload cannot be used: 'bomb.png' claims an enormous size \(a decompression bomb\?\); refused"),
    ("ztxt.png", r"That upload cannot be used: 'ztxt.png' carries a metadata block too large to read"),
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


# --- every image mode of an upload, checked on what the model sees -------------------------------------------------
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


# --- drawings for the Toy lab ----------------------------------------------------------------------------------
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

def test_a_large_drawing_becomes_data_and_a_huge_one_is_refused_before_decoding(client, tmp_path):
    path = tmp_path / "large.png"
    stroke("1", (4000, 4000)).save(path)          # 16 Mpx, a few kB on disk: shrunk to 1024 px, then sampled
    _, info = client.predict(source="drawing", drawing=drawing_value(path), n=300, api_name="/toy_data")
    assert "your drawing" in info and "300 points" in info
    path = tmp_path / "huge.png"
    stroke("1", (8000, 8000)).save(path)          # 64 Mpx: Gradio would decode it to 256 MB of RGBA first
    with pytest.raises(AppError, match=r"The drawing is 8000 x 8000 pixels; the lab accepts up to 16 Mpx a part"):
        client.predict(source="drawing", drawing=drawing_value(path), n=300, api_name="/toy_data")
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
