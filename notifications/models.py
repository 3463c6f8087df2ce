"""In-app notifications: one row per thing a person should hear about.

Rows are written only by ``notifications.services`` (``notify``), called by the
service that caused the event, inside its transaction, so a notification exists
exactly when its cause committed.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class NotificationKind(models.TextChoices):
    CALL_INCOMING = "call_incoming", "Incoming call"
    CALL_MISSED = "call_missed", "Missed call"
    MESSAGE_NEW = "message_new", "New message"
    MESSAGE_ANSWERED = "message_answered", "Paid message answered"
    MESSAGE_REFUNDED = "message_refunded", "Paid message refunded"
    TIP_RECEIVED = "tip_received", "Tip received"
    CREATOR_LIVE = "creator_live", "A creator you follow went live"
    PURCHASE_CREDITED = "purchase_credited", "Tokens credited"
    PAYOUT_STATUS = "payout_status", "Payout status"
    MODERATION = "moderation", "Moderation"


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What it is about, as "app_label.model" and its primary key (a call, a
    # message, a stream, a payout ...), so any app can be a target.
    target_type = models.CharField(max_length=100, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    text = models.CharField(max_length=300)
    # Where clicking it goes (a path on this site).
    url = models.CharField(max_length=300, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    # The cause's own key: a retried cause notifies once.
    dedupe_key = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "dedupe_key"], condition=~Q(dedupe_key=""), name="notifications_dedupe_once"
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notifications_recipient_idx"),
            models.Index(fields=["recipient"], condition=Q(read_at__isnull=True), name="notifications_unread_idx"),
        ]

    def __str__(self):
        return f"{self.kind} -> {self.recipient_id}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class Channel(models.TextChoices):
    IN_APP = "in_app", "In the app"
    PUSH = "push", "Web push"
    EMAIL = "email", "E-mail"


class NotificationSettings(models.Model):
    """One person's choices: which kinds reach them on which channel, and whom to hear messages from.

    ``channels`` holds only what differs from the defaults in
    ``notifications.kinds`` ({kind: {channel: bool}}), so a default changed
    later reaches everyone who never touched that switch. No row = all defaults.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="notification_settings"
    )
    channels = models.JSONField(default=dict, blank=True)
    # Mastodon-style filters for new-message notifications: hold them back
    # when the sender is someone you don't follow / who never paid you. The
    # message itself still arrives; only the notification is filtered.
    filter_not_following = models.BooleanField(default=False)
    filter_never_paid = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"notification settings of {self.user_id}"


class PushSubscription(models.Model):
    """One browser's Web Push subscription (PushSubscription.toJSON()) and its delivery counts.

    The endpoint is unique: a browser shared by two accounts belongs to the
    one that subscribed last. A push service's 404/410 deletes the row.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=2048)
    # sha256 of the endpoint: endpoints are long, a unique index on the hash is small.
    endpoint_hash = models.CharField(max_length=64, unique=True)
    p256dh = models.CharField(max_length=128)
    auth = models.CharField(max_length=64)
    user_agent = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    # The push service's last HTTP status (None: never tried or no answer).
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="notifications_push_user_idx")]

    def __str__(self):
        return f"push subscription {self.pk} of {self.user_id}"

    def subscription_info(self) -> dict:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}
