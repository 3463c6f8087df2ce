"""Payout jobs: take ids, call one service (scheduled in settings.CELERY_BEAT_SCHEDULE).

Sending is queued after the commit that approves a payout; the sweep finds any
payout whose task was lost, whose worker died, or whose webhook never came,
so the tasks only decide *when* a payout is looked at, never what it does.
"""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="payouts.tasks.send_payout_task", ignore_result=True)
def send_payout_task(payout_id: str) -> str:
    from payouts.services import send_payout

    return send_payout(payout_id=payout_id)


@shared_task(name="payouts.tasks.sweep_payouts", ignore_result=True)
def sweep_payouts() -> dict:
    from payouts.services import sweep

    return sweep()


@shared_task(name="payouts.tasks.create_scheduled_payouts", ignore_result=True)
def create_scheduled_payouts() -> int:
    from payouts.services import create_scheduled_payouts as create

    created = create()
    if created:
        logger.info("payouts: %d scheduled payouts created", created)
    return created
