"""Live streaming's background work.

- ``sweep_streams`` (beat, every LIVE_SWEEP_EVERY_S): ends streams whose host
  has been gone LIVE_HOST_GONE_S, forgets viewers whose sockets went silent and
  pushes each room's count, finishes ticket refunds a crash interrupted. It only
  decides *when* things are looked at: running it late or twice changes nothing.
- ``refund_stream_tickets``: the early-end refunds, one transaction per ticket.
- ``notify_followers_live``: the go-live alert to every follower, in batches.
"""

import logging

from celery import shared_task
from django.db import transaction

logger = logging.getLogger(__name__)

FOLLOWER_BATCH = 500


@shared_task(ignore_result=True)
def sweep_streams() -> dict:
    from streaming import services
    from streaming.models import LiveStream

    ended = services.end_abandoned_streams()
    swept = services.sweep_rooms()
    due = LiveStream.objects.filter(tickets_refund_due=True, tickets_refunded_at__isnull=True).values_list("id", flat=True)
    for stream_id in due:
        try:
            services.refund_tickets(stream_id=stream_id)
        except Exception:
            logger.exception("ticket refunds failed", extra={"stream_id": str(stream_id)})
    return {"ended": ended, "swept": swept}


@shared_task(ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def refund_stream_tickets(stream_id: str) -> int:
    from streaming.services import refund_tickets

    return refund_tickets(stream_id=stream_id)


@shared_task(ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def notify_followers_live(stream_id: str) -> int:
    """CREATOR_LIVE to each follower of the host, FOLLOWER_BATCH per transaction.

    Idempotent: each notification's dedupe key is the stream, so a retried
    batch notifies nobody twice. Followers the host blocked (or who blocked
    the host) are skipped; nothing is sent once the stream has ended.
    """
    from accounts.selectors import blocked_user_ids
    from creators.models import Follow  # read only
    from notifications.models import NotificationKind
    from notifications.services import notify
    from streaming.models import LiveStream, StreamStatus
    from streaming.selectors import display_name

    stream = LiveStream.objects.select_related("host").filter(pk=stream_id).first()
    if stream is None or stream.status != StreamStatus.LIVE:
        return 0
    host = stream.host
    hidden = blocked_user_ids(host)
    text = f"{display_name(host)} is live: {stream.title}"
    url = f"/live/{host.username}/"
    sent = 0
    last_id = 0
    while True:
        batch = list(
            Follow.objects.filter(creator_id=host.pk, id__gt=last_id, follower__is_active=True)
            .select_related("follower").order_by("id")[:FOLLOWER_BATCH]
        )
        if not batch:
            return sent
        last_id = batch[-1].id
        with transaction.atomic():
            for follow in batch:
                if follow.follower_id in hidden:
                    continue
                if notify(recipient=follow.follower, kind=NotificationKind.CREATOR_LIVE, text=text, actor=host, target=stream,
                          url=url, data={"stream_id": str(stream.pk)}, dedupe_key=f"stream:{stream.pk}:live") is not None:
                    sent += 1
