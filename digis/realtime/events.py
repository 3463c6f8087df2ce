"""Server -> client events, sent only after the surrounding transaction commits.

An event describes something that happened; pushing it before COMMIT could
announce a change that then rolls back (a "payment credited" for a rolled
back credit). Zulip's send_event_on_commit is the model.
"""

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def user_group_name(user_id) -> str:
    return f"user.{user_id}"


def _group_send_now(user_ids: list[str], message: dict) -> None:
    layer = get_channel_layer()
    send = async_to_sync(layer.group_send)
    for user_id in user_ids:
        try:
            send(user_group_name(user_id), message)
        except Exception:  # a dropped push must never fail the business operation
            logger.exception("realtime push failed", extra={"user_id": user_id, "event_type": message.get("event", {}).get("type")})


def send_event_on_commit(user_ids: Iterable, event: dict, *, using: str | None = None) -> None:
    """Deliver ``event`` (a dict with a "type") to each user's sockets after commit.

    Outside a transaction it is sent at once; on rollback it is never sent.
    """
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ValueError("an event is a dict with a string 'type'")
    ids = [str(user_id) for user_id in user_ids]
    message = {"type": "realtime.event", "event": event}
    transaction.on_commit(lambda: _group_send_now(ids, message), using=using)


def close_sockets_on_commit(user_ids: Iterable, *, reason: str, using: str | None = None) -> None:
    """Close every open socket of these users after commit (bans, deletions)."""
    ids = [str(user_id) for user_id in user_ids]
    message = {"type": "realtime.close", "reason": reason}
    transaction.on_commit(lambda: _group_send_now(ids, message), using=using)
