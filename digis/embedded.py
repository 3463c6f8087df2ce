"""Periodic jobs for the embedded default, where there is no broker.

Celery runs tasks eagerly there (settings.CELERY_TASK_ALWAYS_EAGER), and this
thread plays beat: it runs each CELERY_BEAT_SCHEDULE entry in the web
process on its interval. Jobs therefore share the in-memory channel layer
and cache with the sockets they notify. With REDIS_URL set, the real
`celery worker` and `celery beat` processes of the Procfile do this instead.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)
_started = threading.Event()


def _run_forever(stop: threading.Event) -> None:
    from digis.celery import app

    app.loader.import_default_modules()
    schedule = {name: float(entry["schedule"]) for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}
    next_run = {name: time.monotonic() + min(interval, 5.0) for name, interval in schedule.items()}
    while not stop.is_set():
        now = time.monotonic()
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
            if now < next_run[name]:
                continue
            next_run[name] = now + schedule[name]
            try:
                app.tasks[entry["task"]].apply(args=entry.get("args", ()), kwargs=entry.get("kwargs", {}))
            except Exception:
                logger.exception("embedded periodic job failed", extra={"job": name})
            finally:
                close_old_connections()
        stop.wait(1.0)


def start_embedded_beat() -> threading.Event:
    """Start the beat thread once per process; returns the event that stops it."""
    stop = threading.Event()
    if _started.is_set():
        return stop
    _started.set()
    threading.Thread(target=_run_forever, args=(stop,), name="embedded-beat", daemon=True).start()
    logger.info("embedded beat started", extra={"jobs": sorted(settings.CELERY_BEAT_SCHEDULE)})
    return stop
