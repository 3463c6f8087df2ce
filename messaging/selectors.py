"""Reads of conversations and messages the API, the pages, the socket and the pop-up share.

Only the two people in a conversation ever see it; for anyone else it does not
exist (404 ``conversation_not_found``), and a block between the two hides it
both ways. One message shape (``message_data``) serves the API, the socket
events and the pages' JavaScript.
"""

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.urls import reverse

from messaging.exceptions import ConversationNotFound, MessageNotFound
from messaging.models import Conversation, EscrowState, Inbox, Message, MessageKind

PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
SYNC_PAGE_SIZE = 200
# Typing indicators (Zulip's model): the writer sends "start" when typing
# begins and again every TYPING_START_RESEND_S while it goes on, "stop" after
# TYPING_STOP_IDLE_S without a keystroke or on send; a reader drops an
# indicator it has not heard about for TYPING_EXPIRY_S (a writer that vanished).
TYPING_START_RESEND_S = 30
TYPING_STOP_IDLE_S = 12
TYPING_EXPIRY_S = 45
# A thread page says "I am looking at this" every VIEWING_REFRESH_S while visible
# (notifications keeps it PRESENCE_TTL_S).
VIEWING_REFRESH_S = 30


# --- people -----------------------------------------------------------------------


def person_data(user, *, online: bool | None = None) -> dict:
    avatar = getattr(user, "avatar", None)
    profile = getattr(user, "creator_profile", None) if getattr(user, "role", "") == "creator" else None
    picture = (profile.avatar if profile is not None and profile.avatar else None) or avatar
    name = (profile.display_name if profile is not None and profile.display_name else "") or user.public_name
    data = {
        "id": str(user.pk),
        "username": user.username,
        "name": name,
        "avatar_url": picture.url if picture else "",
        "initials": "".join(part[0] for part in name.split()[:2]).upper() or "?",
        "is_creator": getattr(user, "role", "") == "creator",
    }
    if online is not None:
        data["online"] = online
    return data


def blocked_ids(user) -> set:
    from accounts.selectors import blocked_user_ids

    return blocked_user_ids(user)


# --- conversations ------------------------------------------------------------------


def _party_q(user) -> Q:
    return Q(fan=user) | Q(creator=user)


def _blocked_between(first: str, second: str) -> Exists:
    """A block either way between the users in two columns of the outer query."""
    from accounts.models import Block

    return Exists(
        Block.objects.filter(
            Q(blocker_id=OuterRef(first), blocked_id=OuterRef(second)) | Q(blocker_id=OuterRef(second), blocked_id=OuterRef(first))
        )
    )


def conversation_for_party(*, conversation_id, user) -> Conversation:
    """The conversation (with both people) if ``user`` is in it and no block stands between
    the two; else 404. One query: the block is checked in it too (this runs for every
    message, typing signal and read)."""
    # order_by(): one row by primary key; `.first()` would add an ORDER BY for Django to compile.
    conversation = next(iter(
        Conversation.objects.select_related("fan", "creator")
        .filter(_party_q(user), pk=conversation_id)
        .annotate(blocked=_blocked_between("fan_id", "creator_id"))
        .order_by()[:1]
    ), None)
    if conversation is None or conversation.blocked:
        raise ConversationNotFound()
    return conversation


def conversation_of_party(*, conversation_id, user) -> Conversation:
    """The bare conversation row if ``user`` is in it, else 404: no people, no block check.
    For ``send_message``, which reads both people and the block under its inbox locks (one
    query instead of two); anything else wants ``conversation_for_party``."""
    conversation = next(iter(Conversation.objects.filter(_party_q(user), pk=conversation_id).order_by()[:1]), None)
    if conversation is None:
        raise ConversationNotFound()
    return conversation


