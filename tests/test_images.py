"""diffusion.images: any upload -> the model's size and channels in [-1, 1]; bad uploads -> ImageError messages."""
import io
import resource
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from diffusion.images import (MAX_PIXELS, ImageError, fit_image, image_to_tensor, load_image, tensor_to_uint8,
                              uint8_to_tensor)


def encode(im: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


# --- every image mode becomes 8-bit L or RGB, with the right pixel values ----------------------------------------
def test_rgba_is_composited_over_white():
    im = Image.new("RGBA", (10, 10), (255, 0, 0, 0))        # fully transparent red
    im.putpixel((0, 0), (0, 0, 255, 255))                   # one opaque blue pixel
    out = load_image(encode(im, "PNG"))
    assert out.mode == "RGB"
    assert out.getpixel((5, 5)) == (255, 255, 255) and out.getpixel((0, 0)) == (0, 0, 255)


def test_palette_with_and_without_transparency():
    pal = Image.new("P", (6, 6), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert load_image(encode(pal, "PNG")).getpixel((0, 0)) == (10, 200, 30)
    transparent = load_image(encode(pal, "PNG", transparency=1))
    assert transparent.getpixel((0, 0)) == (255, 255, 255)


def test_16_bit_is_rescaled_not_clipped():
    a = np.array([[0, 65535], [32768, 257]], dtype=np.uint16)
    out = np.asarray(load_image(encode(Image.fromarray(a), "PNG")))
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 255], [128, 1]]


def test_float_and_bool_arrays():
    assert np.asarray(load_image(np.array([[0.0, 1.0]], dtype=np.float32))).tolist() == [[0, 255]]
    assert np.asarray(load_image(np.array([[False, True]]))).tolist() == [[0, 255]]
    assert np.asarray(load_image(np.array([[np.nan, 300.0]]))).tolist() == [[0, 255]]


def test_cmyk_jpeg_becomes_rgb():
    out = load_image(encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95))
    assert out.mode == "RGB"
    r, g, b = out.getpixel((8, 8))
    assert r > 200 and g < 60 and b < 60                    # cyan-free, magenta+yellow = red


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    out = load_image(data)
    assert out.mode == "RGB" and out.getpixel((4, 4)) == (255, 0, 0)


def test_la_and_one_bit_become_grey():
    assert load_image(encode(Image.new("LA", (4, 4), (100, 255)), "PNG")).mode == "L"
    one = load_image(encode(Image.new("1", (4, 4), 1), "PNG"))
    assert one.mode == "L" and one.getpixel((0, 0)) == 255


def test_exif_rotation_is_applied():
    im = Image.new("RGB", (20, 10), (0, 0, 0))
    exif = im.getexif()
    exif[274] = 6                                            # "rotate 90 CW to display"
    out = load_image(encode(im, "JPEG", exif=exif))
    assert out.size == (10, 20)


# --- bad uploads: a clear ImageError, never a crash ---------------------------------------------------------------
@pytest.mark.parametrize("data, words", [
    (b"this is not an image", "not an image"),
    (b"", "not an image"),
    (encode(Image.new("RGB", (300, 300), (9, 9, 9)), "JPEG")[:300], "damaged or truncated"),
    (encode(Image.new("RGB", (300, 300), (9, 9, 9)), "PNG")[:100], "truncated"),
], ids=["text", "empty", "truncated-jpeg", "truncated-png"])
def test_non_images_and_corrupt_files_are_refused_clearly(data, words):
    with pytest.raises(ImageError, match=words):
        load_image(data)


