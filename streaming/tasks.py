"""Live streaming's background work.

- ``sweep_streams`` (beat, every LIVE_SWEEP_EVERY_S): ends streams whose host
  has been gone LIVE_HOST_GONE_S, forgets viewers whose sockets went silent and
  pushes each room's count, finishes ticket refunds a crash interrupted. It only
  decides *when* things are looked at: running it late or twice changes nothing.
- ``refund_stream_tickets``: the early-end refunds, one transaction per ticket.
- ``end_streams_of_banned_host``: a host banned by a moderator goes off air (accounts' user_banned hook).
(The go-live alert to followers is notifications.services.notify_followers.)
"""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


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
def end_streams_of_banned_host(host_id: str) -> list:
    from streaming.services import end_streams_of_banned_host as end

    return end(host_id=host_id)
