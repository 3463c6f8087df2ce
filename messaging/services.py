"""Every write to messaging: conversations, messages, escrow settlement, reads, broadcasts.

How a message is sent (``send_message``, for the API, the socket and the page alike)
- One transaction: lock both people's inboxes (``messaging.locks``),
  replay a known ``client_message_id``, check block, ban and the creator's
  policy, hold the price in the ledger's escrow when the fan pays, insert the
  message, and, when the creator writes, release every message still held in
  the conversation. Nothing is stored when anything refuses (402 with the
  ledger's ``insufficient_funds`` when the fan cannot afford it).
- After commit: ``message.new`` to both people's sockets, a notification to the
  recipient.

Transactions: the entry points open ``transaction.atomic()``, not a durable one
(as creators' services): ``seed_demo`` runs each app's demo inside its own
transaction. Called inside a caller's transaction they join it, and their
locks and pushes last until that commits.

Escrow
- A paid message's hold is settled exactly once: released by the creator's
  reply, refunded when it expires (``refund_due_messages``, the periodic job),
  is deleted unanswered, is hidden by a moderator, or when either side blocks
  the other or the creator is banned. Each settlement locks the held rows
  (``SELECT ... FOR UPDATE`` of the rows still ``held``; a concurrent settler
  that got there first makes them drop out), moves the money through
  ``ledger.services`` under a key per message (``message:release:<id>``,
  ``message:refund:<id>``) and then moves the state by compare-and-swap. The
  ledger refuses a second settlement of one hold (a unique constraint).
"""

import logging
import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.models import Block, User
from digis.errors import InvalidInput
from digis.realtime.events import send_event_on_commit, send_events_on_commit
from digis.realtime.presence import online_user_ids
from messaging import rules, selectors
from messaging.exceptions import (
    BroadcastRateLimited,
    CannotMessageSelf,
    ClientMessageIdReused,
    ConversationNotFound,
    DeleteNotAllowed,
    InvalidMessage,
    MessagingRateLimited,
    NotACreator,
    NotAllowedToBroadcast,
    RecipientNotFound,
)
from messaging.locks import lock_inboxes
from messaging.models import Broadcast, Conversation, EscrowState, Inbox, Message, MessageKind, RefundReason

logger = logging.getLogger(__name__)

CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# Control characters other than tab and newline never reach the database
# (PostgreSQL refuses NUL outright); what remains is shown as text, never HTML.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def reply_window() -> timedelta:
    return timedelta(hours=settings.MESSAGE_REPLY_WINDOW_H)


# --- people -----------------------------------------------------------------------


def resolve_person(ref):
    """A user by id, username (case-insensitive) or instance, who can be messaged; else 404."""
    if isinstance(ref, User):
        user = ref
    else:
        ref = str(ref or "").strip().lstrip("@")
        try:
            lookup = Q(pk=uuid.UUID(ref))
        except ValueError:
            lookup = Q(username__iexact=ref)
        user = User.objects.filter(lookup).first() if ref and "\x00" not in ref else None
    if user is None or not rules.reachable(user):
        raise RecipientNotFound()
    return user


def _is_creator(user) -> bool:
    from creators.models import CreatorProfile

    return user.role == "creator" and CreatorProfile.objects.filter(user_id=user.pk).exists()


# --- conversations ------------------------------------------------------------------


def open_conversation(*, user, with_user) -> tuple[Conversation, bool]:
    """The conversation between ``user`` and ``with_user`` (a user, id or username), created if missing.

    One side must be a creator: a fan writes to a creator, a creator to anyone.
    Idempotent and race-safe (one conversation per pair, enforced by the
    database). Refuses 404 recipient_not_found, 400 cannot_message_self /
    recipient_not_creator, 403 blocked. Writing is checked when a message is sent.
    """
    other = resolve_person(with_user)
    if other.pk == user.pk:
        raise CannotMessageSelf()
    rules.check_not_blocked(user, other)
    existing = selectors.conversation_between(user, other)
    if existing is not None:
        return existing, False
    if _is_creator(other):
        fan, creator = user, other
    elif _is_creator(user):
        fan, creator = other, user
    else:
        raise NotACreator()
    try:
        with transaction.atomic():
            return Conversation.objects.create(fan=fan, creator=creator), True
    except IntegrityError:  # a concurrent open of the same pair won
        return selectors.conversation_between(user, other), False


# --- sending -----------------------------------------------------------------------


def _clean_text(text) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise InvalidMessage("text must be a string.", fields={"text": ["Must be text."]})
    text = _CONTROL.sub("", text).strip()
    if len(text) > settings.MESSAGE_MAX_CHARS:
        raise InvalidMessage(
            f"Messages are at most {settings.MESSAGE_MAX_CHARS} characters.",
            fields={"text": [f"At most {settings.MESSAGE_MAX_CHARS} characters."]},
            code="message_too_long",
        )
    return text


