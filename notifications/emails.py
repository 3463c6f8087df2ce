"""The e-mail channel: one plain-text mail per notification, to a verified address only.

Runs in a Celery task (``tasks.send_notification_email``), never in a request
or inside a transaction.
"""

from django.conf import settings
from django.core.mail import send_mail

from notifications import kinds
from notifications.models import Notification


def send_notification_email(*, notification_id) -> bool:
    """Send it; False when there is nothing to send (gone, no verified address). Raises on mail errors."""
    notification = Notification.objects.select_related("recipient").filter(pk=notification_id).first()
    if notification is None:
        return False
    recipient = notification.recipient
    # Unverified addresses may be someone else's (a typo at sign-up);
    # deleted accounts have a scrubbed, unverified one.
    if not recipient.email or not recipient.email_verified or recipient.deleted_at is not None:
        return False
    site = settings.SITE_URL.rstrip("/")
    lines = [f"Hi {recipient.public_name},", "", notification.text, ""]
    if notification.url:
        lines += [f"Open it: {site}/notifications/{notification.pk}/open/", ""]
    lines += [
        "—",
        f"You get this e-mail because of your Digis notification settings: {site}/settings/notifications/",
    ]
    send_mail(f"Digis: {kinds.policy(notification.kind).title}", "\n".join(lines), None, [recipient.email])
    return True
