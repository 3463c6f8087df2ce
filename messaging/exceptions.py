"""Messaging errors. Codes are stable: the pages, the pop-up and API clients switch on them.

Not enough tokens for a paid message is the ledger's own ``insufficient_funds``
(402, with ``shortfall``), and a frozen wallet its ``wallet_frozen`` (403).
"""

from digis.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class ConversationNotFound(NotFound):
    """Also what anyone who is not one of the two people gets: a conversation's existence is private."""

    code = "conversation_not_found"
    default_message = "No such conversation."


class MessageNotFound(NotFound):
    code = "message_not_found"
    default_message = "No such message."


class RecipientNotFound(NotFound):
    code = "recipient_not_found"
    default_message = "There is nobody to message by that name."


class CannotMessageSelf(InvalidInput):
    code = "cannot_message_self"
    default_message = "You cannot message yourself."


class NotACreator(InvalidInput):
    """Messages go to or come from a creator; two fans cannot open a conversation."""

    code = "recipient_not_creator"
    default_message = "You can message creators (and creators can message their fans)."


class MessagingBlocked(Forbidden):
    code = "blocked"
    default_message = "You cannot message this person."


class FollowersOnly(Forbidden):
    code = "followers_only"
    default_message = "Only followers can message this creator. Follow them first."


class SpendRequired(Forbidden):
    """The creator takes messages from fans who spent at least ``min_spend`` with them."""

    code = "spend_required"
    default_message = "This creator takes messages from fans who have spent more with them."


class InvalidMessage(InvalidInput):
    code = "invalid_message"
    default_message = "A message needs text or an image."


class ClientMessageIdReused(Conflict):
    code = "client_message_id_reused"
    default_message = "This client_message_id was already used for a different message."


class DeleteNotAllowed(Forbidden):
    code = "delete_not_allowed"
    default_message = "You can delete your own messages for a short while after sending them."


class MessagingRateLimited(DomainError):
    code = "message_rate_limited"
    status_code = 429
    default_message = "You are sending messages too fast. Wait a moment."


class BroadcastRateLimited(DomainError):
    code = "broadcast_rate_limited"
    status_code = 429
    default_message = "You have sent the most broadcasts allowed for now. Try again later."


class NotAllowedToBroadcast(Forbidden):
    code = "not_a_creator"
    default_message = "Only creators can send broadcasts."


class ReportNotAllowed(Forbidden):
    code = "report_not_allowed"
    default_message = "You can report messages sent to you."
