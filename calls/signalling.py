"""The ``call.signal`` socket event: WebRTC signalling relayed between the two parties.

A client sends ``{"type": "call.signal", "call_id": ..., "data": {"kind": ...}}``;
the server forwards ``{"type": "call.signal", "call_id", "from", "data"}`` to
every socket of the *other* party, and to nobody else. It relays only when
the sender is a party of that call and the call is accepted, active or
paused; anything else gets an ``error`` event with a stable code, so nobody
can inject an offer into someone else's call or ring a stranger's browser.

The relay carries no money and changes no state: the server never reads the
SDP, it only checks who may talk to whom, how much and how often.

Signal kinds (the page's protocol, ``static/js/call.js``):
- ``hello``: "my page is ready" with the sender's page-session id;
- ``offer`` / ``answer``: an SDP description;
- ``ice``: one ICE candidate (``candidate`` null means "gathering done");
- ``bye``: the sender's page is going away (the call itself ends through
  ``call.leave`` or the REST API, not through signalling).
"""

import json
import uuid

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache

from digis.errors import Conflict, DomainError, InvalidInput, NotFound
from digis.realtime.events import user_group_name
from digis.realtime.registry import on

SIGNAL_KINDS = frozenset({"hello", "offer", "answer", "ice", "bye"})
RELAY_STATUSES = frozenset({"accepted", "active", "paused"})


class TooManySignals(DomainError):
    code = "signal_rate_limited"
    status_code = 429
    default_message = "Too many signalling messages; slow down."


def parse_signal(payload: dict) -> tuple[uuid.UUID, dict]:
    """Validate a client's call.signal event; raises InvalidInput with a code."""
    raw_id = payload.get("call_id")
    try:
        call_id = uuid.UUID(str(raw_id)) if raw_id not in (None, "") else None
    except ValueError:
        call_id = None
    if call_id is None:
        raise InvalidInput("call_id must be a call's id.", fields={"call_id": ["Must be a UUID."]}, code="invalid_signal")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise InvalidInput("data must be an object.", fields={"data": ["Must be an object."]}, code="invalid_signal")
    if data.get("kind") not in SIGNAL_KINDS:
        raise InvalidInput(
            "Unknown signal kind.",
            fields={"data": [f"kind must be one of {', '.join(sorted(SIGNAL_KINDS))}."]},
            code="invalid_signal",
        )
    size = len(json.dumps(data, separators=(",", ":")).encode())
    if size > settings.CALL_SIGNAL_MAX_BYTES:
        raise InvalidInput(
            f"Signals are limited to {settings.CALL_SIGNAL_MAX_BYTES} bytes.", code="signal_too_large", size=size
        )
    return call_id, data


def relay_target(*, call_id: uuid.UUID, user) -> str:
    """The id of the party a signal from ``user`` on ``call_id`` goes to.

    Raises ``call_not_found`` (404) for a call ``user`` is not a party of,
    exactly as for a call that does not exist, and ``call_not_live`` (409)
    when the call is not accepted/active/paused.
    """
    from calls.models import CallSession

    call = CallSession.objects.filter(pk=call_id).values("fan_id", "creator_id", "status").first()
    if call is None or user.pk not in (call["fan_id"], call["creator_id"]):
        raise NotFound("No such call.", code="call_not_found")
    if call["status"] not in RELAY_STATUSES:
        raise Conflict("This call is not connected.", code="call_not_live", status=call["status"])
    other = call["creator_id"] if user.pk == call["fan_id"] else call["fan_id"]
    return str(other)


def check_signal_rate(*, user_id, call_id) -> None:
    """A fixed-window counter in the shared cache: bounds what a sender can push."""
    limit, window = settings.CALL_SIGNAL_RATE
    key = f"calls:signal-rate:{user_id}:{call_id}"
    cache.add(key, 0, window)
    try:
        count = cache.incr(key)
    except ValueError:  # the window expired between add and incr
        cache.set(key, 1, window)
        count = 1
    if count > limit:
        raise TooManySignals(retry_after_s=window)


@on("call.signal")
async def relay_signal(*, user, payload, consumer):
    call_id, data = parse_signal(payload)
    await sync_to_async(check_signal_rate)(user_id=user.pk, call_id=call_id)
    target = await database_sync_to_async(relay_target)(call_id=call_id, user=user)
    # Nothing is written, so there is no transaction to wait for: the relay
    # goes straight to the other party's group (all of their open tabs).
    await consumer.channel_layer.group_send(
        user_group_name(target),
        {"type": "realtime.event", "event": {"type": "call.signal", "call_id": str(call_id), "from": str(user.pk), "data": data}},
    )
    return None
