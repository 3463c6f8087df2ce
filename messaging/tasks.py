"""Messaging's Celery tasks: the escrow expiry job and broadcast delivery.

Tasks take ids and call one service. Both are safe to run twice or at once on
two workers: a refund settles a held message at most once, and a broadcast
batch delivers to each recipient at most once (a unique constraint).
"""

import logging

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from messaging.models import EscrowState, Message

logger = logging.getLogger(__name__)


def due_message_ids(*, limit: int = 1000, now=None) -> list[int]:
    """Held messages to refund now: past their reply window, or to a creator who is banned or gone."""
    now = now or timezone.now()
    creator_gone = (
        Q(conversation__creator__banned_at__isnull=False)
        & (Q(conversation__creator__banned_until__isnull=True) | Q(conversation__creator__banned_until__gt=now))
    ) | Q(conversation__creator__is_active=False)
    return list(
        Message.objects.filter(escrow_state=EscrowState.HELD)
        .filter(Q(reply_by__lte=now) | creator_gone)
        .order_by("reply_by", "id")
        .values_list("id", flat=True)[:limit]
    )


@shared_task(ignore_result=True)
def refund_due_messages() -> int:
    """Beat runs it every MESSAGE_EXPIRY_SWEEP_S: unanswered paid messages go back to the fans."""
    from messaging.services import refund_due_messages as refund

    return refund()


@shared_task(ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=8)
def plan_broadcast_task(broadcast_id: str) -> int:
    """Fix a broadcast's audience and queue its batches (never in the request)."""
    from messaging.services import plan_broadcast

    batches = plan_broadcast(broadcast_id=broadcast_id)
    for batch in batches:
        deliver_broadcast_batch.delay(broadcast_id, batch)
    return len(batches)


@shared_task(ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=8)
def deliver_broadcast_batch(broadcast_id: str, recipient_ids: list) -> int:
    """One batch of a broadcast; a retry delivers only to those it has not reached."""
    from messaging.services import deliver_broadcast

    return deliver_broadcast(broadcast_id=broadcast_id, recipient_ids=recipient_ids)
