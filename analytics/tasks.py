"""The rollup job (scheduled in settings.CELERY_BEAT_SCHEDULE as analytics-fill)."""

from celery import shared_task
from django.db import OperationalError


@shared_task(name="analytics.tasks.fill_rollups", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def fill_rollups() -> dict:
    """Fill every source's whole hours and derive the days. Idempotent: safe to
    run twice at once (chunks take turns on their FillState row) or again later."""
    from analytics.rollups import fill_all

    return {name: count for name, count in fill_all().items()}
