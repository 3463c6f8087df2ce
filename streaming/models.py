"""Live streams: one row per broadcast, its chat, tips, tickets and the host's moderation.

Invariants the database enforces (the services give the friendly message first):
- a host has at most one live stream (unique partial index on the live state:
  two racing "go live" clicks cannot both win);
- a ticketed stream has a price > 0 and only a ticketed one has a price;
- slow mode is off (0) or 3-120 s; a goal's target is >= 0;
- an ended stream has an end reason and an end time, a live one neither;
- a viewer holds at most one ticket per stream, a tip's client key is used once
  per tipper and stream, a viewer is counted once per stream;
- a ban has no end, a timeout has one; at most one standing ban per host and user.

Money is never stored here as a source of truth: tips, goal progress, ticket
sales and refunds are read from the ledger (references ``stream:<id>``). The
``Tip`` and ``Ticket`` rows keep what the ledger does not (the tip's message,
who holds a ticket) and point at their ledger transaction.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

SLOW_MODE_MIN_S = 3
SLOW_MODE_MAX_S = 120
TIMEOUT_MIN_S = 1
TIMEOUT_MAX_S = 14 * 24 * 3600  # two weeks, Twitch's longest timeout
FOLLOW_AGE_MAX_MINUTES = 90 * 24 * 60  # three months, Twitch's longest follower-only duration


class Audience(models.TextChoices):
    EVERYONE = "everyone", "Everyone"
    FOLLOWERS = "followers", "Followers"
    TICKET = "ticket", "Ticket holders"


class StreamStatus(models.TextChoices):
    LIVE = "live", "Live"
    ENDED = "ended", "Ended"


class EndReason(models.TextChoices):
    ENDED = "ended", "Ended by the host"
    HOST_GONE = "host_gone", "The host left"
    MODERATED = "moderated", "Ended by a moderator"


class MediaProvider(models.TextChoices):
    AGORA = "agora", "Agora"
    WEBRTC = "webrtc", "Peer to peer (WebRTC)"


LIVE_Q = Q(status=StreamStatus.LIVE)


class LiveStream(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="live_streams")
    title = models.CharField(max_length=120)
    # A creators category slug (validated by creators.selectors when going live).
    category = models.CharField(max_length=40, blank=True, default="")
    audience = models.CharField(max_length=12, choices=Audience.choices, default=Audience.EVERYONE)
    ticket_price = models.PositiveIntegerField(default=0, help_text="Tokens, ticketed streams only.")
    # Fixed when the stream starts: every viewer of one stream uses the same media.
    media_provider = models.CharField(max_length=8, choices=MediaProvider.choices)
    status = models.CharField(max_length=8, choices=StreamStatus.choices, default=StreamStatus.LIVE)
    end_reason = models.CharField(max_length=12, choices=EndReason.choices, blank=True, default="")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    # The last moment the host's page was heard from (join, heartbeat, leave);
    # the sweeper ends the stream LIVE_HOST_GONE_S after it.
    host_seen_at = models.DateTimeField()

    # Chat settings (host and moderators change them; read on every message).
    slow_mode_s = models.PositiveSmallIntegerField(default=0)
    followers_only = models.BooleanField(default=False)
    followers_min_minutes = models.PositiveIntegerField(default=0)

    # The tip goal; its progress is summed from the ledger since goal_set_at.
    goal_title = models.CharField(max_length=80, blank=True, default="")
    goal_target = models.PositiveIntegerField(default=0, help_text="Tokens; 0 means no goal.")
    goal_set_at = models.DateTimeField(null=True, blank=True)

    peak_viewers = models.PositiveIntegerField(default=0)
    # Written once when the stream ends (streaming.services.build_summary).
    summary = models.JSONField(null=True, blank=True)
    # Set when the stream ended within LIVE_TICKET_REFUND_MINUTES of its start;
    # tickets_refunded_at when every ticket has been refunded.
    tickets_refund_due = models.BooleanField(default=False)
    tickets_refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host"], condition=LIVE_Q, name="streaming_one_live_stream_per_host"),
            models.CheckConstraint(condition=Q(status__in=StreamStatus.values), name="streaming_status_valid"),
            models.CheckConstraint(condition=Q(audience__in=Audience.values), name="streaming_audience_valid"),
            models.CheckConstraint(
                condition=(Q(audience=Audience.TICKET) & Q(ticket_price__gt=0)) | (~Q(audience=Audience.TICKET) & Q(ticket_price=0)),
                name="streaming_ticket_price_iff_ticketed",
            ),
            models.CheckConstraint(
                condition=Q(slow_mode_s=0) | Q(slow_mode_s__gte=SLOW_MODE_MIN_S, slow_mode_s__lte=SLOW_MODE_MAX_S),
                name="streaming_slow_mode_range",
            ),
            models.CheckConstraint(
                condition=Q(followers_min_minutes__lte=FOLLOW_AGE_MAX_MINUTES), name="streaming_follow_age_range"
            ),
            models.CheckConstraint(
                condition=(Q(status=StreamStatus.ENDED) & Q(end_reason__in=EndReason.values) & Q(ended_at__isnull=False))
                | (Q(status=StreamStatus.LIVE) & Q(end_reason="") & Q(ended_at__isnull=True)),
                name="streaming_end_iff_ended",
            ),
            models.CheckConstraint(condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")), name="streaming_ends_after_start"),
        ]
        indexes = [
            # "Live now", the sweeper and live_user_ids read only the live rows.
            models.Index(fields=["started_at"], condition=LIVE_Q, name="streaming_live_idx"),
            models.Index(fields=["host", "-started_at"], name="streaming_host_history_idx"),
            models.Index(fields=["ended_at"], condition=Q(tickets_refund_due=True, tickets_refunded_at__isnull=True),
                         name="streaming_refunds_due_idx"),
        ]

    def __str__(self):
        return f"{self.title} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status == StreamStatus.LIVE

    @property
    def ledger_reference(self) -> str:
        return f"stream:{self.id}"

    @property
    def room(self) -> str:
        return f"live.{self.id}"


class StreamViewer(models.Model):
    """Someone watched this stream (unique viewers, and who may be refunded)."""

    id = models.BigAutoField(primary_key=True)
    stream = models.ForeignKey(LiveStream, on_delete=models.CASCADE, related_name="viewers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    joined_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "user"], name="streaming_viewer_once")]


class ChatMessage(models.Model):
    id = models.BigAutoField(primary_key=True)
    stream = models.ForeignKey(LiveStream, on_delete=models.CASCADE, related_name="chat_messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=500)
    # The sender's own id for the message: a resent message is stored once.
    client_key = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "author", "client_key"], name="streaming_chat_client_key_once")]
        indexes = [
            models.Index(fields=["stream", "-id"], name="streaming_chat_recent_idx"),
            models.Index(fields=["stream", "author", "-id"], name="streaming_chat_author_idx"),
        ]


class RestrictionKind(models.TextChoices):
    TIMEOUT = "timeout", "Timeout"
    BAN = "ban", "Ban"


class ChatRestriction(models.Model):
    """A host's timeout or ban of a user, across all of the host's streams.

    In force while ``lifted_at`` is empty and (for timeouts) ``until`` is in
    the future. Rows are never deleted: lifting one writes ``lifted_at``.
    """

    id = models.BigAutoField(primary_key=True)
    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=RestrictionKind.choices)
    until = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField()
    # Where it was issued (None for a ban issued off-stream).
    stream = models.ForeignKey(LiveStream, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind=RestrictionKind.BAN) & Q(until__isnull=True)) | (Q(kind=RestrictionKind.TIMEOUT) & Q(until__isnull=False)),
                name="streaming_ban_forever_timeout_until",
            ),
            models.CheckConstraint(condition=~Q(host=F("user")), name="streaming_restriction_not_self"),
            models.UniqueConstraint(
                fields=["host", "user"], condition=Q(kind=RestrictionKind.BAN, lifted_at__isnull=True), name="streaming_one_standing_ban"
            ),
        ]
        indexes = [models.Index(fields=["host", "user"], condition=Q(lifted_at__isnull=True), name="streaming_restriction_open_idx")]


class ChannelModerator(models.Model):
    """Someone the host trusts to moderate the chat of all their streams."""

    id = models.BigAutoField(primary_key=True)
    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host", "user"], name="streaming_moderator_once"),
            models.CheckConstraint(condition=~Q(host=F("user")), name="streaming_moderator_not_self"),
        ]


class Tip(models.Model):
    id = models.BigAutoField(primary_key=True)
    stream = models.ForeignKey(LiveStream, on_delete=models.PROTECT, related_name="tips")
    tipper = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amount = models.PositiveIntegerField()
    message = models.CharField(max_length=200, blank=True, default="")
    client_key = models.CharField(max_length=64)
    transaction = models.OneToOneField("ledger.Transaction", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "tipper", "client_key"], name="streaming_tip_client_key_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="streaming_tip_positive"),
        ]
        indexes = [models.Index(fields=["stream", "-id"], name="streaming_tip_recent_idx")]


class Ticket(models.Model):
    id = models.BigAutoField(primary_key=True)
    stream = models.ForeignKey(LiveStream, on_delete=models.PROTECT, related_name="tickets")
    viewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    price = models.PositiveIntegerField()
    transaction = models.OneToOneField("ledger.Transaction", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    refund_transaction = models.OneToOneField("ledger.Transaction", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "viewer"], name="streaming_one_ticket_per_viewer"),
            models.CheckConstraint(condition=Q(price__gt=0), name="streaming_ticket_price_positive"),
            models.CheckConstraint(
                condition=Q(refunded_at__isnull=True, refund_transaction__isnull=True)
                | Q(refunded_at__isnull=False, refund_transaction__isnull=False),
                name="streaming_ticket_refund_complete",
            ),
        ]