def _clean_client_id(client_message_id) -> str:
    if not isinstance(client_message_id, str) or not CLIENT_ID.match(client_message_id):
        raise InvalidInput(
            "client_message_id is required: 1-64 letters, digits or _.:- (a UUID is ideal).",
            fields={"client_message_id": ["Required: 1-64 of A-Z a-z 0-9 _ . : -"]},
            code="invalid_client_message_id",
        )
    return client_message_id


def _count_toward_limit(key: str, limit: int, window_s: int, error) -> None:
    """A fixed-window counter in the shared cache (Redis in production): every process sees it."""
    cache.add(key, 0, window_s)
    try:
        count = cache.incr(key)
    except ValueError:  # the window expired between add and incr
        cache.set(key, 1, window_s)
        count = 1
    if count > limit:
        raise error(retry_after_s=window_s)


def check_send_rate(user) -> None:
    window = 60
    _count_toward_limit(f"messaging:rate:{user.pk}:{int(timezone.now().timestamp()) // window}",
                        settings.MESSAGE_RATE_PER_MINUTE, window, MessagingRateLimited)


def _store_image(upload, conversation_id) -> str:
    """Check and re-encode the image (accounts' avatar pipeline) and store it; returns its name."""
    from accounts.avatars import reencode_image

    content = reencode_image(
        upload, field="image", code_prefix="image", max_side_px=settings.MESSAGE_IMAGE_MAX_SIDE_PX,
        max_bytes=settings.MESSAGE_IMAGE_MAX_BYTES,
    )
    storage = Message._meta.get_field("image").storage
    return storage.save(f"messages/{uuid.UUID(str(conversation_id)).hex}/{content.name}", content)


def _delete_image(name: str) -> None:
    if name:
        Message._meta.get_field("image").storage.delete(name)


def send_message(*, sender, conversation_id, client_message_id, text: str = "", image=None) -> tuple[Message, bool]:
    """Send a message into a conversation the sender is in. Returns (message, created).

    Idempotent under (sender, client_message_id): a resend returns the first
    message and charges nothing (409 client_message_id_reused if the text
    differs). A fan's message to a creator with a price holds that price in the
    ledger's escrow; a creator's message releases everything still held in the
    conversation. Refuses, with nothing stored: 404 conversation_not_found (also
    when a block stands between the two) / recipient_not_found, 403 followers_only / spend_required /
    wallet_frozen, 402 insufficient_funds (``shortfall``, ``price``, ``balance``),
    400 invalid_message / message_too_long / invalid_image_*, 429 message_rate_limited.
    """
    from ledger.exceptions import InsufficientFunds

    client_message_id = _clean_client_id(client_message_id)
    text = _clean_text(text)
    # Only that the sender is in it: _send_locked reads both people and any block under the inbox locks.
    conversation = selectors.conversation_of_party(conversation_id=conversation_id, user=sender)
    if not text and image is None:
        raise InvalidMessage(fields={"text": ["Write something or attach an image."]})
    image_name = _store_image(image, conversation.pk) if image is not None else ""
    try:
        with transaction.atomic():
            message, created = _send_locked(
                sender=sender, conversation=conversation, client_message_id=client_message_id, text=text, image_name=image_name,
            )
    except InsufficientFunds as exc:
        _delete_image(image_name)
        price = getattr(exc, "price", None)
        refusal = InsufficientFunds(
            f"This message costs {price} tokens; you have {exc.balance}." if price else None,
            shortfall=exc.shortfall, balance=exc.balance, price=price, buy_url=settings.CALL_BUY_TOKENS_URL,
        )
        refusal.extra["balance"] = exc.balance  # in the error body too (the ledger's keeps it as an attribute)
        raise refusal from None
    except BaseException:
        _delete_image(image_name)
        raise
    if not created:
        _delete_image(image_name)
    return message, created


def _replayed(message: Message, *, conversation, text: str) -> Message:
    if message.conversation_id != conversation.pk or (text and message.text != text):
        raise ClientMessageIdReused()
    return message


