"""Messaging test helpers: creators with message settings, funded fans, sending through the service."""

import itertools
import uuid

from creators.tests.factories import make_creator_profile
from ledger.tests.factories import fund
from messaging import services

_ids = itertools.count(1)

__all__ = ["fund", "make_messaging_creator", "open_between", "send", "new_id"]


def new_id() -> str:
    return f"test-{next(_ids)}-{uuid.uuid4().hex[:8]}"


def make_messaging_creator(user=None, *, price: int = 10, policy: str = "anyone", min_spend: int = 0):
    """A creator whose messages cost ``price`` (0: free) under ``policy``."""
    return make_creator_profile(user, message_price=price, message_policy=policy, message_min_spend=min_spend)


def open_between(user, other):
    conversation, _ = services.open_conversation(user=user, with_user=other)
    return conversation


def send(sender, conversation, text="hello", *, client_message_id=None, image=None):
    message, _ = services.send_message(
        sender=sender, conversation_id=conversation.pk, client_message_id=client_message_id or new_id(), text=text, image=image,
    )
    return message
