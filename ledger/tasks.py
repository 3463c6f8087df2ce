"""Periodic ledger jobs (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

import logging

from celery import shared_task

logger = logging.getLogger("ledger")


@shared_task(name="ledger.tasks.check_ledger")
def check_ledger() -> int:
    """Run every consistency check; each problem is logged at ERROR (Sentry reports it)."""
    from ledger.checks import run_all

    failures = 0
    for check, problems in run_all().items():
        for problem in problems:
            failures += 1
            logger.error("ledger check failed: %s: %s", check, problem, extra={"ledger_check": check})
    if not failures:
        logger.info("ledger check passed")
    return failures


@shared_task(name="ledger.tasks.release_pending_earnings", autoretry_for=(ConnectionError,), retry_backoff=True)
def release_pending_earnings() -> int:
    from ledger.services import release_all_earnings

    return release_all_earnings()