def _send_locked(*, sender, conversation, client_message_id, text, image_name) -> tuple[Message, bool]:
    from ledger.exceptions import InsufficientFunds
    from ledger.services import hold_message_payment

    recipient_id = conversation.other(sender.pk)
    inboxes = lock_inboxes([sender.pk, recipient_id])
    # Both people as of now, with their creator profiles (the price and policy, the names the
    # notification shows), and whether a block stands between them: one query, under the locks.
    people = {
        user.pk: user
        for user in User.objects.filter(pk__in=[sender.pk, recipient_id]).select_related("creator_profile")
        .annotate(blocked=Exists(Block.objects.filter(
            Q(blocker_id=sender.pk, blocked_id=recipient_id) | Q(blocker_id=recipient_id, blocked_id=sender.pk))))
        .order_by()
    }
    recipient = people.get(recipient_id)
    if recipient is not None and recipient.blocked:
        # A block hides the conversation both ways (also one made while this send waited for the locks).
        raise ConversationNotFound()
    # Under the locks: a resend (also one that raced us) finds the first message and counts for nothing.
    # (No ORDER BY: the pair is unique, and `.first()` would add one for Django to compile.)
    replay = next(iter(Message.objects.filter(sender=sender, client_message_id=client_message_id).order_by()[:1]), None)
    if replay is not None:
        return _replayed(replay, conversation=conversation, text=text), False
    check_send_rate(sender)
    if recipient is None or not rules.reachable(recipient):
        raise RecipientNotFound()
    sender = people.get(sender.pk, sender)
    from_fan = sender.pk == conversation.fan_id
    conversation.fan, conversation.creator = (sender, recipient) if from_fan else (recipient, sender)
    now = timezone.now()
    price = 0
    hold = None
    if from_fan:
        profile = getattr(conversation.creator, "creator_profile", None)
        if profile is None:
            raise RecipientNotFound()
        rules.check_policy(conversation=conversation, fan=sender, profile=profile)
        price = int(profile.message_price)
    if price > 0:
        try:
            hold = hold_message_payment(
                payer=sender, amount=price, idempotency_key=f"message:hold:{sender.pk}:{client_message_id}",
                reference=f"conversation:{conversation.pk}",
            )
        except InsufficientFunds as exc:
            exc.price = price
            raise
    message = Message.objects.create(
        conversation=conversation, sender=sender, recipient_id=recipient_id, kind=MessageKind.DIRECT, text=text,
        image=image_name, client_message_id=client_message_id, price=price,
        escrow_state=EscrowState.HELD if hold is not None else EscrowState.FREE,
        hold_transaction=hold, reply_by=now + reply_window() if hold is not None else None, created_at=now,
    )
    released = []
    if not from_fan:
        released = _settle_locked(
            _lock_held(Message.objects.filter(conversation=conversation, id__lt=message.pk)), outcome=EscrowState.RELEASED,
            creator=sender,
        )
    role = "fan" if from_fan else "creator"
    receipts = inboxes[str(sender.pk)].read_receipts
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_id=message.pk, last_message_at=message.created_at,
        # Writing marks the thread read for the writer.
        **{f"{role}_read_id": Greatest(f"{role}_read_id", Value(message.pk))},
        **({f"{role}_receipt_id": Greatest(f"{role}_receipt_id", Value(message.pk))} if receipts else {}),
    )
    prev = {user_id: inbox.last_message_id for user_id, inbox in inboxes.items()}
    Inbox.objects.filter(user_id__in=[sender.pk, recipient_id]).update(last_message_id=message.pk)
    _announce_new(message, conversation=conversation, sender=sender, recipient=recipient, prev=prev)
    if released:
        _announce_answered(released, conversation=conversation, reply=message)
    if hold is not None:
        balance = getattr(hold, "wallet_balance_after", None)
        if balance is None:
            from ledger.services import balance_of

            balance = balance_of(user=sender)
        send_event_on_commit([sender.pk], {"type": "wallet.updated", "balance": int(balance)})
    return message, True


def _announce_new(message: Message, *, conversation, sender, recipient, prev: dict) -> None:
    from notifications.models import NotificationKind
    from notifications.services import notify, recipient_settings, should_notify_message

    # One trip to the event loop for both (two people: their order does not matter, each
    # person's own events stay in order).
    send_events_on_commit([
        ([person.pk], {
            "type": "message.new",
            "conversation_id": str(conversation.pk),
            "message": selectors.message_data(message, person),
            "prev_id": prev.get(str(person.pk), 0),
        })
        for person in (sender, recipient)
    ])
    # "People who never paid me": a paid message is money offered; otherwise what the sender spent with them.
    has_paid = lambda: message.price > 0 or selectors.spent_with(recipient, sender) > 0  # noqa: E731
    settings_of_recipient = recipient_settings(recipient.pk)  # one read for the filter and the channels
    if not should_notify_message(recipient=recipient, sender=sender, has_paid=has_paid, settings_of_recipient=settings_of_recipient):
        return
    name = selectors.person_data(sender)["name"]
    if message.escrow_state == EscrowState.HELD:
        text = f"{name} sent you a paid message ({message.price} tokens, yours when you reply)."
    else:
        text = f"{name}: {_preview(message)}"
    notify(
        recipient=recipient, kind=NotificationKind.MESSAGE_NEW, text=text, actor=sender, target=message,
        url=f"/messages/{conversation.pk}/", dedupe_key=f"message:{message.pk}", key_is_new=True,
        settings_of_recipient=settings_of_recipient,
        # "thread": notifications holds the alert back while the recipient has this thread on screen.
        data={"thread": str(conversation.pk), "message_id": message.pk, "paid": message.escrow_state == EscrowState.HELD},
    )


