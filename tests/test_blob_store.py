"""The sketch pad's blob store (ui/widgets/inputs.py, bounded_blobs): no client-given layer index allocates, no
oversized part is kept, and drawings that no event reads cannot pile up."""
import io

import gradio as gr
import httpx
from PIL import Image

from ui.widgets import inputs


def _pad(demo):
    return next(b for b in demo.blocks.values() if isinstance(b, gr.Sketchpad))


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 255)).save(buf, "PNG")
    return buf.getvalue()


def _send(url, pad, blob_id, kind="layer", index="0", content=None):
    fields = {"component_id": str(pad._id), "session_hash": "blobtest", "fn_name": "accept_blobs",
              "type": kind, "index": index, "id": blob_id}
    return httpx.post(url.rstrip("/") + "/gradio_api/component_server", data=fields,
                      files={"file": ("blob", content if content is not None else _png(), "image/png")}, timeout=30)


def test_a_huge_layer_index_is_refused_and_allocates_nothing(app_server):
    pad = _pad(app_server.demo)
    r = _send(app_server.url, pad, "huge-index", index="10000000")
    assert r.status_code == 400 and "at most 8 layers" in r.json()["detail"], (r.status_code, r.text[:200])
    assert "huge-index" not in pad.blob_storage
    r = _send(app_server.url, pad, "fine", index="0")                 # an ordinary layer is accepted
    assert r.status_code == 200 and len(pad.blob_storage["fine"].layers) == 1


def test_oversized_parts_are_refused(app_server, monkeypatch):
    pad = _pad(app_server.demo)
    monkeypatch.setattr(inputs, "MAX_BLOB_BYTES", 1000)
    r = _send(app_server.url, pad, "too-big", content=b"\0" * 5000)
    assert r.status_code == 400 and "too-big" not in pad.blob_storage and "over 0 MB" in r.json()["detail"]


def test_unread_drawings_cannot_pile_up(app_server):
    pad = _pad(app_server.demo)
    for i in range(inputs.MAX_PENDING_DRAWINGS + 40):
        assert _send(app_server.url, pad, f"unread-{i}").status_code == 200
    assert len(pad.blob_storage) <= inputs.MAX_PENDING_DRAWINGS
    assert f"unread-{inputs.MAX_PENDING_DRAWINGS + 39}" in pad.blob_storage      # the newest are kept
    assert "unread-0" not in pad.blob_storage                                 # the oldest went first
