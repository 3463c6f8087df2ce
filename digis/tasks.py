import logging

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task
def beat_heartbeat() -> None:
    """Records that periodic jobs run; /readyz reports how long ago it last did."""
    cache.set("beat:last_run", timezone.now().isoformat(), 3600)
