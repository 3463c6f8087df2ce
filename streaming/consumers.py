"""Client socket events of the live room (each with ``stream_id``).

- ``live.join``: enter the room (its events come to this socket), be counted,
  get the recent chat and the room's state back (``live.joined``). Who may
  join is ``services.admit``: a ticketed stream needs the ticket bought with
  ``POST /api/streams/{id}/join/`` first (402 ticket_required).
- ``live.heartbeat`` (every LIVE_HEARTBEAT_S): still here; keeps the viewer
  counted (and the host's stream alive, and a peer-to-peer seat held).
- ``live.leave``: out of the room (closing the socket does the same).
- ``live.chat`` {text, client_key}, ``live.tip`` {amount, message, client_key}:
  the same services as the API; the reply echoes the ``ref``.
- ``live.signal`` {to, data}: WebRTC signalling between the host and a viewer
  holding a peer-to-peer seat, and nobody else.

Room events sent to everyone in the room: ``live.chat``, ``live.chat_deleted``,
``live.tip`` (with the goal), ``live.goal``, ``live.viewers``,
``live.settings``, ``live.moderation``, ``live.ended``.
"""

import asyncio
import json
import uuid
import weakref

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings

from digis.errors import InvalidInput
from digis.realtime import rooms
from digis.realtime.events import user_group_name
from digis.realtime.registry import on
from streaming import media, selectors, services
from streaming.exceptions import SignalRefused, StreamNotLive
from streaming.models import MediaProvider

# Rooms whose viewer count this process will push shortly (per event loop).
_count_pushes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = weakref.WeakKeyDictionary()


def _stream_id(payload) -> uuid.UUID:
    from digis.params import parse_uuid

    raw = payload.get("stream_id")
    if not isinstance(raw, str):
        raise InvalidInput("stream_id must be a stream's id.", fields={"stream_id": ["Must be a UUID."]}, code="invalid_id")
    return parse_uuid(raw, name="stream_id", required=True)


def _room(stream_id) -> str:
    return f"live.{stream_id}"


def push_count_soon(stream_id) -> None:
    """Push the room's viewer count to the room in LIVE_VIEWERS_PUSH_S, once per process however many joined meanwhile."""
    loop = asyncio.get_running_loop()
    pending = _count_pushes.setdefault(loop, {})
    room = _room(stream_id)
    if room in pending:
        return

    async def push():
        try:
            await asyncio.sleep(settings.LIVE_VIEWERS_PUSH_S)
            pending.pop(room, None)
            count = await sync_to_async(rooms.presence_count)(room, ttl=settings.LIVE_PRESENCE_TTL_S)
            await rooms.send_to_room(room, {"type": "live.viewers", "stream_id": str(stream_id), "count": count})
        finally:
            pending.pop(room, None)

    pending[room] = asyncio.ensure_future(push())


def _admit(stream_id, user):
    stream, standing = selectors.stream_and_standing(stream_id, user)
    role = services.admit(stream, user, standing=standing)
    if role == "host":
        services.host_seen(stream_id=stream.pk, user=user)
    return stream, role


def _enter(stream, user, role) -> dict:
    count = None
    if role != "host":
        services.count_viewer(stream, user)
        _, count = rooms.presence_join(stream.room, user.pk, ttl=settings.LIVE_PRESENCE_TTL_S)
        services.record_peak(stream, max(count, rooms.presence_peak(stream.room)))
    return _snapshot(stream, user, role, count)


def _snapshot(stream, user, role, count=None) -> dict:
    data = selectors.stream_payload(stream, viewer=user)
    if count is not None:
        data["viewers"] = count
    return {
        "type": "live.joined",
        "stream": data,
        "role": role,
        "chat": selectors.recent_chat(stream),
        "standing": services.chat_standing(stream, user) if role == "viewer" else {"timed_out_until": None, "banned": False},
        "heartbeat_s": settings.LIVE_HEARTBEAT_S,
    }


def _left(stream_id, user, role) -> None:
    """A socket left the room (however it left)."""
    if role == "host":
        services.host_seen(stream_id=stream_id, user=user)
    else:
        rooms.presence_leave(_room(stream_id), user.pk, ttl=settings.LIVE_PRESENCE_TTL_S)


@on("live.join")
async def join(*, user, payload, consumer):
    stream_id = _stream_id(payload)
    stream, role = await database_sync_to_async(_admit)(stream_id, user)

    async def on_leave():
        await sync_to_async(_left)(stream_id, user, role)
        if role != "host":
            push_count_soon(stream_id)

    # Subscribe before reading the recent chat: a message posted meanwhile
    # arrives twice at worst (the page keys messages by id), never not at all.
    new = await rooms.join(consumer, stream.room, on_leave=on_leave)
    if new:
        snapshot = await database_sync_to_async(_enter)(stream, user, role)
        if role != "host":
            push_count_soon(stream_id)
    else:
        snapshot = await database_sync_to_async(_snapshot)(stream, user, role)
    return snapshot


