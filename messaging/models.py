"""Direct messages between a fan and a creator, paid messages held in escrow, broadcasts.

Only ``messaging.services`` writes here. Invariants the database enforces
(Python gives the friendly message first):
- a conversation joins two different people, at most once per pair (either order);
- a message's client id is unique per sender, so a resend stores nothing new;
- a paid message has a price, a hold in the ledger and an escrow state; a free
  one has none of them; a settled one names its settlement;
- a broadcast reaches each recipient at most once, however often a batch runs.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least
from django.utils import timezone


class Inbox(models.Model):
    """A person's messaging state: their settings, and the row whose lock orders their stream.

    Every write that adds a message locks the inboxes of both people in it
    (``messaging.locks``), so the messages of one person's stream (sent or
    received, in any conversation) are inserted and committed one at a time,
    in id order. That is what makes catch-up by "everything after id N" exact.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="message_inbox")
    # Off: what this person reads is not shown to the other side as read.
    read_receipts = models.BooleanField(default=True)
    # The newest message of this person's stream; each socket event carries the
    # one before it (prev_id), so a client can tell it missed something.
    last_message_id = models.BigIntegerField(default=0)

    def __str__(self):
        return f"inbox of {self.user_id}"


class Conversation(models.Model):
    """Two people: ``creator`` sets the rules and price, ``fan`` is the other one.

    When both are creators, the one written to first is ``creator``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    fan = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="fan_conversations")
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="creator_conversations")
    created_at = models.DateTimeField(auto_now_add=True)
    # Denormalised for the inbox (written with each message, under the inbox locks).
    last_message_id = models.BigIntegerField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Read pointers: the newest message each side has read (private; unread
    # counts) and the newest one the other side is shown as read (receipts).
    fan_read_id = models.BigIntegerField(default=0)
    creator_read_id = models.BigIntegerField(default=0)
    fan_receipt_id = models.BigIntegerField(default=0)
    creator_receipt_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(fan=F("creator")), name="messaging_conversation_two_people"),
            models.UniqueConstraint(Least("fan", "creator"), Greatest("fan", "creator"), name="messaging_one_conversation_per_pair"),
        ]
        indexes = [
            models.Index(fields=["fan", "-last_message_at"], name="messaging_conv_fan_idx"),
            models.Index(fields=["creator", "-last_message_at"], name="messaging_conv_creator_idx"),
        ]

    def __str__(self):
        return f"{self.fan_id} <-> {self.creator_id}"

    def other(self, user_id):
        return self.creator_id if user_id == self.fan_id else self.fan_id


class MessageKind(models.TextChoices):
    DIRECT = "direct", "Direct message"
    BROADCAST = "broadcast", "Broadcast"


class EscrowState(models.TextChoices):
    FREE = "free", "Free"
    HELD = "held", "Held until the creator replies"
    RELEASED = "released", "Answered"
    REFUNDED = "refunded", "Refunded"


class RefundReason(models.TextChoices):
    EXPIRED = "expired", "Not answered in time"
    DELETED = "deleted", "Deleted unanswered"
    BLOCKED = "blocked", "Blocked"
    CREATOR_BANNED = "creator_banned", "Creator banned"
    HIDDEN = "hidden", "Removed by a moderator"


class Broadcast(models.Model):
    """One message a creator sends to many: delivered by Celery in batches."""

    class Audience(models.TextChoices):
        FOLLOWERS = "followers", "All followers"
        SPENDERS = "spenders", "Fans who spent at least N tokens"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        DONE = "done", "Delivered"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="broadcasts")
    text = models.TextField()
    audience = models.CharField(max_length=16, choices=Audience.choices)
    min_spend = models.PositiveIntegerField(default=0)
    client_broadcast_id = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    recipient_count = models.PositiveIntegerField(default=0)
    delivered_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["creator", "client_broadcast_id"], condition=~Q(client_broadcast_id=""),
                name="messaging_broadcast_client_id_once",
            ),
            models.CheckConstraint(condition=Q(delivered_count__lte=F("recipient_count")), name="messaging_broadcast_count_bounded"),
        ]
        indexes = [models.Index(fields=["creator", "-created_at"], name="messaging_bcast_creator_idx")]

    def __str__(self):
        return f"broadcast {self.id} by {self.creator_id}"


class Message(models.Model):
    # Monotonic (database sequence), and per person in commit order (see
    # Inbox): clients catch up with "everything after id N".
    id = models.BigAutoField(primary_key=True)
    conversation = models.ForeignKey(Conversation, on_delete=models.PROTECT, related_name="messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages_sent")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages_received")
    kind = models.CharField(max_length=12, choices=MessageKind.choices, default=MessageKind.DIRECT)
    text = models.TextField(blank=True)
    image = models.ImageField(upload_to="messages/", blank=True)
    # The sender's own id for this message: a resend with the same id stores
    # and charges nothing new.
    client_message_id = models.CharField(max_length=64, blank=True, default="")
    price = models.PositiveIntegerField(default=0)
    escrow_state = models.CharField(max_length=10, choices=EscrowState.choices, default=EscrowState.FREE)
    hold_transaction = models.ForeignKey(
        "ledger.Transaction", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    settle_transaction = models.ForeignKey(
        "ledger.Transaction", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # A held message not answered by then is refunded by the periodic job.
    reply_by = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    refund_reason = models.CharField(max_length=16, choices=RefundReason.choices, blank=True, default="")
    broadcast = models.ForeignKey(Broadcast, null=True, blank=True, on_delete=models.PROTECT, related_name="messages", db_index=False)
    # Set by the service (the same instant as reply_by is counted from).
    created_at = models.DateTimeField(default=timezone.now)
    # Deleted for both (by its sender in the delete window, or a held message by the creator).
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Removed by a moderator (hide_message); the text stays for the record, nobody sees it.
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(sender=F("recipient")), name="messaging_message_not_to_self"),
            models.UniqueConstraint(
                fields=["sender", "client_message_id"], condition=~Q(client_message_id=""),
                name="messaging_client_message_id_once",
            ),
            models.UniqueConstraint(
                fields=["broadcast", "recipient"], condition=Q(broadcast__isnull=False),
                name="messaging_broadcast_once_per_recipient",
            ),
            models.CheckConstraint(
                condition=(
                    Q(escrow_state=EscrowState.FREE, price=0, hold_transaction__isnull=True, settle_transaction__isnull=True)
                    | Q(escrow_state=EscrowState.HELD, price__gt=0, hold_transaction__isnull=False,
                        settle_transaction__isnull=True, reply_by__isnull=False)
                    | Q(escrow_state__in=[EscrowState.RELEASED, EscrowState.REFUNDED], price__gt=0,
                        hold_transaction__isnull=False, settle_transaction__isnull=False, settled_at__isnull=False)
                ),
                name="messaging_message_escrow_consistent",
            ),
        ]
        indexes = [
            # History (newest first, keyset on id) and unread counts.
            models.Index(fields=["conversation", "-id"], name="messaging_msg_history_idx"),
            # Catch-up: a person's stream after id N (sent or received).
            models.Index(fields=["sender", "id"], name="messaging_msg_sender_idx"),
            models.Index(fields=["recipient", "id"], name="messaging_msg_recipient_idx"),
            # The expiry job and replies find held messages only.
            models.Index(fields=["reply_by"], condition=Q(escrow_state="held"), name="messaging_msg_held_due_idx"),
            models.Index(fields=["conversation", "id"], condition=Q(escrow_state="held"), name="messaging_msg_held_idx"),
        ]

    def __str__(self):
        return f"message {self.id} in {self.conversation_id}"

    @property
    def is_visible(self) -> bool:
        return self.deleted_at is None and self.hidden_at is None
