"""The call sweeper: Celery beat runs it every 15 s (settings: CELERY_BEAT_SCHEDULE["calls-sweep"]).

It only decides *when* calls are looked at. What each call owes is computed by
``services.advance_call`` from the recorded intervals, so a sweeper that runs
late, twice, or on two workers at once charges exactly the same.
"""

import logging

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from calls.models import LIVE_Q, CallSession, CallStatus

logger = logging.getLogger(__name__)


def calls_to_sweep(now=None) -> list:
    """Ids of calls a tick could change: rings past due, every connected call, unsettled ends."""
    from calls.services import ring_timeout

    now = now or timezone.now()
    ringing_due = Q(status=CallStatus.REQUESTED, requested_at__lte=now - ring_timeout())
    connected = LIVE_Q & ~Q(status=CallStatus.REQUESTED)
    unsettled = Q(status=CallStatus.ENDED, settled_at__isnull=True)
    return list(CallSession.objects.filter(ringing_due | connected | unsettled).values_list("id", flat=True))


@shared_task(ignore_result=True)
def sweep_calls() -> int:
    """One service call per call; one failing call never stops the others. Returns how many were handled."""
    from calls.services import advance_call

    handled = 0
    for call_id in calls_to_sweep():
        try:
            advance_call(call_id=call_id)
            handled += 1
        except Exception:
            logger.exception("call sweep failed", extra={"call_id": str(call_id)})
    return handled


@shared_task(ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def advance_call_task(call_id: str) -> None:
    from calls.services import advance_call

    advance_call(call_id=call_id)


@shared_task(ignore_result=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def release_call_earnings(call_id: str) -> None:
    """Release the creator's pending earnings once a call is settled (ledger.release_earnings)."""
    from ledger.services import release_earnings

    call = CallSession.objects.select_related("creator").get(pk=call_id, settled_at__isnull=False)
    release_earnings(user=call.creator, idempotency_key=f"call:{call.id}:release")