@on("live.leave")
async def leave(*, user, payload, consumer):
    stream_id = _stream_id(payload)
    await rooms.leave(consumer, _room(stream_id))
    return {"type": "live.left", "stream_id": str(stream_id)}


def _heartbeat(stream_id, user) -> dict:
    stream = selectors.stream_by_id(stream_id)
    if not stream.is_live:
        raise StreamNotLive()
    room = stream.room
    if user.pk == stream.host_id:
        services.host_seen(stream_id=stream.pk, user=user)
    elif not rooms.presence_touch(room, user.pk):
        # Swept while this socket was silent (a stall longer than the TTL): it is back.
        rooms.presence_join(room, user.pk, ttl=settings.LIVE_PRESENCE_TTL_S)
    if stream.media_provider == MediaProvider.WEBRTC and user.pk != stream.host_id and media.holds_seat(stream, user.pk):
        rooms.presence_touch(media.seats_room(stream), user.pk)
    return {"type": "live.state", "stream_id": str(stream.pk), "status": stream.status,
            "viewers": rooms.presence_count(room, ttl=settings.LIVE_PRESENCE_TTL_S)}


@on("live.heartbeat")
async def heartbeat(*, user, payload, consumer):
    stream_id = _stream_id(payload)
    if not rooms.in_room(consumer, _room(stream_id)):
        raise InvalidInput("Join the stream first.", code="not_in_room")
    return await database_sync_to_async(_heartbeat)(stream_id, user)


@on("live.chat")
def chat(*, user, payload, consumer):
    message, created = services.send_chat(
        stream_id=_stream_id(payload), user=user, text=payload.get("text"), client_key=payload.get("client_key")
    )
    return {"type": "live.chat_sent", "message": message, "created": created}


@on("live.tip")
def tip(*, user, payload, consumer):
    tip_row, created = services.send_tip(
        stream_id=_stream_id(payload), tipper=user, amount=payload.get("amount"), message=payload.get("message") or "",
        client_key=payload.get("client_key"),
    )
    return {"type": "live.tip_sent", "tip": services.tip_payload(tip_row, user), "created": created}


# --- WebRTC signalling (peer-to-peer streams) -----------------------------------------------


def _parse_signal(payload) -> dict:
    from calls.signalling import SIGNAL_KINDS

    data = payload.get("data")
    if not isinstance(data, dict) or data.get("kind") not in SIGNAL_KINDS:
        raise InvalidInput("data must be an object with a known kind.", fields={"data": ["kind: hello, offer, answer, ice or bye."]},
                           code="invalid_signal")
    size = len(json.dumps(data, separators=(",", ":")).encode())
    if size > settings.CALL_SIGNAL_MAX_BYTES:
        raise InvalidInput(f"Signals are limited to {settings.CALL_SIGNAL_MAX_BYTES} bytes.", code="signal_too_large", size=size)
    return data


def _signal_target(stream_id, user, to) -> str:
    """Who a signal from ``user`` goes to: the host (from a seated viewer), or a seated viewer (from the host)."""
    stream = selectors.stream_by_id(stream_id)
    if not stream.is_live:
        raise StreamNotLive()
    if stream.media_provider != MediaProvider.WEBRTC:
        raise SignalRefused("This stream's media does not use peer-to-peer signalling.")
    if user.pk == stream.host_id:
        if not isinstance(to, str) or not media.holds_seat(stream, to):
            raise SignalRefused("That viewer does not hold a seat in this room.")
        return to
    if not media.holds_seat(stream, user.pk):
        raise SignalRefused("Join the stream first: you do not hold a seat in this room.")
    return str(stream.host_id)


@on("live.signal")
async def signal(*, user, payload, consumer):
    from calls.signalling import check_signal_rate

    stream_id = _stream_id(payload)
    data = _parse_signal(payload)
    target = await database_sync_to_async(_signal_target)(stream_id, user, payload.get("to"))
    await sync_to_async(check_signal_rate)(user_id=user.pk, call_id=f"live:{stream_id}:{target}")
    await consumer.channel_layer.group_send(
        user_group_name(target),
        {"type": "realtime.event", "event": {"type": "live.signal", "stream_id": str(stream_id), "from": str(user.pk), "data": data}},
    )
    return None
