"""Creators' periodic jobs."""

from celery import shared_task

from creators import selectors


@shared_task(ignore_result=True)
def sweep_online_creators() -> int:
    """Refresh the shared "which creators are online" answer (beat, every few seconds)."""
    return len(selectors.sweep_online_creators())
