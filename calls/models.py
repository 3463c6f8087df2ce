"""Calls: one row per call, plus the presence intervals billing is computed from.

Invariants the database enforces (the services give the friendly message first):
- a fan has at most one live call and a creator is in at most one live call
  (unique partial indexes on the live states: two racing requests cannot both win);
- rates are whole tokens > 0, a call lasts at least a minute, nobody calls themself;
- refunds never exceed charges;
- a party has at most one open presence interval per call.

Money is never stored here as a source of truth: the ledger holds it. The
totals on the call are the receipt of the settlement (written once, when the
call is settled).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class CallKind(models.TextChoices):
    VIDEO = "video", "Video"
    VOICE = "voice", "Voice"


class CallStatus(models.TextChoices):
    REQUESTED = "requested", "Ringing"
    ACCEPTED = "accepted", "Accepted"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ENDED = "ended", "Ended"


class EndReason(models.TextChoices):
    COMPLETED = "completed", "Completed"
    DECLINED = "declined", "Declined"
    CANCELLED = "cancelled", "Cancelled"
    MISSED = "missed", "Missed"
    DROPPED = "dropped", "Dropped"
    INSUFFICIENT_FUNDS = "insufficient_funds", "Ran out of tokens"
    FAILED = "failed", "Never connected"
    ENDED_BY_STAFF = "ended_by_staff", "Ended by a moderator"


# A call in one of these states occupies both of its parties.
LIVE_STATUSES = (CallStatus.REQUESTED, CallStatus.ACCEPTED, CallStatus.ACTIVE, CallStatus.PAUSED)
LIVE_Q = Q(status__in=[s.value for s in LIVE_STATUSES])


class CallSession(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    fan = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="calls_as_fan")
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="calls_as_creator")
    kind = models.CharField(max_length=8, choices=CallKind.choices)
    # Captured when the fan rings: a creator changing their rate mid-call
    # changes nothing about this call.
    rate = models.PositiveIntegerField(help_text="Tokens per minute, captured at request time.")
    min_minutes = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=12, choices=CallStatus.choices, default=CallStatus.REQUESTED)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)

    requested_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    active_at = models.DateTimeField(null=True, blank=True, help_text="When both parties were first present.")
    paused_at = models.DateTimeField(null=True, blank=True, help_text="Since when a party has been absent.")
    ended_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    # Billing progress and the receipt.
    minutes_charged = models.PositiveIntegerField(default=0, help_text="Minutes started (each charged ahead).")
    low_balance_warned_minute = models.PositiveIntegerField(default=0)
    active_seconds = models.PositiveIntegerField(default=0, help_text="Seconds both parties were present.")
    tokens_charged = models.PositiveIntegerField(default=0)
    tokens_refunded = models.PositiveIntegerField(default=0)
    creator_earnings = models.PositiveIntegerField(default=0)
    platform_fee = models.PositiveIntegerField(default=0)
    # A moderator gave the fan back everything they paid (calls.services.refund_call_as_staff).
    refunded_by_staff_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fan"], condition=LIVE_Q, name="calls_one_live_call_per_fan"),
            models.UniqueConstraint(fields=["creator"], condition=LIVE_Q, name="calls_one_live_call_per_creator"),
            models.CheckConstraint(condition=~Q(fan=F("creator")), name="calls_not_self"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="calls_rate_positive"),
            models.CheckConstraint(condition=Q(min_minutes__gte=1), name="calls_min_minutes_gte_1"),
            models.CheckConstraint(condition=Q(tokens_refunded__lte=F("tokens_charged")), name="calls_refund_lte_charge"),
            models.CheckConstraint(condition=Q(status__in=CallStatus.values), name="calls_status_valid"),
            models.CheckConstraint(
                condition=Q(status=CallStatus.ENDED, end_reason__in=EndReason.values) | (~Q(status=CallStatus.ENDED) & Q(end_reason="")),
                name="calls_end_reason_iff_ended",
            ),
        ]
        indexes = [
            # Counting and sweeping live calls reads only the live rows.
            models.Index(fields=["status"], condition=LIVE_Q, name="calls_live_status_idx"),
            # Ended but not yet settled (a settlement interrupted by a crash).
            models.Index(fields=["ended_at"], condition=Q(status=CallStatus.ENDED, settled_at__isnull=True), name="calls_unsettled_idx"),
            # History pages, newest first, per party.
            models.Index(fields=["fan", "-requested_at", "id"], name="calls_fan_history_idx"),
            models.Index(fields=["creator", "-requested_at", "id"], name="calls_creator_history_idx"),
            # The operations console's hourly rollups read ended calls by the hour they ended.
            models.Index(fields=["ended_at"], condition=Q(status=CallStatus.ENDED), name="calls_ended_at_idx"),
            # The console's median call per creator: each creator's connected calls
            # by when they ended, with the seconds in the key so that the median
            # reads the index only (key columns, not INCLUDE: SQLite has no covering indexes).
            models.Index(
                fields=["creator", "ended_at", "active_seconds"], condition=Q(status=CallStatus.ENDED, active_at__isnull=False),
                name="calls_connected_by_creator_idx",
            ),
        ]

    def __str__(self):
        return f"{self.kind} call {self.id} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    def party_ids(self) -> tuple:
        return (self.fan_id, self.creator_id)

    def other_party_id(self, user_id):
        return self.creator_id if user_id == self.fan_id else self.fan_id


class CallPresence(models.Model):
    """One interval of a party being in the call, as the server saw it.

    Opened by a join (or a heartbeat after silence), extended by heartbeats
    (``last_seen_at``), closed by a leave, the end of the call, or silence: a
    silent party's interval is closed at the last moment they were seen, so a
    late sweeper never makes anyone pay for time nobody verified.
    """

    id = models.BigAutoField(primary_key=True)
    call = models.ForeignKey(CallSession, on_delete=models.CASCADE, related_name="presences")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    joined_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["call", "user"], condition=Q(left_at__isnull=True), name="calls_one_open_presence"),
            models.CheckConstraint(condition=Q(last_seen_at__gte=F("joined_at")), name="calls_presence_seen_after_join"),
            models.CheckConstraint(condition=Q(left_at__isnull=True) | Q(left_at__gte=F("joined_at")), name="calls_presence_left_after_join"),
        ]
        indexes = [models.Index(fields=["call", "user", "joined_at"], name="calls_presence_call_idx")]

    def __str__(self):
        return f"{self.user_id} in {self.call_id} from {self.joined_at}"