def _preview(message: Message) -> str:
    if message.text:
        return message.text if len(message.text) <= 80 else message.text[:79] + "…"
    return "sent an image"


# --- escrow settlement -------------------------------------------------------------------


def _lock_held(queryset) -> list[Message]:
    """Lock the messages of ``queryset`` that are still held, in id order.

    A concurrent settler (the expiry job, a block) that locked one first makes
    us wait; when it commits, the row no longer matches and drops out.
    """
    return list(
        queryset.filter(escrow_state=EscrowState.HELD)
        .select_for_update(of=("self",), no_key=True)
        .order_by("id")
    )


def _settle_locked(held: list[Message], *, outcome: str, creator=None, reason: str = "") -> list[Message]:
    """Release (to ``creator``) or refund the locked held messages; call inside a transaction."""
    from ledger.services import HoldSettlement, refund_message_payments, release_message_payments

    if not held:
        return []
    now = timezone.now()
    if outcome == EscrowState.RELEASED:
        settlements = [HoldSettlement(m.hold_transaction_id, f"message:release:{m.pk}", f"message:{m.pk}") for m in held]
        transactions = release_message_payments(creator=creator, settlements=settlements)
    else:
        settlements = [HoldSettlement(m.hold_transaction_id, f"message:refund:{m.pk}", f"message:{m.pk}") for m in held]
        transactions = refund_message_payments(settlements=settlements, reason=reason)
    for message, tx in zip(held, transactions):
        moved = Message.objects.filter(pk=message.pk, escrow_state=EscrowState.HELD).update(
            escrow_state=outcome, settle_transaction_id=tx.pk, settled_at=now,
            refund_reason=reason if outcome == EscrowState.REFUNDED else "",
        )
        if moved != 1:  # impossible while we hold the row lock; the ledger refused a second settlement anyway
            raise RuntimeError(f"message {message.pk} changed state under its lock")
        message.escrow_state, message.settle_transaction_id, message.settled_at = outcome, tx.pk, now
        message.refund_reason = reason if outcome == EscrowState.REFUNDED else ""
    return held


def _announce_answered(released: list[Message], *, conversation, reply: Message) -> None:
    from notifications.models import NotificationKind
    from notifications.services import notify

    _push_updates(released, conversation=conversation)
    tokens = sum(m.price for m in released)
    creator_name = selectors.person_data(conversation.creator)["name"]
    notify(
        recipient=conversation.fan, kind=NotificationKind.MESSAGE_ANSWERED, actor=conversation.creator, target=reply,
        text=f"{creator_name} answered your {'message' if len(released) == 1 else f'{len(released)} messages'} "
             f"({tokens} tokens paid).",
        url=f"/messages/{conversation.pk}/", dedupe_key=f"message-answered:{reply.pk}",
        data={"thread": str(conversation.pk), "message_ids": [m.pk for m in released], "tokens": tokens},
    )


def _announce_refunded(refunded: list[Message], *, reason: str) -> None:
    from ledger.services import balance_of
    from notifications.models import NotificationKind
    from notifications.services import notify

    by_conversation: dict = {}
    for message in refunded:
        by_conversation.setdefault(message.conversation_id, []).append(message)
    conversations = {c.pk: c for c in Conversation.objects.filter(pk__in=by_conversation).select_related("fan", "creator")}
    payers = {}
    for conversation_id, messages in by_conversation.items():
        conversation = conversations[conversation_id]
        _push_updates(messages, conversation=conversation)
        creator_name = selectors.person_data(conversation.creator)["name"]
        why = {
            RefundReason.EXPIRED: f"{creator_name} did not reply in time",
            RefundReason.DELETED: "the message was deleted unanswered",
            RefundReason.BLOCKED: "the conversation was blocked",
            RefundReason.CREATOR_BANNED: f"{creator_name} can no longer reply",
            RefundReason.HIDDEN: "a moderator removed the message",
        }.get(reason, "it was not answered")
        for message in messages:
            payers[message.sender_id] = message.sender
            notify(
                recipient=message.sender, kind=NotificationKind.MESSAGE_REFUNDED, target=message,
                text=f"{message.price} tokens for your message to {creator_name} are back in your wallet: {why}.",
                url=f"/messages/{conversation.pk}/", dedupe_key=f"message-refunded:{message.pk}",
                data={"thread": str(conversation.pk), "message_id": message.pk, "tokens": message.price,
                      "reason": reason},
            )
    for payer in payers.values():
        send_event_on_commit([payer.pk], {"type": "wallet.updated", "balance": balance_of(user=payer)})


