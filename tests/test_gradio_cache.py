"""ui.gradio_cache: Gradio's cached image files are written atomically, so concurrent downloads of the same picture
always read a whole file (the 20-visitor load test found short and empty downloads without it)."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image

from ui.serving import gradio_cache


def test_write_atomic_keeps_a_complete_file_and_replaces_a_short_one(tmp_path):
    path = tmp_path / "image.png"
    gradio_cache.write_atomic(path, b"abc")
    assert path.read_bytes() == b"abc"
    inode = path.stat().st_ino
    gradio_cache.write_atomic(path, b"abc")                 # complete already: not rewritten
    assert path.stat().st_ino == inode
    path.write_bytes(b"a")                                  # a truncated file is replaced
    gradio_cache.write_atomic(path, b"abc")
    assert path.read_bytes() == b"abc" and not list(tmp_path.glob(".image.png.*"))


def test_concurrent_saves_of_one_picture_never_expose_a_partial_file(tmp_path):
    from gradio import processing_utils as pu
    gradio_cache.install()
    gradio_cache.install()                                  # idempotent
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8))   # ~270 kB as PNG
    whole = len(pu.encode_pil_to_bytes(picture, "png"))
    first = Path(pu.save_pil_to_cache(picture, str(tmp_path), format="png"))
    sizes, stop = [], threading.Event()

    def read():
        while not stop.is_set():
            sizes.append(len(first.read_bytes()))

    def save():
        for _ in range(15):
            assert Path(pu.save_pil_to_cache(picture, str(tmp_path), format="png")) == first
    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=save) for _ in range(3)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert sizes and set(sizes) == {whole}                  # Gradio's own rewrite shows readers 0 or partial sizes


def test_exports_go_straight_into_gradios_cache_and_leave_nothing_in_tmpdir(tmp_path, monkeypatch):
    import tempfile

    from gradio import utils
    from ui.widgets.export import gif_file
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)                 # re-read TMPDIR
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))
    frames = [Image.new("RGB", (32, 32), (i * 40, 0, 0)) for i in range(5)]
    first, again = gif_file(frames, prefix="toy-reverse"), gif_file(frames, prefix="toy-reverse")
    cache = Path(utils.get_upload_folder()).resolve()
    assert Path(first).resolve().is_relative_to(cache) and first == again          # one file for the same bytes
    with Image.open(first) as im:
        assert im.format == "GIF" and im.n_frames == 5
    assert list((tmp_path / "tmp").iterdir()) == []                                  # nothing left in TMPDIR
