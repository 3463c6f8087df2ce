"""Built-in client events."""

from asgiref.sync import sync_to_async

from digis.realtime import presence
from digis.realtime.registry import on


@on("ping")
async def ping(*, user, payload, consumer):
    # Pings keep the presence TTL fresh; the reply lets clients detect a dead link.
    await sync_to_async(presence.refresh)(user.pk)
    return {"type": "pong"}
