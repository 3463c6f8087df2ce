"""Queueing background work from services, safely.

A service that wants work done after its transaction (an e-mail, a release of
earnings, a fan-out) calls ``enqueue_on_commit(task, *args)``. The task is
sent to the broker only once the transaction commits, and a broker that is
down or hung never fails the request that already committed: the error is
logged (Sentry sees it) and the caller carries on. Tasks queued this way must
therefore be ones a periodic job or the user can make up for (a resend link,
the 15-minute earnings release) or that carry their own outbox.

Django runs an on-commit callback inside the ``atomic`` block's exit: an
exception there propagated into the view as a 500 after the data had been
committed (a sign-up whose verification e-mail could not be sent). Both the
send and the task itself are guarded here.
"""

import logging

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def _propagate() -> bool:
    # Under the test suite's eager mode, a failing task is a bug to show, not to log.
    return bool(settings.CELERY_TASK_ALWAYS_EAGER and settings.CELERY_TASK_EAGER_PROPAGATES)


def _broker_known_down() -> bool:
    # The broker is usually the same Redis as the cache; once the cache has
    # found it away (digis/cache.py), don't make the request wait on it too.
    from digis.cache import redis_cache_down

    return settings.CELERY_BROKER_URL == getattr(settings, "REDIS_URL", None) and redis_cache_down()


def enqueue_now(task, *args, **kwargs) -> bool:
    """Send ``task`` to the broker now; False (logged) if that failed."""
    if not settings.CELERY_TASK_ALWAYS_EAGER and _broker_known_down():
        logger.error("background task dropped: the broker (Redis) is unavailable", extra={"task": task.name})
        return False
    try:
        task.apply_async(args=args, kwargs=kwargs)
        return True
    except Exception:
        if _propagate():
            raise
        logger.exception("could not queue a background task", extra={"task": task.name})
        return False


def enqueue_on_commit(task, *args, using: str | None = None, **kwargs) -> None:
    """Queue ``task(*args, **kwargs)`` after the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: enqueue_now(task, *args, **kwargs), using=using, robust=not _propagate())
