"""Reads the pages, the API and the bell share."""

from notifications.models import Notification, PushSubscription

# The bell shows "99+" beyond this; counting stops there, so a years-old
# unread pile costs what 100 rows do.
UNREAD_CAP = 100


def unread_count(user_id, *, cap: int = UNREAD_CAP) -> int:
    """How many unread notifications, counted up to ``cap`` (the partial unread index)."""
    return Notification.objects.filter(recipient_id=user_id, read_at__isnull=True).order_by()[:cap].count()


def notifications_of(user, *, unread_only: bool = False):
    """A person's notifications, newest first."""
    rows = Notification.objects.filter(recipient=user).select_related("actor")
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    return rows.order_by("-created_at", "-id")


def notification_of(user, notification_id) -> Notification | None:
    return Notification.objects.filter(pk=notification_id, recipient=user).first()


def push_subscriptions_of(user):
    return PushSubscription.objects.filter(user=user).order_by("-created_at")
