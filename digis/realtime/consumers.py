"""The one WebSocket consumer every tab opens at /ws/."""

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from digis import jsonparse
from digis.errors import DomainError
from digis.realtime import presence, rooms
from digis.realtime.auth import BEARER_SUBPROTOCOL
from digis.realtime.events import user_group_name
from digis.realtime.registry import handler_for

logger = logging.getLogger(__name__)

# Close codes in the 4000 range are ours; clients read them to decide
# whether reconnecting can help (4401: sign in again; 4403: do not retry).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
# RFC 6455 "Try Again Later": the channel layer (Redis) is unavailable.
CLOSE_TRY_AGAIN_LATER = 1013
MAX_EVENT_BYTES = 64 * 1024
# Joining the user's group is one channel-layer round trip. Only a Redis that
# hangs takes this long; a busy one (a join storm of a thousand viewers on a
# loaded machine) must not be mistaken for it, so the bound is generous.
JOIN_TIMEOUT_S = 10.0


def user_may_connect(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and not getattr(user, "is_banned", False))


class EventConsumer(AsyncJsonWebsocketConsumer):
    user = None
    group = None

    async def connect(self):
        user = self.scope.get("user")
        if not user_may_connect(user):
            # Closing before accept rejects the handshake (HTTP 403).
            await self.close()
            return
        self.user = user
        group = user_group_name(user.pk)
        subprotocol = BEARER_SUBPROTOCOL if self.scope.get("auth_method") == "bearer" and BEARER_SUBPROTOCOL in (self.scope.get("subprotocols") or []) else None
        try:
            await asyncio.wait_for(self.channel_layer.group_add(group, self.channel_name), JOIN_TIMEOUT_S)
        except Exception:
            logger.warning("socket refused: channel layer unavailable", exc_info=True, extra={"user_id": str(user.pk)})
            await self.accept(subprotocol=subprotocol)
            await self.close(code=CLOSE_TRY_AGAIN_LATER)
            return
        self.group = group
        await self.accept(subprotocol=subprotocol)
        await sync_to_async(presence.mark_connected)(user.pk)
        await self.send_json(
            {"type": "hello", "user_id": str(user.pk), "ping_interval_s": settings.REALTIME_PING_INTERVAL_S}
        )

    async def disconnect(self, code):
        # Rooms first: their leave hooks (a host leaving a stream) must run even
        # if what follows fails.
        await rooms.leave_all(self)
        if self.group:
            group, self.group = self.group, None
            try:
                await asyncio.wait_for(self.channel_layer.group_discard(group, self.channel_name), JOIN_TIMEOUT_S)
            except Exception:  # the layer is away; the membership expires with group_expiry
                logger.warning("leaving the user's group failed", exc_info=True, extra={"user_id": str(self.user.pk)})
            await sync_to_async(presence.mark_disconnected)(self.user.pk)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None or len(text_data) > MAX_EVENT_BYTES:
            await self.send_json({"type": "error", "code": "malformed_event", "message": "Send JSON text frames under 64 KiB."})
            return
        try:
            content = jsonparse.loads(text_data)
        except jsonparse.UnacceptableJSON as exc:
            await self.send_json({"type": "error", "code": "malformed_event", "message": str(exc)})
            return
        except ValueError:
            await self.send_json({"type": "error", "code": "malformed_event", "message": "Not valid JSON."})
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_json({"type": "error", "code": "malformed_event", "message": 'Events are objects with a "type".'})
            return
        event_type = content["type"]
        ref = content.get("ref")  # echoed so a client can match replies to requests
        handler = handler_for(event_type)
        if handler is None:
            await self.send_json({"type": "error", "code": "unknown_event", "message": f"Unknown event type {event_type!r}.", "ref": ref})
            return
        try:
            reply = await handler(user=self.user, payload=content, consumer=self)
        except DomainError as exc:
            await self.send_json({"type": "error", "code": exc.code, "message": exc.message, "fields": exc.fields, "ref": ref, **exc.extra})
            return
        except Exception:
            logger.exception("socket handler failed", extra={"event_type": event_type, "user_id": str(self.user.pk)})
            await self.send_json({"type": "error", "code": "server_error", "message": "Something went wrong.", "ref": ref})
            return
        if reply is not None:
            if ref is not None:
                reply = {**reply, "ref": ref}
            await self.send_json(reply)

    # --- messages from the channel layer (group sends) ---------------------

    async def realtime_event(self, message):
        await self.send_json(message["event"])

    async def realtime_close(self, message):
        await self.send_json({"type": "closing", "reason": message.get("reason", "")})
        await self.close(code=CLOSE_FORBIDDEN)
