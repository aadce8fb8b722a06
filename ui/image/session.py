"""One visitor's Image lab (:class:`ImageSession`, in a ``gr.State``): the model's *name* (models are shared
read-only through the hub's cache), their picture, and their recorded runs as uint8 frames, bounded to
``MAX_SESSION_BYTES``."""
from __future__ import annotations

import numpy as np
from PIL import Image

from diffusion import hub
from diffusion.images import fit_image, uint8_to_tensor
from diffusion.labs.image_runs import MAX_BATCH

from ..serving.session import MAX_SESSION_BYTES, LabSession, SessionRegistry
from ..widgets.inputs import refusal

# per-session bytes: the reverse run's frames, the restore run's and the forward view's share MAX_SESSION_BYTES
# (150 MB) with room for the runs' final images (a 16-image batch of 256 px RGB floats is 12.6 MB)
REVERSE_BYTES, RESTORE_BYTES, FORWARD_BYTES = 80 * 2**20, 32 * 2**20, 16 * 2**20
_FINALS_MAX = (MAX_BATCH + 1) * 3 * 256 * 256 * 5   # both runs' final images (float32 + uint8), 256 px RGB
assert REVERSE_BYTES + RESTORE_BYTES + FORWARD_BYTES + _FINALS_MAX <= MAX_SESSION_BYTES

SESSIONS = SessionRegistry()   # live image sessions (tests and the load benchmark check they are released)


# --- the session --------------------------------------------------------------------------------------------------
class ImageSession(LabSession):
    """One visitor's Image lab: the model's name, their picture, their recorded runs (uint8)."""

    registry = SESSIONS

    def __init__(self):
        super().__init__()
        self.model_id = hub.BUNDLED_ID
        self.picture: Image.Image | None = None     # the chosen picture, L or RGB, at most PICTURE_SIDE px
        self.picture_name = ""
        self.invert = False
        self.forward: dict | None = None
        self.run = None
        self.restore = None

    def release(self) -> None:
        self.run = self.restore = self.forward = self.picture = None   # the models stay in the shared cache

    def nbytes(self) -> int:
        total = sum(r.nbytes() for r in (self.run, self.restore) if r is not None)
        if self.forward is not None:
            total += sum(v.nbytes for v in self.forward.values() if isinstance(v, np.ndarray))
        if self.picture is not None:
            total += len(self.picture.tobytes())
        return total


def _session(session) -> ImageSession:
    return session if isinstance(session, ImageSession) else ImageSession()


def _existing(session) -> ImageSession:
    """The session, or gr.Error when this visitor has none yet (nothing to show)."""
    if not isinstance(session, ImageSession):
        raise refusal("Nothing to show yet: show the forward process or run the sampler first.")
    return session


def _model(session: ImageSession) -> hub.ImageModel:
    try:
        return hub.load_model(session.model_id)
    except hub.HubError as exc:
        raise refusal(str(exc)) from None


def _x0(session: ImageSession, model: hub.ImageModel):
    """The session's picture as the model's input: [1, C, H, W] in [-1, 1], and as uint8 for display."""
    im = fit_image(session.picture, model.sample_size, model.in_channels)
    a = np.asarray(im, dtype=np.uint8)
    if session.invert:
        a = 255 - a
    return uint8_to_tensor(a), a
