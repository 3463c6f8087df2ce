"""Server -> client events, sent only after the surrounding transaction commits.

An event describes something that happened; pushing it before COMMIT could
announce a change that then rolls back (a "payment credited" for a rolled
back credit). Zulip's send_event_on_commit is the model.
"""

import asyncio
import logging
import os
import time
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def user_group_name(user_id) -> str:
    return f"user.{user_id}"


# A push is best effort: a hung channel layer (Redis frozen) must not hold a
# request for the layer's socket timeout on every send. Each send gets
# SEND_TIMEOUT_S (generous: a busy Redis is not a hung one); after a failure
# this process drops pushes for SKIP_AFTER_FAILURE_S instead of waiting again (the sockets it would reach
# are being closed by the same outage, and reconnect and catch up).
SEND_TIMEOUT_S = 5.0
SKIP_AFTER_FAILURE_S = 3.0
_skip_until = 0.0


async def _group_send(user_ids: list[str], message: dict) -> None:
    """Send to each user's group; a dropped push must never fail anything."""
    global _skip_until
    event_type = message.get("event", {}).get("type")
    if time.monotonic() < _skip_until:
        logger.warning("realtime push dropped: channel layer unavailable", extra={"event_type": event_type, "users": len(user_ids)})
        return
    layer = get_channel_layer()
    for user_id in user_ids:
        try:
            await asyncio.wait_for(layer.group_send(user_group_name(user_id), message), SEND_TIMEOUT_S)
        except Exception:
            logger.exception("realtime push failed", extra={"user_id": user_id, "event_type": event_type})
            _skip_until = time.monotonic() + SKIP_AFTER_FAILURE_S
            return


def _group_send_now(user_ids: list[str], message: dict) -> None:
    try:
        async_to_sync(_group_send)(user_ids, message)
    except Exception:  # e.g. called on an event loop's own thread: still never fails the operation
        logger.exception("realtime push failed", extra={"user_ids": user_ids, "event_type": message.get("event", {}).get("type")})


def send_event_on_commit(user_ids: Iterable, event: dict, *, using: str | None = None, detached: bool = False) -> None:
    """Deliver ``event`` (a dict with a "type") to each user's sockets after commit.

    Outside a transaction it is sent at once; on rollback it is never sent.

    ``detached=True``: in an ASGI request's thread (daphne), the send is
    started on the server's event loop after commit and the request does not
    wait for it: for a response that must not depend on the push (the Stripe
    webhook: waiting cost each crediting delivery a hop to the loop and back
    plus the Redis round trips, bench/RESULTS.md, payments). Detached sends
    are not ordered with the request's other sends. Elsewhere (the test client,
    Celery, a shell) it is sent before returning, as without it.
    """
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ValueError("an event is a dict with a string 'type'")
    ids = [str(user_id) for user_id in user_ids]
    message = {"type": "realtime.event", "event": event}
    loop = _request_event_loop() if detached else None
    if loop is None:
        transaction.on_commit(lambda: _group_send_now(ids, message), using=using)
        return

    def start_on_the_loop():
        try:
            loop.call_soon_threadsafe(_start_detached, ids, message)
        except RuntimeError:  # the loop closed meanwhile (server shutting down): send it from here
            _group_send_now(ids, message)

    transaction.on_commit(start_on_the_loop, using=using)


# Detached sends started on the event loop and not finished yet: asyncio keeps
# only a weak reference to a task, which could otherwise be collected mid-flight.
_detached_in_flight: set = set()


def _request_event_loop():
    """The event loop serving this request when this runs in an ASGI request's
    thread (asgiref records it there for ``async_to_sync``); None elsewhere."""
    from asgiref.sync import SyncToAsync

    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid() or loop.is_closed():
        return None
    return loop


def _start_detached(user_ids: list[str], message: dict) -> None:
    """On the event loop: start the group sends and keep them referenced until done."""
    task = asyncio.ensure_future(_group_send(user_ids, message))
    _detached_in_flight.add(task)
    task.add_done_callback(_detached_in_flight.discard)


def send_events_on_commit(events: Iterable[tuple[Iterable, dict]], *, using: str | None = None) -> None:
    """Deliver many events, each to its own users, after commit: a fan-out's batch.

    What ``send_event_on_commit`` does for each (user_ids, event) pair, but
    with one trip to an event loop for the whole batch and the group sends
    running a few dozen at a time, instead of one trip per event. A failed
    send is logged and never fails anything.
    """
    batch = []
    for user_ids, event in events:
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise ValueError("an event is a dict with a string 'type'")
        batch.append(([str(user_id) for user_id in user_ids], {"type": "realtime.event", "event": event}))
    if not batch:
        return

    async def send_all():
        for start in range(0, len(batch), 50):
            await asyncio.gather(*(_group_send(ids, message) for ids, message in batch[start : start + 50]))

    def send_now():
        try:
            async_to_sync(send_all)()
        except Exception:
            logger.exception("realtime push failed", extra={"events": len(batch)})

    transaction.on_commit(send_now, using=using)


def close_sockets_on_commit(user_ids: Iterable, *, reason: str, using: str | None = None) -> None:
    """Close every open socket of these users after commit (bans, deletions)."""
    ids = [str(user_id) for user_id in user_ids]
    message = {"type": "realtime.close", "reason": reason}
    transaction.on_commit(lambda: _group_send_now(ids, message), using=using)