def _push_updates(messages: list[Message], *, conversation) -> None:
    for person in (conversation.fan, conversation.creator):
        for message in messages:
            send_event_on_commit(
                [person.pk],
                {"type": "message.updated", "conversation_id": str(conversation.pk), "message": selectors.message_data(message, person)},
            )


def refund_held(queryset, *, reason: str) -> list[Message]:
    """Refund the still-held messages of ``queryset`` now, in the caller's transaction (or a new one).

    The building block of every refund: expiry, deletion, block, ban, moderation.
    """
    with transaction.atomic():
        held = _lock_held(queryset.select_related("sender"))
        refunded = _settle_locked(held, outcome=EscrowState.REFUNDED, reason=reason)
        if refunded:
            _announce_refunded(refunded, reason=reason)
    return refunded


def refund_expired_message(*, message_id) -> Message | None:
    """Refund one held message whose reply window has passed (or whose creator is banned). Idempotent:
    a message answered or refunded meanwhile is left alone and None returned."""
    now = timezone.now()
    with transaction.atomic():
        message = Message.objects.filter(pk=message_id).select_related("conversation__creator").first()
        if message is None:
            return None
        creator = message.conversation.creator
        if message.reply_by is not None and message.reply_by <= now:
            reason = RefundReason.EXPIRED
        elif creator.is_banned or not creator.is_active:
            reason = RefundReason.CREATOR_BANNED
        else:
            return None
        refunded = refund_held(Message.objects.filter(pk=message_id), reason=reason)
    return refunded[0] if refunded else None


def refund_due_messages(*, limit: int = 1000) -> int:
    """The periodic job: refund held messages past their reply window, and those to banned creators
    (a message sent while the ban was being committed). One transaction per message. Returns how many."""
    from messaging.tasks import due_message_ids

    refunded = 0
    for message_id in due_message_ids(limit=limit):
        try:
            if refund_expired_message(message_id=message_id) is not None:
                refunded += 1
        except Exception:
            logger.exception("refunding an expired message failed", extra={"message_id": message_id})
    return refunded


def on_user_blocked(*, blocker, blocked) -> None:
    """accounts.hooks.user_blocked: refund every message held between the two, inside the block's transaction.

    The inboxes are locked first, so a message being sent between them either
    committed before (and is refunded here) or sees the block and is refused.
    """
    lock_inboxes([blocker.pk, blocked.pk])
    between = Message.objects.filter(
        Q(sender=blocker, recipient=blocked) | Q(sender=blocked, recipient=blocker)
    )
    refund_held(between, reason=RefundReason.BLOCKED)


def on_user_banned(*, user, actor=None, reason: str = "", until=None, notice=None) -> None:
    """accounts.hooks.user_banned: a banned (or suspended) creator can no longer earn what is held for them.

    Runs inside the ban's transaction, which holds the user's row lock; the
    inbox is not locked here (a send waiting on that inbox would wait on the
    user row too). A message that raced the ban is refunded by the periodic job.
    """
    refund_held(Message.objects.filter(conversation__creator=user), reason=RefundReason.CREATOR_BANNED)


# --- deleting, hiding -----------------------------------------------------------------


def delete_message(*, user, message_id) -> Message:
    """Delete a message for both people. Idempotent.

    Its sender may, within MESSAGE_DELETE_WINDOW_S of sending; the creator may
    also delete a fan's paid message they have not answered (declining it). A
    held message deleted is refunded in full. Text and image are wiped.
    403 delete_not_allowed otherwise; 404 for anyone not in the conversation.
    """
    message = selectors.message_for_party(message_id=message_id, user=user)
    if message.deleted_at is not None:
        return message
    conversation = message.conversation
    own_in_window = message.sender_id == user.pk and timezone.now() - message.created_at <= timedelta(
        seconds=settings.MESSAGE_DELETE_WINDOW_S
    )
    declining = user.pk == conversation.creator_id and message.escrow_state == EscrowState.HELD
    if not (own_in_window or declining):
        raise DeleteNotAllowed()
    storage = Message._meta.get_field("image").storage
    with transaction.atomic():
        message = Message.objects.select_for_update(of=("self",), no_key=True).get(pk=message.pk)
        if message.deleted_at is not None:
            return message
        refund_held(Message.objects.filter(pk=message.pk), reason=RefundReason.DELETED)
        old_image = message.image.name
        now = timezone.now()
        Message.objects.filter(pk=message.pk, deleted_at__isnull=True).update(deleted_at=now, text="", image="")
        if old_image:
            transaction.on_commit(lambda: storage.delete(old_image))
        message.refresh_from_db()
        _push_updates([message], conversation=conversation)
    return message


