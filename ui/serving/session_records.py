"""Gradio's record of a session, made cheap to create, and new sessions per address bounded.

Every request naming a session hash the server has not seen makes Gradio build a ``SessionState``, and its
``__init__`` renders the config of every block of the page (``config_values``, kept so that a deep link can rebuild
the page later): with this app's ~290 blocks that is ~57 ms of the server's event loop and ~0.4 MB per session,
so ~20 requests a second with fresh session hashes stall every visitor (bench/hostile_test.py). The lab closes the
deep-link route (ui/serving/routes.py), the one reader of all of ``config_values``; Gradio fills single entries on
demand anyway (``_update_value_in_config``). :func:`lazy_session_records` therefore starts ``config_values`` empty.
It is applied only to the Gradio release whose ``SessionState.__init__`` it was written against (checked by the
source's hash); another release is left as it is, and the test for it fails.

:class:`NewSessions` bounds how many new sessions one client address may open: a token bucket of :data:`BURST`
(a lecture hall behind one address opening the page at once fits) refilled at :data:`RATE` per second.
"""
from __future__ import annotations

import collections
import hashlib
import inspect
import os
import threading
import time
from copy import copy

from gradio import state_holder

__all__ = ["lazy_session_records", "NewSessions", "BURST", "RATE", "EXPECTED_INIT_SHA256"]

# sha256 of inspect.getsource(gradio.state_holder.SessionState.__init__) in Gradio 6.31.0
EXPECTED_INIT_SHA256 = "1b2ea21dc42c45dafb54280eccd932efe6851230b7f896ddbfd4cf593bc0d06b"
BURST = 200           # new sessions one address may open at once
RATE = 2.0            # ... and per second after that
MAX_ADDRESSES = 10_000


def _source_hash() -> str:
    return hashlib.sha256(inspect.getsource(state_holder.SessionState.__init__).encode()).hexdigest()


def lazy_session_records(expected: str | None = None) -> bool:
    """Make a new SessionState skip pre-rendering every block's config; True when applied (or already)."""
    cls = state_holder.SessionState
    if getattr(cls.__init__, "_lab_lazy", False):
        return True
    if _source_hash() != (expected or EXPECTED_INIT_SHA256):
        return False

    def __init__(self, blocks):
        self.blocks_config = copy(blocks.default_config)
        self.config_values = {}     # filled per block on first need; only the (closed) deep-link route reads all
        self.state_data = {}
        self._state_ttl = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600

    __init__._lab_lazy = True
    cls.__init__ = __init__
    return True


class NewSessions:
    """Per client address, a token bucket of new sessions: ``take(address)`` is True while the address has one."""

    def __init__(self, burst: float = BURST, rate: float = RATE, clock=time.monotonic):
        self.burst, self.rate, self.clock = float(burst), float(rate), clock
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def take(self, address: str) -> bool:
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.pop(address, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            ok = tokens >= 1
            self._buckets[address] = (tokens - 1 if ok else tokens, now)
            while len(self._buckets) > MAX_ADDRESSES:          # the longest-unseen address is forgotten (full)
                self._buckets.popitem(last=False)
            return ok
