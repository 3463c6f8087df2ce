"""Celery tasks: web push, e-mail and the followers fan-out. Each takes ids and calls one service.

All are queued after commit (``services.deliver_after_commit``,
``services.notify_followers``). None of them can fail the cause: it has
already committed. A transient failure is retried by the worker; under the
embedded default (tasks run eagerly in-process) it is logged instead.
"""

import logging
import uuid

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=True, acks_late=True, max_retries=3)
def deliver_push(self, notification_ids: list[str]) -> int:
    """Push these notifications to every subscription of their recipients. Returns how many requests were made.

    Counts are booked per subscription; 404/410 prunes it. Failed sends are
    not retried: the kinds that matter most (calls) are over before a retry
    could help, and the bell and e-mail still carry the rest.
    """
    from notifications import services, webpush
    from notifications.models import Notification, PushSubscription

    if not webpush.is_configured():
        return 0
    notifications = list(Notification.objects.filter(pk__in=[uuid.UUID(i) for i in notification_ids]))
    by_user: dict = {}
    for subscription in PushSubscription.objects.filter(user_id__in={n.recipient_id for n in notifications}):
        by_user.setdefault(subscription.user_id, []).append(subscription)
    results = webpush.send(notifications, by_user)
    services.record_push_results(results)
    return len(results)


@shared_task(bind=True, ignore_result=True, acks_late=True, max_retries=5)
def send_notification_email(self, notification_id: str) -> bool:
    """E-mail one notification to its recipient's verified address. Returns whether a mail was sent.

    A mail server that is down is retried with backoff by a worker, and
    only logged when run eagerly: the cause committed long ago and must
    never fail because of mail.
    """
    from notifications import emails

    try:
        return emails.send_notification_email(notification_id=notification_id)
    except Exception as exc:
        if self.request.is_eager or self.request.retries >= self.max_retries:
            logger.exception("notification e-mail failed", extra={"notification": notification_id})
            return False
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries)


@shared_task(bind=True, ignore_result=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def fan_out_followers(self, job: dict) -> int:
    """Split a creator's followers into batches of NOTIFICATIONS_FANOUT_BATCH and queue one task per batch.

    Reads follower ids in keyset order (no OFFSET), so it stays cheap at any
    size. A retry queues the batches again; each batch writes each follower
    at most once under the job's dedupe_key. Returns how many batches were queued.
    """
    from creators.selectors import follower_page

    size = max(1, int(settings.NOTIFICATIONS_FANOUT_BATCH))
    after, batches = None, 0
    while True:
        ids, after = follower_page(uuid.UUID(job["creator_id"]), after=after, limit=size)
        if ids:
            notify_follower_batch.delay(job, [str(i) for i in ids])
            batches += 1
        if after is None:
            return batches


@shared_task(bind=True, ignore_result=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def notify_follower_batch(self, job: dict, recipient_ids: list[str]) -> int:
    from notifications.services import notify_batch

    return notify_batch(job=job, recipient_ids=recipient_ids)