def hide_message(*, moderator, message_id, reason: str) -> Message:
    """A moderator removes a message for both people (kept for the record). Audited; a held
    message is refunded. Idempotent. Only users with moderation rights (accounts.ban_user) may."""
    from accounts.exceptions import NotAllowed
    from accounts.services import record_audit

    if moderator is None or not moderator.has_perm("accounts.ban_user"):
        raise NotAllowed("You may not moderate messages.")
    with transaction.atomic():
        message = Message.objects.select_for_update(of=("self",), no_key=True).select_related("conversation").filter(pk=message_id).first()
        if message is None:
            from messaging.exceptions import MessageNotFound

            raise MessageNotFound()
        if message.hidden_at is not None:
            return message
        refund_held(Message.objects.filter(pk=message.pk), reason=RefundReason.HIDDEN)
        now = timezone.now()
        Message.objects.filter(pk=message.pk).update(hidden_at=now, hidden_by=moderator)
        record_audit(actor=moderator, action="message.hide", target=message, reason=reason,
                     before={"hidden": False}, after={"hidden": True})
        message.refresh_from_db()
        conversation = Conversation.objects.select_related("fan", "creator").get(pk=message.conversation_id)
        _push_updates([message], conversation=conversation)
    return message


# --- reading, typing, viewing, settings ------------------------------------------------------


def mark_read(*, user, conversation_id, up_to: int | None = None) -> dict:
    """``user`` has read the conversation up to ``up_to`` (default: its newest message).

    Pointers only move forward. The other side hears it (``message.read``) only
    if the reader's read receipts are on; the reader's own tabs always do
    (``conversation.read``, to clear their unread badges).
    """
    conversation = selectors.conversation_for_party(conversation_id=conversation_id, user=user)
    newest = conversation.last_message_id or 0
    up_to = newest if up_to is None else min(int(up_to), newest)
    role = selectors.role_in(conversation, user)
    receipts = selectors.read_receipts_on(user)
    changes = {f"{role}_read_id": Greatest(f"{role}_read_id", Value(up_to))}
    if receipts:
        changes[f"{role}_receipt_id"] = Greatest(f"{role}_receipt_id", Value(up_to))
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(**changes)
        conversation.refresh_from_db(fields=[f"{role}_read_id", f"{role}_receipt_id"])
        read_id = getattr(conversation, f"{role}_read_id")
        send_event_on_commit(
            [user.pk], {"type": "conversation.read", "conversation_id": str(conversation.pk), "read_id": read_id},
        )
        if receipts:
            send_event_on_commit(
                [conversation.other(user.pk)],
                {"type": "message.read", "conversation_id": str(conversation.pk), "reader_id": str(user.pk),
                 "read_id": getattr(conversation, f"{role}_receipt_id")},
            )
    return {"conversation_id": str(conversation.pk), "read_id": read_id}


def typing_target(*, user, conversation_id) -> str:
    """Whom a typing indicator from ``user`` in this conversation goes to (404 for outsiders)."""
    return str(selectors.other_party_id(conversation_id=conversation_id, user=user))


def set_viewing(*, user, socket_id: str, conversation_id=None) -> None:
    """This socket of ``user`` now shows that thread (None: none, or the tab is hidden).

    Kept by notifications (``notifications.services.set_viewing``), which holds
    back "new message" alerts for a thread on screen; only someone in the
    conversation can say they are looking at it.
    """
    from notifications.services import set_viewing as remember

    if conversation_id is not None:
        selectors.other_party_id(conversation_id=conversation_id, user=user)
    remember(user_id=user.pk, socket_id=socket_id, thread=str(conversation_id) if conversation_id is not None else None)


def set_read_receipts(*, user, enabled: bool) -> bool:
    """Turn the user's read receipts on or off (what they read from now on)."""
    if not isinstance(enabled, bool):
        raise InvalidInput("read_receipts must be true or false.", fields={"read_receipts": ["Must be true or false."]})
    Inbox.objects.update_or_create(user=user, defaults={"read_receipts": enabled})
    return enabled


# --- broadcasts ------------------------------------------------------------------------------


