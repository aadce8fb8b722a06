"""Atomic writes for the images Gradio caches for download (a race found by bench/load_test.py).

Gradio saves every image output to ``<cache>/<sha256 of its bytes>/image.png`` (``processing_utils.
save_pil_to_cache``) by truncating and rewriting the file, on every request, even when the same picture is already
there. When several visitors are sent the *same* picture at once (a class scrubbing the shared default run, or
opening the Image lab on the same example), one request rewrites the file while another's download is reading it:
the download ends short ("peer closed connection without sending complete message body") or reads an empty file.
In the 20-visitor load test that failed half of the visitors.

Gradio already writes copied files atomically (``save_file_to_cache``: a temporary name, then ``os.replace``);
:func:`install` makes its two byte-writing cache functions do the same, and skip the rewrite when the
content-addressed file is already complete. A download then always reads a whole file.
"""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

_installed = threading.Lock()
_done = False


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that no reader ever sees a partial file; keep a complete file that is there.

    ``path`` is content-addressed (its folder is the hash of ``data``), so a file of the same size is the same."""
    try:
        if path.stat().st_size == len(data):
            os.utime(path)         # Gradio's delete_cache ages files by time: a file handed out again is fresh
            return
    except FileNotFoundError:
        pass
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def install() -> None:
    """Patch gradio.processing_utils' save_pil_to_cache and save_bytes_to_cache (idempotent)."""
    global _done
    with _installed:
        if _done:
            return
        from gradio import processing_utils as pu

        def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
            data = pu.encode_pil_to_bytes(img, format)
            folder = Path(cache_dir) / pu.hash_bytes(data)
            folder.mkdir(exist_ok=True, parents=True)
            path = (folder / f"{name}.{format}").resolve()
            write_atomic(path, data)
            return str(path)

        def save_bytes_to_cache(data: bytes, file_name: str, cache_dir: str) -> str:
            folder = Path(cache_dir) / pu.hash_bytes(data)
            folder.mkdir(exist_ok=True, parents=True)
            if not Path(file_name).suffix:
                file_name = file_name + pu.detect_audio_format(data)
            path = (folder / Path(file_name).name).resolve()
            write_atomic(path, data)
            return str(path)

        pu.save_pil_to_cache = save_pil_to_cache
        pu.save_bytes_to_cache = save_bytes_to_cache
        _done = True


__all__ = ["install", "write_atomic"]