def other_party_id(*, conversation_id, user):
    """The other person's id, under the same rules as ``conversation_for_party``, without loading anyone."""
    row = next(iter(
        Conversation.objects.filter(_party_q(user), pk=conversation_id)
        .annotate(blocked=_blocked_between("fan_id", "creator_id"))
        .values_list("fan_id", "creator_id", "blocked")
        .order_by()[:1]
    ), None)
    if row is None or row[2]:
        raise ConversationNotFound()
    return row[1] if row[0] == user.pk else row[0]


def conversation_between(a, b) -> Conversation | None:
    return Conversation.objects.filter(Q(fan=a, creator=b) | Q(fan=b, creator=a)).first()


def role_in(conversation: Conversation, user) -> str:
    return "fan" if user.pk == conversation.fan_id else "creator"


def _read_field(role: str) -> str:
    return f"{role}_read_id"


def inbox(user, *, before: tuple | None = None, limit: int = PAGE_SIZE) -> tuple[list[Conversation], tuple | None]:
    """The user's conversations with at least one message, newest first, without blocked people.

    Keyset pages on (last_message_at, id): ``before`` is the last row's pair.
    Each conversation carries ``unread`` (messages to the user after their read
    pointer), ``held_count``/``held_tokens`` (paid messages waiting for the
    creator's reply) and ``last_message``.
    """
    hidden = blocked_ids(user)
    rows = (
        Conversation.objects.filter(_party_q(user), last_message_at__isnull=False)
        .exclude(fan_id__in=hidden)
        .exclude(creator_id__in=hidden)
        .select_related("fan", "creator", "fan__creator_profile", "creator__creator_profile")
        .order_by("-last_message_at", "-id")
    )
    if before is not None:
        at, conversation_id = before
        rows = rows.filter(Q(last_message_at__lt=at) | Q(last_message_at=at, id__lt=conversation_id))
    page = list(rows[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    decorate(page, user)
    return page, ((page[-1].last_message_at, page[-1].id) if more and page else None)


def decorate(conversations: list[Conversation], user) -> None:
    """Attach unread counts, held totals, the last message and presence (a few queries per page)."""
    if not conversations:
        return
    ids = [c.pk for c in conversations]
    unread = {}
    for conversation in conversations:
        read_id = getattr(conversation, _read_field(role_in(conversation, user)))
        unread[conversation.pk] = Q(conversation_id=conversation.pk, id__gt=read_id)
    unread_q = Q()
    for condition in unread.values():
        unread_q |= condition
    counts = dict(
        Message.objects.filter(unread_q, recipient=user, deleted_at__isnull=True, hidden_at__isnull=True)
        .values("conversation_id")
        .annotate(n=Count("id"))
        .values_list("conversation_id", "n")
    )
    held = {
        row["conversation_id"]: row
        for row in Message.objects.filter(conversation_id__in=ids, escrow_state=EscrowState.HELD)
        .values("conversation_id")
        .annotate(n=Count("id"), tokens=Sum("price"))
    }
    last = {m.pk: m for m in Message.objects.filter(pk__in=[c.last_message_id for c in conversations if c.last_message_id])}
    from digis.realtime.presence import online_user_ids

    online = online_user_ids(c.other(user.pk) for c in conversations)
    for conversation in conversations:
        conversation.unread = counts.get(conversation.pk, 0)
        conversation.held_count = held.get(conversation.pk, {}).get("n", 0)
        conversation.held_tokens = int(held.get(conversation.pk, {}).get("tokens") or 0)
        conversation.last_message = last.get(conversation.last_message_id)
        conversation.other_online = str(conversation.other(user.pk)) in online


def conversation_data(conversation: Conversation, user) -> dict:
    """The shape a client sees (list and detail). ``decorate`` must have run."""
    role = role_in(conversation, user)
    other = conversation.creator if role == "fan" else conversation.fan
    other_role = "creator" if role == "fan" else "fan"
    other_receipt = getattr(conversation, f"{other_role}_receipt_id")
    last = getattr(conversation, "last_message", None)
    return {
        "id": str(conversation.pk),
        "side": role,
        "other": person_data(other, online=getattr(conversation, "other_online", False)),
        "last_message": message_data(last, user) if last is not None else None,
        "last_message_at": conversation.last_message_at.isoformat() if conversation.last_message_at else None,
        "unread_count": getattr(conversation, "unread", 0),
        "read_id": getattr(conversation, _read_field(role)),
        # What the other side has read, only as far as their receipts show it.
        "other_read_id": other_receipt or None,
        "held_count": getattr(conversation, "held_count", 0),
        "held_tokens": getattr(conversation, "held_tokens", 0),
        "url": reverse("messaging:thread", args=[conversation.pk]),
        "created_at": conversation.created_at.isoformat(),
    }


def unread_summary(user) -> dict:
    """Conversations with unread messages and the number of unread messages (the nav badge)."""
    hidden = blocked_ids(user)
    newer_than_read = Exists(
        Conversation.objects.filter(pk=OuterRef("conversation_id")).filter(
            Q(fan=user, fan_read_id__lt=OuterRef("id")) | Q(creator=user, creator_read_id__lt=OuterRef("id"))
        )
    )
    rows = Message.objects.filter(recipient=user, deleted_at__isnull=True, hidden_at__isnull=True).filter(newer_than_read)
    if hidden:
        rows = rows.exclude(sender_id__in=hidden)
    summary = rows.aggregate(messages=Count("id"), conversations=Count("conversation_id", distinct=True))
    return {"conversations": summary["conversations"] or 0, "messages": summary["messages"] or 0}


# --- messages ---------------------------------------------------------------------


def image_url(message: Message) -> str:
    if not message.image or message.deleted_at or message.hidden_at:
        return ""
    return reverse("messaging:image", args=[message.pk])


def message_data(message: Message, viewer) -> dict:
    """One message as ``viewer`` (one of the two people) sees it. Deleted or hidden
    messages keep their place in the thread but show no text or image."""
    gone = message.deleted_at is not None or message.hidden_at is not None
    data = {
        "id": message.pk,
        "conversation_id": str(message.conversation_id),
        "sender_id": str(message.sender_id),
        "mine": message.sender_id == viewer.pk,
        "kind": message.kind,
        "text": "" if gone else message.text,
        "image_url": image_url(message),
        "created_at": message.created_at.isoformat(),
        "price": message.price,
        "escrow_state": message.escrow_state,
        "reply_by": message.reply_by.isoformat() if message.reply_by and message.escrow_state == EscrowState.HELD else None,
        "settled_at": message.settled_at.isoformat() if message.settled_at else None,
        "refund_reason": message.refund_reason or None,
        "deleted": message.deleted_at is not None,
        "hidden": message.hidden_at is not None,
        "client_message_id": message.client_message_id if message.sender_id == viewer.pk and message.client_message_id else None,
    }
    return data


def history(*, conversation: Conversation, viewer, before: int | None = None, after: int | None = None,
            limit: int = PAGE_SIZE) -> tuple[list[Message], int | None]:
    """A page of the thread in id order (oldest first), keyset on id.

    ``before``: the page just older than that id (loading upward); ``after``:
    the messages after that id (catching up one thread). Returns (messages,
    the ``before`` cursor of the next older page or None).
    """
    rows = Message.objects.filter(conversation=conversation)
    if after is not None:
        page = list(rows.filter(id__gt=after).order_by("id")[:limit])
        return page, None
    if before is not None:
        rows = rows.filter(id__lt=before)
    page = list(rows.order_by("-id")[: limit + 1])
    older = page[limit - 1].pk if len(page) > limit else None
    page = page[:limit]
    page.reverse()
    return page, older


def message_for_party(*, message_id, user) -> Message:
    message = (
        Message.objects.select_related("conversation").filter(pk=message_id).filter(Q(sender=user) | Q(recipient=user)).first()
    )
    if message is None:
        raise MessageNotFound()
    from accounts.selectors import is_blocked_between

    if is_blocked_between(message.sender_id, message.recipient_id):
        raise MessageNotFound()
    return message


def stream_after(*, user, after: int, limit: int = SYNC_PAGE_SIZE) -> tuple[list[Message], bool]:
    """Everything in ``user``'s stream after id ``after``, in id order: messages they received
    and direct messages they sent (their broadcast copies stay out of the sender's stream).

    Exact because each person's stream commits in id order (messaging.locks).
    Returns (messages, whether more follow).
    """
    rows = list(
        Message.objects.filter(Q(recipient=user) | Q(sender=user, kind=MessageKind.DIRECT), id__gt=after)
        .order_by("id")[: limit + 1]
    )
    return rows[:limit], len(rows) > limit


def stream_position(user) -> int:
    return Inbox.objects.filter(user=user).values_list("last_message_id", flat=True).first() or 0


def read_receipts_on(user) -> bool:
    value = Inbox.objects.filter(user=user).values_list("read_receipts", flat=True).first()
    return True if value is None else bool(value)


# --- who may write --------------------------------------------------------------------


def creator_has_written(conversation: Conversation) -> bool:
    """The creator wrote directly in this conversation: the fan may answer whatever the policy."""
    return Message.objects.filter(
        conversation=conversation, sender_id=conversation.creator_id, kind=MessageKind.DIRECT
    ).exists()


def spent_with(creator, fan) -> int:
    from ledger.selectors import spent_with_creator

    return spent_with_creator(creator=creator, fan_ids=[fan.pk]).get(fan.pk, 0)


def is_following(fan, creator) -> bool:
    from creators.selectors import is_following as follows

    return follows(fan, creator.pk)


def parse_message_id(value, *, name: str) -> int | None:
    from digis.params import parse_int

    if value in (None, ""):
        return None
    if isinstance(value, bool) or (not isinstance(value, (int, str))):
        from digis.errors import InvalidInput

        raise InvalidInput(f"'{name}' must be a message id.", fields={name: ["Must be a whole number."]})
    return parse_int(str(value), name=name, default=0, minimum=0, maximum=2**63 - 1)


def parse_conversation_id(value, *, name: str = "conversation_id") -> uuid.UUID:
    from digis.errors import InvalidInput
    from digis.params import parse_uuid

    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a conversation id.", fields={name: ["Must be a UUID."]}, code="invalid_id")
    return parse_uuid(value, name=name, required=True)


def message_settings() -> dict:
    return {
        "max_chars": settings.MESSAGE_MAX_CHARS,
        "reply_window_h": settings.MESSAGE_REPLY_WINDOW_H,
        "delete_window_s": settings.MESSAGE_DELETE_WINDOW_S,
        "typing_start_resend_s": TYPING_START_RESEND_S,
        "typing_stop_idle_s": TYPING_STOP_IDLE_S,
        "typing_expiry_s": TYPING_EXPIRY_S,
        "viewing_refresh_s": VIEWING_REFRESH_S,
    }


# --- reports ---------------------------------------------------------------------------


def resolve_reported_message(target_id: str, reporter):
    """moderation's resolver for target kind "message": only someone in the conversation may
    report one of its messages (anyone else: 404, as for a message that does not exist).
    Returns (sender, message id); reporting your own message is refused by moderation."""
    from moderation.exceptions import UnknownTarget

    try:
        message_id = int(str(target_id))
    except ValueError:
        raise UnknownTarget()
    if not 0 < message_id < 2**63:
        raise UnknownTarget()
    message = Message.objects.select_related("sender").filter(pk=message_id).filter(
        Q(sender=reporter) | Q(recipient=reporter)
    ).first()
    if message is None:
        raise UnknownTarget()
    return message.sender, str(message.pk)
