"""Periodic payments jobs (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task


@shared_task(name="payments.tasks.expire_abandoned_purchases")
def expire_abandoned_purchases() -> int:
    """Cancel and expire purchases nobody paid in time (payments.services)."""
    from payments.services import expire_abandoned_purchases as expire

    return expire()
