"""Every write to notifications.

``notify`` is what other apps call: inside their own transaction, from the
service that caused the event. The row commits with its cause and the live push
(``notification.new`` over the socket) is sent only after commit.
"""

import logging

from django.db import IntegrityError, transaction

from digis.realtime.events import send_event_on_commit
from notifications.models import Notification, NotificationKind

logger = logging.getLogger(__name__)

_KINDS = frozenset(NotificationKind.values)


def _target_fields(target) -> dict:
    if target is None:
        return {"target_type": "", "target_id": ""}
    return {"target_type": target._meta.label_lower, "target_id": str(target.pk)}


def serialize(notification: Notification) -> dict:
    """The shape a client sees (API and socket event alike)."""
    return {
        "id": str(notification.pk),
        "kind": notification.kind,
        "text": notification.text,
        "url": notification.url,
        "actor": str(notification.actor_id) if notification.actor_id else None,
        "target_type": notification.target_type,
        "target_id": notification.target_id,
        "data": notification.data,
        "created_at": notification.created_at.isoformat(),
        "read": notification.read_at is not None,
    }


def notify(
    *,
    recipient,
    kind: str,
    text: str,
    actor=None,
    target=None,
    url: str = "",
    data: dict | None = None,
    dedupe_key: str = "",
) -> Notification | None:
    """Record that ``recipient`` should hear about something; push it after commit.

    Call inside the causing service's transaction. Idempotent under
    ``dedupe_key`` (per recipient): a replayed cause returns the first
    notification and pushes nothing. Never notifies someone of their own act.
    Returns None when nothing was written.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if actor is not None and actor.pk == recipient.pk:
        return None
    fields = dict(
        recipient=recipient,
        kind=kind,
        actor=actor,
        text=text[:300],
        url=url[:300],
        data=data or {},
        dedupe_key=dedupe_key[:200],
        **_target_fields(target),
    )
    try:
        with transaction.atomic():
            notification = Notification.objects.create(**fields)
    except IntegrityError:
        if not dedupe_key:
            raise
        return Notification.objects.filter(recipient=recipient, dedupe_key=dedupe_key[:200]).first()
    send_event_on_commit([recipient.pk], {"type": "notification.new", "notification": serialize(notification)})
    return notification
