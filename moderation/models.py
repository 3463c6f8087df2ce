"""User reports of people and content, and the queue moderators work.

A report names its target by kind and id (a user, a creator profile, a
message, a live stream), so every app's content can be reported the same way.
Only ``moderation.services`` writes here.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class TargetKind(models.TextChoices):
    USER = "user", "User"
    PROFILE = "profile", "Creator profile"
    MESSAGE = "message", "Message"
    STREAM = "stream", "Live stream"


class ReportReason(models.TextChoices):
    SPAM = "spam", "Spam"
    HARASSMENT = "harassment", "Harassment"
    ILLEGAL = "illegal", "Illegal content"
    IMPERSONATION = "impersonation", "Impersonation"
    UNDERAGE = "underage", "Underage"
    OTHER = "other", "Other"


class ReportStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_REVIEW = "in_review", "In review"
    RESOLVED = "resolved", "Resolved"
    DISMISSED = "dismissed", "Dismissed"


class Report(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reports_filed")
    target_kind = models.CharField(max_length=16, choices=TargetKind.choices)
    target_id = models.CharField(max_length=64)
    # Whose content it is (the reported person), for their history and outcome notices.
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reports_received"
    )
    reason = models.CharField(max_length=16, choices=ReportReason.choices)
    note = models.TextField(max_length=2000, blank=True, default="")
    status = models.CharField(max_length=12, choices=ReportStatus.choices, default=ReportStatus.OPEN)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="reports_assigned"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    # The last action a moderator took on it (moderation.services.ACTIONS).
    outcome = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="reports_resolved"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open report per reporter and target: a second click changes nothing.
            models.UniqueConstraint(
                fields=["reporter", "target_kind", "target_id"],
                condition=Q(status__in=["open", "in_review"]),
                name="moderation_one_open_report_per_reporter",
            ),
        ]
        indexes = [
            models.Index(fields=["target_kind", "target_id"], name="moderation_report_target_idx"),
            models.Index(fields=["status", "created_at"], name="moderation_report_queue_idx"),
            # A reporter's history and their hourly limit; the reported person's history.
            models.Index(fields=["reporter", "-created_at"], name="moderation_report_reporter_idx"),
            models.Index(fields=["target_user", "-created_at"], name="moderation_report_reported_idx"),
        ]
        permissions = [("moderate_report", "Can work the reports queue and act on reports")]

    def __str__(self):
        return f"{self.reason} report on {self.target_kind}:{self.target_id}"


class HiddenTarget(models.Model):
    """Content hidden by moderation: automatically once enough people reported
    it (until a moderator reviews it), or by a moderator's decision. The row
    stays when the content is restored, as its history."""

    id = models.BigAutoField(primary_key=True)
    target_kind = models.CharField(max_length=16, choices=TargetKind.choices)
    target_id = models.CharField(max_length=64)
    target_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    automatic = models.BooleanField(default=False, help_text="Hidden by reports, waiting for review.")
    hidden_at = models.DateTimeField(auto_now_add=True)
    hidden_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    restored_at = models.DateTimeField(null=True, blank=True)
    restored_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            # Hidden at most once at a time: concurrent reports auto-hide once.
            models.UniqueConstraint(
                fields=["target_kind", "target_id"], condition=Q(restored_at__isnull=True), name="moderation_hidden_once"
            ),
        ]

    def __str__(self):
        return f"{self.target_kind}:{self.target_id} hidden"


class PayoutFreeze(models.Model):
    """A creator whose payouts a moderator froze. The payouts app asks
    ``moderation.selectors.payouts_frozen(user)`` before paying anyone out."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payout_freezes")
    report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    frozen_at = models.DateTimeField(auto_now_add=True)
    frozen_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user"], condition=Q(lifted_at__isnull=True), name="moderation_one_active_freeze"),
        ]

    def __str__(self):
        return f"payouts of {self.user_id} frozen"
