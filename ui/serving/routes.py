"""Gradio routes the lab does not use are closed once the server is up (:func:`close_unused_routes`).

``/gradio_api/deep_link`` writes any session's component values to a ``state.json`` under the upload directory on
every call and never deletes it: a visitor could fill the disk, or ask for another session's values by its hash.
The lab's share links (when they come) are URL query parameters read on page load, not Gradio's deep-link files.
"""
from __future__ import annotations

__all__ = ["CLOSED_PATHS", "close_unused_routes"]

CLOSED_PATHS = ("/gradio_api/deep_link",)


def close_unused_routes(demo) -> int:
    """Remove :data:`CLOSED_PATHS` from the launched ``demo``'s app; returns how many routes went."""
    router = demo.app.router
    before = len(router.routes)
    router.routes = [r for r in router.routes if getattr(r, "path", None) not in CLOSED_PATHS]
    return before - len(router.routes)