def start_broadcast(*, creator, text: str, audience: str, min_spend: int = 0, client_broadcast_id: str = "") -> tuple[Broadcast, bool]:
    """Queue a broadcast to the creator's followers or spenders; Celery delivers it in batches.

    Nothing is delivered in the request. Idempotent under client_broadcast_id
    (per creator). 403 not_a_creator, 400 invalid_message, 429 broadcast_rate_limited.
    """
    if not _is_creator(creator):
        raise NotAllowedToBroadcast()
    text = _clean_text(text)
    if not text:
        raise InvalidMessage(fields={"text": ["Write the message to send."]})
    if audience not in Broadcast.Audience.values:
        raise InvalidInput(fields={"audience": [f"One of: {', '.join(Broadcast.Audience.values)}."]}, code="invalid_audience")
    if isinstance(min_spend, bool) or not isinstance(min_spend, int) or not 0 <= min_spend <= 10**9:
        raise InvalidInput(fields={"min_spend": ["A whole number of tokens."]}, code="invalid_min_spend")
    if audience == Broadcast.Audience.SPENDERS and min_spend < 1:
        raise InvalidInput(fields={"min_spend": ["Fans who spent at least 1 token or more."]}, code="invalid_min_spend")
    if client_broadcast_id:
        client_broadcast_id = _clean_client_id(client_broadcast_id)
        existing = Broadcast.objects.filter(creator=creator, client_broadcast_id=client_broadcast_id).first()
        if existing is not None:
            return existing, False
    window = 3600
    _count_toward_limit(f"messaging:broadcast-rate:{creator.pk}:{int(timezone.now().timestamp()) // window}",
                        settings.MESSAGE_BROADCASTS_PER_HOUR, window, BroadcastRateLimited)
    from messaging.tasks import plan_broadcast_task

    try:
        with transaction.atomic():
            broadcast = Broadcast.objects.create(
                creator=creator, text=text, audience=audience,
                min_spend=min_spend if audience == Broadcast.Audience.SPENDERS else 0,
                client_broadcast_id=client_broadcast_id,
            )
            transaction.on_commit(lambda: plan_broadcast_task.delay(str(broadcast.pk)))
    except IntegrityError:  # a concurrent double submit with the same client id
        return Broadcast.objects.get(creator=creator, client_broadcast_id=client_broadcast_id), False
    return broadcast, True


def broadcast_audience(broadcast: Broadcast) -> list:
    """Who should get it now: followers (or spenders), reachable, no block either way."""
    from creators.models import Follow

    creator = broadcast.creator
    if broadcast.audience == Broadcast.Audience.FOLLOWERS:
        ids = set(Follow.objects.filter(creator_id=creator.pk).values_list("follower_id", flat=True))
    else:
        from ledger.selectors import spent_with_creator

        ids = {fan for fan, spent in spent_with_creator(creator=creator).items() if spent >= broadcast.min_spend}
    ids -= selectors.blocked_ids(creator) | {creator.pk}
    now = timezone.now()
    reachable = User.objects.filter(pk__in=ids, is_active=True, deleted_at__isnull=True).filter(
        Q(banned_at__isnull=True) | Q(banned_until__lte=now)
    )
    return sorted(reachable.values_list("pk", flat=True), key=str)


def plan_broadcast(*, broadcast_id) -> list[list[str]]:
    """Fix the audience and split it into batches (the tasks' arguments). Idempotent: run again
    (a retried task), it plans only those not yet delivered; delivery is once per recipient anyway."""
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().select_related("creator").get(pk=broadcast_id)
        if broadcast.status == Broadcast.Status.DONE:
            return []
        delivered = set(Message.objects.filter(broadcast=broadcast).values_list("recipient_id", flat=True))
        remaining = [str(pk) for pk in broadcast_audience(broadcast) if pk not in delivered]
        Broadcast.objects.filter(pk=broadcast.pk).update(
            status=Broadcast.Status.SENDING if remaining else Broadcast.Status.DONE,
            recipient_count=len(delivered) + len(remaining),
            started_at=broadcast.started_at or timezone.now(),
            finished_at=None if remaining else timezone.now(),
        )
        size = max(1, settings.MESSAGE_BROADCAST_BATCH)
        batches = [remaining[i:i + size] for i in range(0, len(remaining), size)]
        send_event_on_commit([broadcast.creator_id], _broadcast_event(broadcast.pk))
    return batches


def _broadcast_event(broadcast_id) -> dict:
    broadcast = Broadcast.objects.filter(pk=broadcast_id).values("id", "status", "recipient_count", "delivered_count").first()
    return {"type": "broadcast.progress", "broadcast": {**broadcast, "id": str(broadcast["id"])}}


