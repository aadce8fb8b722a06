"""The queue stays open whatever one visitor sends: Gradio's per-session message store, guarded.

Gradio keeps each session's outgoing messages (progress, results, queue estimates) in an ``LRUCache(2000)``
(``Queue.pending_messages_per_session``): the 2,001st session evicts the least recently *created* one, even when
that session still has an event queued or running. The next message for it -- a queue estimate broadcast while it
waits -- raises ``KeyError`` inside the queue's scheduler loop, which then marks the queue stopped for good: every
visitor, old or new, is answered "Queue is stopped" (HTTP 503) until the server restarts. One script sending ~2,000
``queue/join`` requests with fresh session hashes does it (bench/hostile_test.py, run 3 in the README).

:func:`install` replaces that store with :class:`SessionMessages` -- the same bound, but a session with an event
still queued or running is never evicted (there are at most the queue's ``max_size`` plus its running events of
those, so the store stays bounded) -- and wraps ``send_message`` so that a message for a session that is gone
anyway is dropped, with one log line, instead of stopping the queue.

It also orders each heavy group's waiting events **round-robin by client address** (:func:`fair_order`): a new
event goes ahead of the events of addresses that already have more waiting or running, so a flood from one
machine -- even one inventing a fresh session per request, which the per-visitor rule of ui/serving/fair_queue.py
cannot see through -- waits behind everyone else's work instead of in front of it. Visitors behind one address (a
lecture hall's NAT, or a proxy) are served in arrival order among themselves, as before. The address is the
request's client address as uvicorn gives it: behind a reverse proxy on the same machine (127.0.0.1, uvicorn's
default ``FORWARDED_ALLOW_IPS``) that is the proxy's X-Forwarded-For; behind a proxy elsewhere (a Hugging Face
Space) it may be the proxy's own address for everyone, and the order is then arrival order, as without this.
"""
from __future__ import annotations

import collections
import logging

log = logging.getLogger("diffusion_lab")

__all__ = ["SessionMessages", "install", "fair_order", "address_of", "forget_finished_sessions"]


class SessionMessages(collections.OrderedDict):
    """Gradio's per-session message queues: at most ``capacity`` sessions, least recently created dropped first,
    except those ``busy`` says still have an event queued or running (those always keep their queue)."""

    def __init__(self, capacity: int, busy, items=()):
        super().__init__(items)
        self.capacity = int(capacity)
        self.busy = busy            # () -> set of session hashes with an event queued or running

    def __setitem__(self, key, value):
        if key in self:
            self.move_to_end(key)
        elif len(self) >= self.capacity:
            keep = self.busy()
            for old in [k for k in self if k not in keep][: len(self) - self.capacity + 1]:
                super().__delitem__(old)
        super().__setitem__(key, value)


def address_of(event) -> str:
    """The client address an event came from ('unknown' when the request has none)."""
    client = getattr(getattr(event, "request", None), "client", None)
    return getattr(client, "host", None) or "unknown"


def fair_order(events: list, running: collections.Counter | None = None) -> list:
    """``events`` (a concurrency group's waiting list, oldest first) reordered round-robin by client address:
    each address's first waiting event, in arrival order, then each address's second, and so on. ``running``
    counts the group's running events per address: an address with one running already waits as if its first
    waiting event were its second, so a free slot goes to an address that has none."""
    seen: collections.Counter = collections.Counter(running or {})
    ranked = []
    for i, event in enumerate(events):
        address = address_of(event)
        ranked.append((seen[address], i, event))
        seen[address] += 1
    return [event for _, _, event in sorted(ranked, key=lambda r: (r[0], r[1]))]


PRUNE_EVERY = 256      # pushes between two sweeps of Gradio's per-session event-id sets


def forget_finished_sessions(queue) -> int:
    """Drop Gradio's empty per-session event-id sets (``pending_event_ids_session``, which Gradio empties but never
    removes: one per session hash ever seen) of sessions whose message queue is gone too, so no stream can still
    read them. Runs on the event loop (inside ``push``), as Gradio's own edits of that dict do. Returns how many."""
    ids = queue.pending_event_ids_session
    gone = [h for h, pending in list(ids.items()) if not pending and h not in queue.pending_messages_per_session]
    for h in gone:
        ids.pop(h, None)
    return len(gone)


def install(queue, heavy_groups) -> None:
    """Guard ``queue`` (a gradio Queue, after ``demo.queue(...)``): the message store, ``send_message``, and
    round-robin order for the concurrency groups in ``heavy_groups``."""
    if getattr(queue, "_lab_guarded", False):
        return

    def busy() -> set:
        return {e.session_hash for e in list(queue.event_ids_to_events.values())}

    old = queue.pending_messages_per_session
    queue.pending_messages_per_session = SessionMessages(getattr(old, "max_size", 2000), busy, old.items())

    send = queue.send_message

    def send_message(event, message):
        try:
            send(event, message)
        except KeyError:        # the session's stream is gone: nobody can read this message
            event.alive = False
            log.info("dropped a message for a session that is gone")

    queue.send_message = send_message

    push = queue.push
    pushes = [0]

    async def push_in_fair_order(body, request, username):
        pushes[0] += 1
        if pushes[0] % PRUNE_EVERY == 0:
            forget_finished_sessions(queue)
        result = await push(body=body, request=request, username=username)
        ok, event_id = result[0], result[1]
        event = queue.event_ids_to_events.get(event_id) if ok and isinstance(event_id, str) else None
        if event is not None and event.concurrency_id in heavy_groups:
            group = event.concurrency_id
            async with queue.delete_lock:       # the lock Gradio holds while it takes events off these lists
                running = collections.Counter(address_of(e) for job in queue.active_jobs if job for e in job
                                              if e.concurrency_id == group)
                waiting = queue.event_queue_per_concurrency_id[group].queue
                waiting[:] = fair_order(waiting, running)
        return result

    queue.push = push_in_fair_order

    get_events = queue.get_events

    def get_events_in_fair_order():
        """Gradio's pick of the next events, after putting each heavy group that has a free slot in round-robin
        order with the running counts of now (start_processing calls this holding delete_lock)."""
        for group in heavy_groups:
            waiting = queue.event_queue_per_concurrency_id.get(group)
            if waiting is None or len(waiting.queue) < 2 or (
                    waiting.concurrency_limit is not None and waiting.current_concurrency >= waiting.concurrency_limit):
                continue
            running = collections.Counter(address_of(e) for job in queue.active_jobs if job for e in job
                                          if e.concurrency_id == group)
            waiting.queue[:] = fair_order(waiting.queue, running)
        return get_events()

    queue.get_events = get_events_in_fair_order
    queue._lab_guarded = True