def test_missing_file_and_wrong_types(tmp_path):
    with pytest.raises(ImageError, match="no image file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="expected an image"):
        load_image(12345)
    with pytest.raises(ImageError, match=r"\[H, W\]"):
        load_image(np.zeros((2, 2, 2, 2), dtype=np.uint8))
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(ImageError, match="notes.png"):
        load_image(text)


def test_huge_jpeg_is_decoded_at_reduced_scale_without_blowing_memory(tmp_path):
    path = tmp_path / "huge.jpg"
    # made in another process, so that this one's peak memory does not include the 100 MB original
    subprocess.run([sys.executable, "-c", "from PIL import Image; import sys; "
                    "Image.new('L', (10_000, 10_000), 77).save(sys.argv[1], quality=50)", str(path)], check=True)
    data = path.read_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = load_image(data)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert out.size == (1250, 1250)                          # DCT-scaled by 1/8 while decoding
    assert grown_mb < 50                                     # a full decode would need 100 MB
    x = image_to_tensor(data, (28, 28), 1)
    assert x.shape == (1, 1, 28, 28) and abs(float(x.mean()) - (77 / 127.5 - 1)) < 0.02


def test_huge_png_is_refused_before_decoding():
    data = encode(Image.new("1", (10_000, 10_000)), "PNG")   # a few KB on disk, 100 Mpx in memory
    with pytest.raises(ImageError, match=r"10000 x 10000.*up to 16 Mpx"):
        load_image(data)
    assert MAX_PIXELS == 16_000_000


def test_decompression_bomb_is_refused():
    data = encode(Image.new("1", (20_000, 20_000)), "PNG")   # 400 Mpx: over PIL's hard limit
    with pytest.raises(ImageError, match="decompression bomb"):
        load_image(data)


def test_oversized_upload_file_is_refused(tmp_path, monkeypatch):
    import diffusion.images as images
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "big.png"
    path.write_bytes(encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)), "PNG"))
    with pytest.raises(ImageError, match="big.png.*up to"):
        load_image(path)


# --- fitting to the model ---------------------------------------------------------------------------------------
def test_grey_into_rgb_model_and_rgb_into_grey_model():
    grey = Image.new("L", (40, 40), 200)
    rgb_x = image_to_tensor(grey, (32, 32), 3)
    assert rgb_x.shape == (1, 3, 32, 32)
    assert torch.allclose(rgb_x[:, 0], rgb_x[:, 1]) and torch.allclose(rgb_x[:, 1], rgb_x[:, 2])
    red = Image.new("RGB", (40, 40), (255, 0, 0))
    grey_x = image_to_tensor(red, (28, 28), 1)
    assert grey_x.shape == (1, 1, 28, 28)
    assert abs(float(grey_x[0, 0, 5, 5]) - (76 / 127.5 - 1)) < 1e-6   # ITU-R 601 luma of pure red = 76


def test_centre_crop_keeps_the_middle_and_sets_the_size():
    im = Image.new("L", (300, 100), 0)
    im.paste(255, (100, 0, 200, 100))                        # a white square in the middle
    out = fit_image(im, (10, 12), 1)                         # (height, width)
    assert out.size == (12, 10)
    a = np.asarray(out)
    assert a.mean() > 200                                    # the crop is the middle square


def test_invert_and_range():
    x = image_to_tensor(Image.new("L", (8, 8), 0), (8, 8), 1, invert=True)
    assert torch.all(x == 1.0)
    x = image_to_tensor(Image.new("L", (8, 8), 0), (8, 8), 1)
    assert torch.all(x == -1.0)


def test_uint8_tensor_round_trip_and_diffusers_rounding():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    x = uint8_to_tensor(a)
    assert x.shape == (3, 3, 5, 7) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert np.array_equal(tensor_to_uint8(x), a)
    grey = tensor_to_uint8(torch.zeros(2, 1, 4, 4))
    assert grey.shape == (2, 4, 4) and np.all(grey == 128)   # 0 -> 0.5 -> 127.5 -> rounds to 128
    wild = tensor_to_uint8(torch.tensor([[[[float("nan"), float("inf"), -5.0, 0.999]]]]))
    assert wild.tolist() == [[[0, 255, 0, 255]]]
    with pytest.raises(ValueError, match="uint8"):
        uint8_to_tensor(a.astype(np.float32))
