"""Per-route latency and active users, recorded in memory and flushed in batches.

``observe_request`` runs after every request (digis.middleware calls the
observers registered in ``digis.middleware.request_observers``). It only
touches this process's memory: a dict update under a lock, no I/O. A
background thread flushes what accumulated to the database every
ANALYTICS_FLUSH_S seconds, merging into one ``RouteHour`` row per route and
hour and inserting ``ActiveUserDay`` rows it has not written before. So the
cost in the database is a handful of writes per process every few seconds,
whatever the request rate, and no request ever waits on it: if the database
(or Redis, which this does not use) is down, the flush fails, keeps its data
for the next attempt (up to a bound), and logs.
"""

import atexit
import datetime as dt
import logging
import os
import threading
import time
import zoneinfo

from django.conf import settings

from analytics.histogram import LATENCY_MS

logger = logging.getLogger(__name__)

UNMATCHED_ROUTE = "(unmatched)"
# Bound what a process holds when flushes keep failing: older data is dropped
# (and counted) rather than growing without limit.
MAX_PENDING_ROUTES = 5000
MAX_PENDING_USERS = 200_000
# Per process, the users already written for a day: each is inserted once a day.
MAX_REMEMBERED_USERS = 500_000


class Recorder:
    def __init__(self):
        self._lock = threading.Lock()
        # (hour epoch seconds, method, route) -> [count, 4xx, 5xx, total_ms, {bucket: count}]
        self._routes: dict = {}
        # {(day, user_id)} not yet written
        self._users: set = set()
        self._written_users: set = set()
        self._written_day = None
        self._dropped = 0
        self._thread = None
        self._pid = None
        self._stop = threading.Event()

    # --- the hot path -------------------------------------------------------

    def observe(self, *, method: str, route: str | None, status: int, duration_ms: float, user_id, now: float | None = None) -> None:
        now = time.time() if now is None else now
        hour = int(now // 3600) * 3600
        key = (hour, method[:10], (route or UNMATCHED_ROUTE)[:200])
        bucket = LATENCY_MS.bucket(duration_ms)
        with self._lock:
            entry = self._routes.get(key)
            if entry is None:
                if len(self._routes) >= MAX_PENDING_ROUTES:
                    self._dropped += 1
                    return
                entry = self._routes[key] = [0, 0, 0, 0.0, {}]
            entry[0] += 1
            if 400 <= status < 500:
                entry[1] += 1
            elif status >= 500:
                entry[2] += 1
            entry[3] += duration_ms
            entry[4][bucket] = entry[4].get(bucket, 0) + 1
            if user_id is not None and len(self._users) < MAX_PENDING_USERS:
                day = local_day(now)
                if (day, user_id) not in self._written_users:
                    self._users.add((day, user_id))
        self._ensure_flusher()

    # --- flushing -------------------------------------------------------------

    def _take(self):
        with self._lock:
            routes, self._routes = self._routes, {}
            users, self._users = self._users, set()
        return routes, users

    def _put_back(self, routes: dict, users: set) -> None:
        with self._lock:
            for key, (count, client, server, total, buckets) in routes.items():
                entry = self._routes.get(key)
                if entry is None:
                    if len(self._routes) >= MAX_PENDING_ROUTES:
                        self._dropped += count
                        continue
                    entry = self._routes[key] = [0, 0, 0, 0.0, {}]
                entry[0] += count
                entry[1] += client
                entry[2] += server
                entry[3] += total
                for bucket, n in buckets.items():
                    entry[4][bucket] = entry[4].get(bucket, 0) + n
            room = MAX_PENDING_USERS - len(self._users)
            self._users.update(list(users)[: max(0, room)])

    def flush(self) -> int:
        """Write what accumulated; returns the number of rows touched. Never raises."""
        from analytics import rollups

        routes, users = self._take()
        if not routes and not users:
            return 0
        try:
            touched = rollups.merge_route_hours(routes) + rollups.add_active_users(users)
        except Exception:
            logger.warning("analytics flush failed; keeping the data for the next try", exc_info=True)
            self._put_back(routes, users)
            return 0
        with self._lock:
            days = {day for day, _ in users}
            newest = max(days) if days else None
            if newest is not None and newest != self._written_day:
                # A new day: yesterday's users need not be remembered.
                self._written_users = {pair for pair in self._written_users if pair[0] >= newest}
                self._written_day = newest
            if len(self._written_users) + len(users) > MAX_REMEMBERED_USERS:
                self._written_users.clear()
            self._written_users.update(users)
        return touched

    def _ensure_flusher(self) -> None:
        interval = settings.ANALYTICS_FLUSH_S
        if interval <= 0:
            return
        pid = os.getpid()
        if self._pid == pid and self._thread is not None:
            return
        with self._lock:
            if self._pid == pid and self._thread is not None:
                return
            # A forked child inherits the parent's buffer but not its thread.
            self._pid = pid
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, args=(interval,), name="analytics-flush", daemon=True)
            self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.flush()
            _release_connection()

    def stop(self) -> None:
        self._stop.set()
        self.flush()

    def pending(self) -> tuple[int, int]:
        """(route buckets, active users) waiting to be flushed, for tests and health."""
        with self._lock:
            return len(self._routes), len(self._users)

    def reset(self) -> None:
        with self._lock:
            self._routes.clear()
            self._users.clear()
            self._written_users.clear()
            self._written_day = None


def _release_connection() -> None:
    # The flusher thread's connection goes back to the pool between flushes.
    from django.db import connection

    try:
        connection.close()
    except Exception:  # pragma: no cover - nothing more to do about it
        pass


def analytics_zone():
    return zoneinfo.ZoneInfo(settings.ANALYTICS_TIME_ZONE)


def local_day(epoch_seconds: float) -> dt.date:
    return dt.datetime.fromtimestamp(epoch_seconds, tz=analytics_zone()).date()


recorder = Recorder()
atexit.register(lambda: recorder.flush() if settings.ANALYTICS_FLUSH_S > 0 else None)


def observe_request(request, response, duration_ms: float) -> None:
    """The access-log hook: never raises, never does I/O."""
    try:
        match = getattr(request, "resolver_match", None)
        user = getattr(request, "user", None)
        user_id = user.pk if user is not None and user.is_authenticated else None
        recorder.observe(
            method=request.method or "",
            route=match.route if match is not None else None,
            status=response.status_code,
            duration_ms=duration_ms,
            user_id=str(user_id) if user_id is not None else None,
        )
    except Exception:  # analytics must never fail a request
        logger.debug("analytics observe failed", exc_info=True)
