"""Reads the pages, the API and the bell share."""

from digis.db import db_param, fetch_prepared
from notifications.models import Notification, PushSubscription

# The bell shows "99+" beyond this; counting stops there, so a years-old
# unread pile costs what 100 rows do.
UNREAD_CAP = 100


# Written out and prepared (digis.db.fetch_prepared): the bell reads it on every signed-in page,
# where building the ORM query cost several times running it (1.02 ms of CPU).
_UNREAD_SQL = (
    f"SELECT COUNT(*) FROM (SELECT 1 FROM {Notification._meta.db_table} "
    f"WHERE recipient_id = %s AND read_at IS NULL LIMIT %s) AS unread"
)


def unread_count(user_id, *, cap: int = UNREAD_CAP) -> int:
    """How many unread notifications, counted up to ``cap`` (the partial unread index)."""
    return fetch_prepared(_UNREAD_SQL, [db_param(Notification, "recipient", user_id), cap])[0]


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