def deliver_broadcast(*, broadcast_id, recipient_ids: list) -> int:
    """Deliver one batch: one message per recipient, each at most once however often this runs
    (the (broadcast, recipient) unique constraint; rows already there are skipped under the
    recipients' inbox locks). Returns how many were delivered by this call."""
    from accounts.models import User
    from notifications.models import NotificationKind
    from notifications.services import notify, should_notify_message

    broadcast = Broadcast.objects.select_related("creator").get(pk=broadcast_id)
    creator = broadcast.creator
    if not rules.reachable(creator):
        return 0
    hidden = selectors.blocked_ids(creator)
    now = timezone.now()
    recipients = {
        str(user.pk): user
        for user in User.objects.filter(pk__in=[str(pk) for pk in recipient_ids], is_active=True, deleted_at__isnull=True)
        .filter(Q(banned_at__isnull=True) | Q(banned_until__lte=now))
        .exclude(pk__in=hidden | {creator.pk})
    }
    if not recipients:
        return 0
    conversations = _conversations_with(creator, list(recipients.values()))
    with transaction.atomic():
        # The recipients' streams only: the creator's copies stay out of their own stream.
        inboxes = lock_inboxes(recipients)
        done = {str(pk) for pk in Message.objects.filter(broadcast=broadcast, recipient_id__in=list(recipients)).values_list("recipient_id", flat=True)}
        todo = [user_id for user_id in sorted(recipients) if user_id not in done]
        if not todo:
            return 0
        sent_at = timezone.now()
        messages = Message.objects.bulk_create([
            Message(conversation=conversations[user_id], sender=creator, recipient_id=user_id, kind=MessageKind.BROADCAST,
                    text=broadcast.text, broadcast=broadcast, created_at=sent_at)
            for user_id in todo
        ])
        by_recipient = {str(m.recipient_id): m for m in messages}
        # Two set-based UPDATEs, each message found through the (broadcast, recipient) index
        # (a CASE with a branch per recipient took PostgreSQL seconds to plan for 500).
        this_broadcast = Message.objects.filter(broadcast=broadcast)
        Conversation.objects.filter(pk__in=[conversations[u].pk for u in todo]).update(
            last_message_id=Subquery(this_broadcast.filter(conversation_id=OuterRef("pk")).values("id")[:1]),
            last_message_at=sent_at,
        )
        Inbox.objects.filter(user_id__in=todo).update(
            last_message_id=Subquery(this_broadcast.filter(recipient_id=OuterRef("user_id")).values("id")[:1])
        )
        # recipient_count grows if an older plan's batch still delivers someone a re-plan left out.
        Broadcast.objects.filter(pk=broadcast.pk).update(
            delivered_count=F("delivered_count") + len(todo),
            recipient_count=Greatest(F("recipient_count"), F("delivered_count") + len(todo)),
        )
        Broadcast.objects.filter(pk=broadcast.pk, delivered_count__gte=F("recipient_count")).exclude(
            status=Broadcast.Status.DONE
        ).update(status=Broadcast.Status.DONE, finished_at=timezone.now())
        name = selectors.person_data(creator)["name"]
        preview = _preview(messages[0])
        # Pushed only to those with a socket open (one MGET for the batch), in one trip: most of a
        # large audience is offline, and a page that connects later catches up by sync.
        online = online_user_ids(todo)
        send_events_on_commit(
            ([user_id], {"type": "message.new", "conversation_id": str(conversations[user_id].pk),
                         "message": selectors.message_data(by_recipient[user_id], recipients[user_id]),
                         "prev_id": inboxes[user_id].last_message_id})
            for user_id in todo if user_id in online
        )
        for user_id in todo:
            message, recipient, conversation = by_recipient[user_id], recipients[user_id], conversations[user_id]
            if not should_notify_message(recipient=recipient, sender=creator,
                                         has_paid=lambda recipient=recipient: selectors.spent_with(recipient, creator) > 0):
                continue
            notify(
                recipient=recipient, kind=NotificationKind.MESSAGE_NEW, text=f"{name}: {preview}", actor=creator,
                target=message, url=f"/messages/{conversation.pk}/", dedupe_key=f"message:{message.pk}",
                data={"thread": str(conversation.pk), "message_id": message.pk, "broadcast_id": str(broadcast.pk)},
            )
        send_event_on_commit([creator.pk], _broadcast_event(broadcast.pk))
    return len(todo)


def _conversations_with(creator, users: list) -> dict:
    """user id -> the conversation between ``creator`` and that user, created where missing (in bulk)."""
    ids = [user.pk for user in users]

    def existing():
        found = {}
        for conversation in Conversation.objects.filter(Q(creator=creator, fan_id__in=ids) | Q(fan=creator, creator_id__in=ids)):
            found[str(conversation.other(creator.pk))] = conversation
        return found

    found = existing()
    missing = [user for user in users if str(user.pk) not in found]
    if missing:
        Conversation.objects.bulk_create([Conversation(fan=user, creator=creator) for user in missing], ignore_conflicts=True)
        found = existing()
    return found
