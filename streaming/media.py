"""Media credentials for a live stream: Agora tokens, or a peer-to-peer seat.

With Agora configured (``AGORA_APP_ID`` and ``AGORA_APP_CERTIFICATE``, as for
calls: ``calls.media``), the host gets a broadcaster (publisher) token and each
viewer an audience (subscriber) token for the channel ``live-<stream id>``,
valid ``LIVE_AGORA_TOKEN_S``; the page renews by joining again (a ticket is
never charged twice). Agora fans the video out, so the room has no size limit
here.

Without Agora the host's browser sends its camera to each viewer over its own
WebRTC peer connection, signalled over /ws/ (``live.signal``). Each connection
encodes and uploads the video again, so one laptop serves only a few: at most
``LIVE_P2P_MAX_VIEWERS`` viewers hold a *seat* (room presence with a capacity,
kept by their heartbeats); the next one is refused with ``room_full``.
"""

import time

from django.conf import settings

from calls.media import agora_configured, agora_uid, ice_servers
from digis.realtime import rooms
from streaming.exceptions import RoomFull
from streaming.models import MediaProvider


def provider() -> str:
    return MediaProvider.AGORA if agora_configured() else MediaProvider.WEBRTC


def agora_channel(stream) -> str:
    return f"live-{stream.id}"


def _agora_token(*, channel: str, uid: int, publisher: bool, expires_at: int) -> str:
    from agora_token_builder.RtcTokenBuilder import Role_Publisher, Role_Subscriber, RtcTokenBuilder

    role = Role_Publisher if publisher else Role_Subscriber
    return RtcTokenBuilder.buildTokenWithUid(
        settings.AGORA_APP_ID, settings.AGORA_APP_CERTIFICATE, channel, uid, role, expires_at
    )


def seats_room(stream) -> str:
    return f"{stream.room}.p2p"


def claim_seat(stream, user) -> None:
    """Hold (or keep) one of the host's peer-to-peer seats; RoomFull when none is free."""
    capacity = max(1, int(settings.LIVE_P2P_MAX_VIEWERS))
    admitted, _ = rooms.presence_join(seats_room(stream), user.pk, ttl=settings.LIVE_PRESENCE_TTL_S, capacity=capacity, counted=False)
    if not admitted:
        raise RoomFull(
            f"This room is full: without a media server the host's own connection sends the video to each viewer, "
            f"and it can serve {capacity} at a time. Try again in a few minutes.",
            capacity=capacity,
        )


def holds_seat(stream, user_id) -> bool:
    return str(user_id) in rooms.presence_members(seats_room(stream), ttl=settings.LIVE_PRESENCE_TTL_S)


def release_seat(stream, user_id) -> None:
    rooms.presence_release(seats_room(stream), user_id)


def credentials(*, stream, user, is_host: bool) -> dict:
    """What ``user``'s page needs to send (host) or receive (viewer) the stream's media.

    Raises RoomFull for a viewer of a peer-to-peer stream when every seat is taken.
    """
    if stream.media_provider == MediaProvider.AGORA and agora_configured():
        expires_at = int(time.time()) + int(settings.LIVE_AGORA_TOKEN_S)
        uid = agora_uid(user.pk)
        channel = agora_channel(stream)
        return {
            "provider": "agora",
            "role": "host" if is_host else "audience",
            "app_id": settings.AGORA_APP_ID,
            "channel": channel,
            "uid": uid,
            "token": _agora_token(channel=channel, uid=uid, publisher=is_host, expires_at=expires_at),
            "expires_at": expires_at,
        }
    if not is_host:
        claim_seat(stream, user)
    return {
        "provider": "webrtc",
        "role": "host" if is_host else "audience",
        "ice_servers": ice_servers(user=user),
        "host_id": str(stream.host_id),
        "max_viewers": int(settings.LIVE_P2P_MAX_VIEWERS),
    }
