"""Client socket events for messaging. Each parses the event and calls one service.

- ``messages.send`` {conversation_id, client_message_id, text}: the same service
  as the API (images go over HTTP). Reply ``messages.sent`` {message, created}.
- ``messages.sync`` {after}: everything in the user's stream after that id, in
  order, a page at a time (``has_more``). Reply ``messages.synced``.
- ``messages.read`` {conversation_id, up_to?}: move the read pointer.
- ``messages.typing`` {conversation_id, state: "start" | "stop"}: relayed to
  the other person at once, stored nowhere.
- ``messages.viewing`` {conversation_id | null}: which thread this page shows
  (kept by notifications, which holds back alerts for it; the page repeats it
  every 30 s while visible).
"""

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from digis.errors import InvalidInput
from digis.realtime.events import user_group_name
from digis.realtime.registry import on
from messaging import selectors, services
from messaging.exceptions import ConversationNotFound


def in_thread_pool(event_type):
    """Register a sync handler that runs in the event loop's thread pool.

    The registry runs sync handlers through channels' database_sync_to_async,
    whose default (thread_sensitive=True) puts every socket's database work in a
    process on ONE shared thread: one slow commit holds up every other socket's
    message. A consumer still handles its own socket's events one at a time, so
    one person's messages keep their order. bench/realtime.py measures it.
    """

    def register(func):
        async def handler(*, user, payload, consumer):
            return await database_sync_to_async(func, thread_sensitive=False)(user=user, payload=payload, consumer=consumer)

        handler.__name__ = handler.__qualname__ = func.__name__
        on(event_type)(handler)
        return func

    return register


@in_thread_pool("messages.send")
def send(*, user, payload, consumer):
    conversation_id = selectors.parse_conversation_id(payload.get("conversation_id"))
    message, created = services.send_message(
        sender=user, conversation_id=conversation_id, client_message_id=payload.get("client_message_id"),
        text=payload.get("text", ""),
    )
    return {"type": "messages.sent", "created": created, "message": selectors.message_data(message, user)}


@in_thread_pool("messages.sync")
def sync(*, user, payload, consumer):
    after = selectors.parse_message_id(payload.get("after"), name="after") or 0
    messages, more = selectors.stream_after(user=user, after=after)
    return {
        "type": "messages.synced",
        "after": after,
        "messages": [selectors.message_data(message, user) for message in messages],
        "last_id": messages[-1].pk if messages else after,
        "has_more": more,
    }


@in_thread_pool("messages.read")
def read(*, user, payload, consumer):
    conversation_id = selectors.parse_conversation_id(payload.get("conversation_id"))
    up_to = selectors.parse_message_id(payload.get("up_to"), name="up_to")
    result = services.mark_read(user=user, conversation_id=conversation_id, up_to=up_to)
    return {"type": "messages.read_ok", **result}


@on("messages.typing")
async def typing(*, user, payload, consumer):
    conversation_id = selectors.parse_conversation_id(payload.get("conversation_id"))
    state = payload.get("state")
    if state not in ("start", "stop"):
        raise InvalidInput('state must be "start" or "stop".', fields={"state": ["start or stop"]})
    target = await _typing_target(consumer, user, conversation_id)
    # Ephemeral: nothing is stored and there is no transaction to wait for.
    await consumer.channel_layer.group_send(
        user_group_name(target),
        {"type": "realtime.event", "event": {
            "type": "message.typing", "conversation_id": str(conversation_id), "user_id": str(user.pk), "state": state,
            "expires_in_s": selectors.TYPING_EXPIRY_S,
        }},
    )
    return None


async def _typing_target(consumer, user, conversation_id) -> str:
    """Whom this socket's typing signal goes to. The conversation's two people
    never change, so the socket remembers the other one after the first signal
    (one query, the conversation and blocks); later signals only ask whether
    either has blocked the other since, from the cached block sets (exact:
    every block service drops them, accounts.selectors). Each signal had cost a
    pooled connection's checkout, its health check and a query: ~8 of the 12.7 ms
    of daphne CPU a typing signal took (bench/realtime.py --py-spy)."""
    from accounts.selectors import blocked_user_ids_cached

    known = consumer.__dict__.setdefault("_typing_targets", {})
    target = known.get(conversation_id)
    if target is None:
        target = await database_sync_to_async(services.typing_target, thread_sensitive=False)(user=user, conversation_id=conversation_id)
        if len(known) >= 256:  # a socket that types in very many threads: start over
            known.clear()
        known[conversation_id] = target
    elif target in await sync_to_async(blocked_user_ids_cached, thread_sensitive=False)(user):
        known.pop(conversation_id, None)
        raise ConversationNotFound()
    return target


@in_thread_pool("messages.viewing")
def viewing(*, user, payload, consumer):
    raw = payload.get("conversation_id")
    conversation_id = None if raw is None else selectors.parse_conversation_id(raw)
    services.set_viewing(user=user, socket_id=consumer.channel_name, conversation_id=conversation_id)
    return {"type": "messages.viewing", "conversation_id": str(conversation_id) if conversation_id else None}
