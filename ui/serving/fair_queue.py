"""Fair queueing: one visitor can never fill the queue that every visitor shares.

Gradio bounds the queue as a whole (``max_size``), not per visitor: one session sending a hundred training requests
fills it, and everyone else -- page loads included -- is answered "Queue is full". :func:`install` wraps the queue's
``push`` (where Gradio admits an event) with two rules for the *heavy* groups (training, sampling, image runs,
races: :data:`HEAVY`):

* **one at a time per visitor and group**: a visitor with an event of a heavy group queued or running is refused a
  second one of that group, with a message saying what to do (wait, or press Stop). A visitor is its session; an
  API call that names no session (``POST /gradio_api/call/...`` from curl) is keyed by its client address instead,
  so a flood of session-less calls gets one slot, not a hundred. ``gradio_client`` scripts name a session and are
  unaffected;
* **a share of the queue for light work**: heavy events together hold at most :data:`HEAVY_SHARE` of the queue's
  places, so page loads, frames and redraws always find room, whatever the heavy traffic.

:mod:`ui.serving.queue_guard`, installed with them, keeps the queue open when thousands of fresh session hashes
arrive (Gradio's own store would stop the queue for everyone) and serves each heavy group's waiting events
round-robin by client address.

A client address may also open only so many new sessions at once (ui/serving/session_records.py: a burst of 200,
then 2 a second): each new session costs Gradio a record, and a flood of them would push real visitors' sessions
out of Gradio's store of 1,000.

Every refusal is logged as one line (not a traceback). Light events (a frame, a redraw, the page-load event) are
refused here only for a new session over its address's allowance or a request that lacks inputs.
"""
from __future__ import annotations

import asyncio
import logging

from gradio import route_utils

from ui.serving import queue_guard
from ui.serving.session_records import NewSessions

__all__ = ["HEAVY", "PER_VISITOR", "HEAVY_SHARE", "install", "visitor_key", "heavy_in_flight"]

HEAVY = {"toy_train": "toy training", "toy_sample": "toy sampling run", "image_heavy": "image run",
         "compare_heavy": "race or comparison"}
PER_VISITOR = 1       # queued-or-running events per heavy group per visitor
HEAVY_SHARE = 0.6     # of the queue's max_size: the rest is kept for light events and page loads

log = logging.getLogger("diffusion_lab")


def visitor_key(session_hash: str | None, request) -> str:
    """Who sent an event: its session, or (no session named) its client address."""
    if session_hash:
        return "session:" + session_hash
    client = getattr(request, "client", None)
    return "address:" + (client.host if client is not None else "unknown")


def _refusal(message: str):
    """A refusal in the shape of Gradio's input validation (HTTP 422), the one refusal whose text reaches both a
    gradio_client script (ValidationError) and the page (painted on the event's first input). The page itself
    rarely meets it: a button's event is not sent again while it is pending."""
    return False, [{"__type__": "validate", "is_valid": False, "message": message, "parameter_name": "request"}], \
        "validator_error"


_INSTALLED: list = []       # the queue install() guarded (one per process in practice)


def heavy_in_flight(address: str) -> int:
    """How many heavy events (queued or running) the client ``address`` has in the guarded queue now."""
    if not _INSTALLED:
        return 0
    events = list(_INSTALLED[-1].event_ids_to_events.values())
    return sum(1 for e in events if e.concurrency_id in HEAVY and queue_guard.address_of(e) == address)


def install(demo) -> None:
    """Wrap ``demo``'s queue (after ``demo.queue(...)``) with the per-visitor and heavy-share rules."""
    queue = demo._queue
    if getattr(queue, "_lab_fair", False):
        return
    queue_guard.install(queue, HEAVY)     # the queue never stops; heavy groups served round-robin by address
    push = queue.push
    heavy_cap = max(1, int(HEAVY_SHARE * queue.max_size)) if queue.max_size else None
    admitting = asyncio.Lock()      # check-then-push as one step, so two simultaneous requests cannot both pass

    new_sessions = NewSessions()

    async def fair_push(body, request, username):
        if body.fn_index is None:
            return await push(body=body, request=request, username=username)
        holder = getattr(queue.blocks, "state_holder", None)
        if body.session_hash and holder is not None and body.session_hash not in holder:
            address = visitor_key(None, request)
            if not new_sessions.take(address):
                log.info("refused a new session: too many from one address")
                return _refusal("Too many new sessions from your address at once: try again in a few seconds.")
        fn = route_utils.get_fn(queue.blocks, None, body)
        if body.data is not None and len(body.data) < len(fn.inputs):
            # refused here, in the lab's words: Gradio's own refusal prints a multi-line message per request
            # (a flood of them is a flood of the server's log) and names its components' Python reprs
            log.info("refused a request with %d of %d inputs", len(body.data), len(fn.inputs))
            return _refusal(f"This request sent {len(body.data)} input values; /{fn.api_name or 'this endpoint'} "
                            f"takes {len(fn.inputs)}: send every parameter (the API page lists them), or call it "
                            f"through gradio_client, which fills in the defaults.")
        group = fn.concurrency_id
        if group not in HEAVY:
            return await push(body=body, request=request, username=username)
        async with admitting:
            return await _admit(body, request, username, fn)

    async def _admit(body, request, username, fn):
        group = fn.concurrency_id
        key = visitor_key(body.session_hash, request)
        pending = [e for e in list(queue.event_ids_to_events.values()) if e.concurrency_id in HEAVY]
        mine = sum(1 for e in pending if e.concurrency_id == group and getattr(e, "lab_visitor", None) == key)
        if mine >= PER_VISITOR:
            log.info("refused a second %s for one visitor (%s)", HEAVY[group], key.split(":")[0])
            return _refusal(f"You already have a {HEAVY[group]} queued or running (one at a time per visitor): "
                            f"wait for it to finish, or press Stop.")
        if heavy_cap is not None and len(pending) >= heavy_cap:
            log.info("refused a %s: heavy work holds %d of the queue's %d places", HEAVY[group], len(pending),
                     queue.max_size)
            return _refusal(f"The lab is busy ({len(pending)} runs waiting): try again in a minute.")
        ok, event_id, state = await push(body=body, request=request, username=username)
        if not ok and state == "error" and fn.validator is not None:
            # the work-limit validator could not even read the inputs (a word for a number): admit the event
            # without it, so Gradio's own preprocessing refuses it with the message naming that input, as it
            # would with no validator (other heavy pushes wait on `admitting`; push reads fn.validator first)
            validator, fn.validator = fn.validator, None
            try:
                ok, event_id, state = await push(body=body, request=request, username=username)
            finally:
                fn.validator = validator
        if ok and isinstance(event_id, str) and event_id in queue.event_ids_to_events:
            queue.event_ids_to_events[event_id].lab_visitor = key
        return ok, event_id, state

    queue.push = fair_push
    queue._lab_fair = True
    queue._lab_new_sessions = new_sessions      # the bucket, for tests that hold its refill still
    _INSTALLED.append(queue)
