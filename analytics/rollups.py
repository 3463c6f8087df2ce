"""Every write to the analytics tables.

``fill_all`` is the periodic job (Celery beat, every ANALYTICS_FILL_EVERY_S):

1. For each source (``analytics.sources``) fill whole UTC hours up to
   ``now - ANALYTICS_FILL_LAG_S``, in chunks. Each chunk is one transaction:
   delete the chunk's rows, insert what the source computes, move the
   source's ``FillState``. A crash leaves either the old rows or the new, and
   running it again writes the same rows: the job is idempotent. The last
   ANALYTICS_REFILL_HOURS already filled are recomputed every run, so a call
   whose end is written late (the sweeper backdates a dropped call's end) is
   still counted in its hour.
2. Derive days in ANALYTICS_TIME_ZONE from the hours (``DailyCount``,
   ``CreatorDailyCount``, ``RouteDay``) and the active-user counts, for days
   every source has filled. A changed time zone rebuilds the days.

No zero rows are written anywhere: a missing row is a zero.

``merge_route_hours`` and ``add_active_users`` are the recorder's flush.
"""

import datetime as dt
import logging
import uuid
import zoneinfo

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Min, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics import histogram
from analytics.models import (
    ActiveUser,
    ActiveUserDay,
    CreatorDailyCount,
    DailyCount,
    FillState,
    HourlyCount,
    RouteDay,
    RouteHour,
)
from analytics.sources import SOURCES, UTC, floor_hour
from digis.db import db_param

logger = logging.getLogger(__name__)

DAYS_STATE = "days"
HOUR = dt.timedelta(hours=1)
ACTIVE_WINDOWS = {"1d": 1, "7d": 7, "30d": 30}


def zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.ANALYTICS_TIME_ZONE)


def local_midnight(day: dt.date, tz=None) -> dt.datetime:
    """The UTC instant a local day starts (DST days are 23 or 25 hours long)."""
    tz = tz or zone()
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz).astimezone(UTC)


def fill_target(now: dt.datetime | None = None) -> dt.datetime:
    """The end of the last whole hour the job may fill now."""
    now = now or timezone.now()
    return floor_hour(now - dt.timedelta(seconds=settings.ANALYTICS_FILL_LAG_S))


# --- hours ---------------------------------------------------------------------


def filled_until(source: str) -> dt.datetime | None:
    return FillState.objects.filter(source=source).values_list("end_time", flat=True).first()


def fill_source(name: str, *, now: dt.datetime | None = None, start: dt.datetime | None = None) -> int:
    """Fill the source's hours up to the fill target. Returns the hours written.

    ``start`` recomputes from that hour on (an operator's backfill); by default
    the job goes on from its FillState, minus the refill window.
    """
    source = SOURCES[name]
    target = fill_target(now)
    state_end = filled_until(name)
    if start is not None:
        begin = floor_hour(start)
    elif state_end is not None:
        begin = state_end - dt.timedelta(hours=settings.ANALYTICS_REFILL_HOURS)
    else:
        earliest = source.earliest()
        begin = floor_hour(earliest) if earliest is not None else target
    # The row every chunk locks first: two runs of the job take turns.
    FillState.objects.get_or_create(source=name, defaults={"end_time": min(begin, target)})
    chunk = dt.timedelta(hours=max(1, settings.ANALYTICS_FILL_CHUNK_HOURS))
    hours = 0
    cursor = begin
    while cursor < target:
        chunk_end = min(cursor + chunk, target)
        _fill_chunk(source, cursor, chunk_end)
        hours += int((chunk_end - cursor) / HOUR)
        cursor = chunk_end
    return hours


def _fill_chunk(source, start: dt.datetime, end: dt.datetime) -> None:
    hourly = source.compute(start, end).nonzero()
    with transaction.atomic():
        state = FillState.objects.select_for_update().get(source=source.name)
        HourlyCount.objects.filter(stat__in=source.hourly_stats, hour__gte=start, hour__lt=end).delete()
        HourlyCount.objects.bulk_create(
            [HourlyCount(stat=stat, subgroup=subgroup, hour=hour, value=value) for (stat, subgroup, hour), value in hourly.items()],
            batch_size=5000,
        )
        if state.end_time < end:
            FillState.objects.filter(pk=state.pk).update(end_time=end)


# --- per creator, per local day ------------------------------------------------------


def creator_state(name: str) -> str:
    return f"{name}:creators"


def creators_filled_until(name: str) -> dt.datetime | None:
    """Per-creator rows of this source cover everything before this instant
    (the last day's rows may be a part of that day), in the current zone."""
    state = FillState.objects.filter(source=creator_state(name)).first()
    if state is None or state.time_zone != settings.ANALYTICS_TIME_ZONE:
        return None
    return state.end_time


def fill_creator_days(name: str, *, now: dt.datetime | None = None, rebuild: bool = False) -> int:
    """Per-creator rows (``CreatorDailyCount``) of a source, day by local day up
    to the fill target. Returns the days written.

    Each day is written whole from its start: a day still under way (today) is
    rewritten on every run with what happened so far, and its FillState says
    up to when. The refill window's days are rewritten too. A changed time
    zone, or ``rebuild``, starts again from the source's first row.
    """
    source = SOURCES[name]
    if not source.creator_stats:
        return 0
    tz = zone()
    target = fill_target(now)
    state = FillState.objects.filter(source=creator_state(name)).first()
    if state is None or rebuild or state.time_zone != settings.ANALYTICS_TIME_ZONE:
        _forget_settled()
        earliest = source.earliest()
        begin_at = earliest if earliest is not None else target
        with transaction.atomic():
            state, _ = FillState.objects.select_for_update().get_or_create(
                source=creator_state(name), defaults={"end_time": begin_at, "time_zone": settings.ANALYTICS_TIME_ZONE}
            )
            CreatorDailyCount.objects.filter(stat__in=source.creator_stats).delete()
            FillState.objects.filter(pk=state.pk).update(end_time=min(begin_at, target), time_zone=settings.ANALYTICS_TIME_ZONE)
    else:
        begin_at = min(state.end_time - dt.timedelta(hours=settings.ANALYTICS_REFILL_HOURS), target)
    day = begin_at.astimezone(tz).date()
    days = 0
    while local_midnight(day, tz) < target:
        _fill_creator_day(source, day, min(local_midnight(day + dt.timedelta(days=1), tz), target), tz)
        days += 1
        day += dt.timedelta(days=1)
    return days


def _fill_creator_day(source, day: dt.date, end: dt.datetime, tz) -> None:
    """Rewrite one local day's per-creator rows from its start to ``end``."""
    rows = source.compute_creators(local_midnight(day, tz), end, tz).nonzero()
    with transaction.atomic():
        state = FillState.objects.select_for_update().get(source=creator_state(source.name))
        CreatorDailyCount.objects.filter(stat__in=source.creator_stats, day=day).delete()
        CreatorDailyCount.objects.bulk_create(
            [
                CreatorDailyCount(stat=stat, creator_id=creator_id, subgroup=subgroup, day=row_day, value=value)
                for (stat, creator_id, subgroup, row_day), value in rows.items()
                if row_day == day
            ],
            batch_size=5000,
        )
        if state.end_time < end:
            FillState.objects.filter(pk=state.pk).update(end_time=end)


def _forget_settled() -> None:
    from analytics.selectors import forget_settled

    forget_settled()


# --- days -----------------------------------------------------------------------


def days_ready_until(now: dt.datetime | None = None) -> dt.date | None:
    """The first local day that cannot be derived yet (every earlier one can)."""
    ends = [filled_until(name) for name in SOURCES]
    if any(end is None for end in ends):
        return None
    hours_end = min(ends)
    now = now or timezone.now()
    # Active users and route latencies are recorded live; a day is over for
    # them once it ended (plus the lag for the last flushes).
    live_end = now - dt.timedelta(seconds=settings.ANALYTICS_FILL_LAG_S)
    limit = min(hours_end, live_end).astimezone(zone())
    # The day containing `limit` is not complete unless limit is its midnight.
    first_incomplete = limit.date()
    return first_incomplete


def fill_days(*, now: dt.datetime | None = None, rebuild: bool = False) -> int:
    """Derive local days from the hourly rows. Returns the days written."""
    tz = zone()
    ready = days_ready_until(now)
    if ready is None:
        return 0
    state = FillState.objects.filter(source=DAYS_STATE).first()
    if state is not None and state.time_zone != settings.ANALYTICS_TIME_ZONE:
        rebuild = True  # days cut in another zone are wrong now
    if state is None or rebuild:
        _forget_settled()
        first = _earliest_hour()
        begin = min(first.astimezone(tz).date(), ready) if first is not None else ready
        with transaction.atomic():
            state, _ = FillState.objects.select_for_update().get_or_create(
                source=DAYS_STATE, defaults={"end_time": local_midnight(begin, tz), "time_zone": settings.ANALYTICS_TIME_ZONE}
            )
            if rebuild:
                for model in (DailyCount, RouteDay):
                    model.objects.all().delete()
                FillState.objects.filter(pk=state.pk).update(
                    end_time=local_midnight(begin, tz), time_zone=settings.ANALYTICS_TIME_ZONE
                )
    else:
        refill = dt.timedelta(hours=settings.ANALYTICS_REFILL_HOURS)
        begin = (state.end_time - refill).astimezone(tz).date()
    days = 0
    day = begin
    while day < ready:
        last = min(day + dt.timedelta(days=max(1, settings.ANALYTICS_FILL_CHUNK_DAYS)), ready)
        _fill_days_chunk(day, last, tz)
        days += (last - day).days
        day = last
    return days


def _earliest_hour() -> dt.datetime | None:
    candidates = [
        HourlyCount.objects.aggregate(m=Min("hour"))["m"],
        RouteHour.objects.aggregate(m=Min("hour"))["m"],
    ]
    first_day = ActiveUserDay.objects.aggregate(m=Min("day"))["m"]
    if first_day is not None:
        candidates.append(local_midnight(first_day))
    candidates = [c for c in candidates if c is not None]
    return min(candidates) if candidates else None


def _fill_days_chunk(first: dt.date, last: dt.date, tz) -> None:
    """Write days [first, last) from the hourly rows, in one transaction."""
    start, end = local_midnight(first, tz), local_midnight(last, tz)
    daily = (
        HourlyCount.objects.filter(hour__gte=start, hour__lt=end)
        .annotate(day=TruncDate("hour", tzinfo=tz))
        .values_list("stat", "subgroup", "day")
        .annotate(total=Sum("value"))
        .order_by()
    )
    routes: dict = {}
    for hour, method, route, count, client, server, total_ms, buckets in RouteHour.objects.filter(
        hour__gte=start, hour__lt=end
    ).values_list("hour", "method", "route", "count", "client_errors", "server_errors", "total_ms", "buckets"):
        key = (hour.astimezone(tz).date(), method, route)
        entry = routes.setdefault(key, [0, 0, 0, 0.0, {}])
        entry[0] += count
        entry[1] += client
        entry[2] += server
        entry[3] += total_ms
        histogram.merge(entry[4], buckets)
    active = []
    day = first
    while day < last:
        for label, window in ACTIVE_WINDOWS.items():
            users = ActiveUserDay.objects.filter(day__gt=day - dt.timedelta(days=window), day__lte=day).values("user_id").distinct().count()
            if users:
                active.append(DailyCount(stat="active_users", subgroup=label, day=day, value=users))
        day += dt.timedelta(days=1)

    with transaction.atomic():
        state = FillState.objects.select_for_update().get(source=DAYS_STATE)
        DailyCount.objects.filter(day__gte=first, day__lt=last).delete()
        RouteDay.objects.filter(day__gte=first, day__lt=last).delete()
        DailyCount.objects.bulk_create(
            [DailyCount(stat=stat, subgroup=subgroup, day=day, value=total) for stat, subgroup, day, total in daily if total]
            + active,
            batch_size=5000,
        )
        RouteDay.objects.bulk_create(
            [
                RouteDay(day=day, method=method, route=route, count=e[0], client_errors=e[1], server_errors=e[2],
                         total_ms=e[3], buckets=e[4])
                for (day, method, route), e in routes.items()
            ],
            batch_size=2000,
        )
        if state.end_time < end:
            FillState.objects.filter(pk=state.pk).update(end_time=end)


def days_filled_until() -> dt.date | None:
    """The first local day not yet in the daily tables (None: no day is)."""
    state = FillState.objects.filter(source=DAYS_STATE).first()
    if state is None or state.time_zone != settings.ANALYTICS_TIME_ZONE:
        return None
    return state.end_time.astimezone(zone()).date()


def fill_all(*, now: dt.datetime | None = None) -> dict:
    """The periodic job: every source's hours and per-creator days, then the
    platform's days. Idempotent."""
    done = {}
    for name in SOURCES:
        done[name] = fill_source(name, now=now)
        if SOURCES[name].creator_stats:
            done[creator_state(name)] = fill_creator_days(name, now=now)
    done[DAYS_STATE] = fill_days(now=now)
    return done


# --- the recorder's flush ------------------------------------------------------


def merge_route_hours(routes: dict) -> int:
    """Add per-process route counters into RouteHour rows (one row per hour,
    method and route; several processes merge into the same row under its lock)."""
    touched = 0
    for (hour_epoch, method, route), (count, client, server, total, buckets) in routes.items():
        hour = dt.datetime.fromtimestamp(hour_epoch, tz=UTC)
        for _attempt in range(3):
            try:
                with transaction.atomic():
                    row = RouteHour.objects.select_for_update().filter(hour=hour, method=method, route=route).first()
                    if row is None:
                        RouteHour.objects.create(
                            hour=hour, method=method, route=route, count=count, client_errors=client,
                            server_errors=server, total_ms=total, buckets={str(k): v for k, v in buckets.items()},
                        )
                    else:
                        RouteHour.objects.filter(pk=row.pk).update(
                            count=row.count + count,
                            client_errors=row.client_errors + client,
                            server_errors=row.server_errors + server,
                            total_ms=row.total_ms + total,
                            buckets=histogram.merge(dict(row.buckets), buckets),
                        )
                break
            except IntegrityError:  # another process created the row first: merge into it
                continue
        touched += 1
    return touched


def add_active_users(users: set) -> int:
    """Record (day, user id) pairs: one ActiveUserDay row each (once), and each
    user's last active day moved forward (never back)."""
    if not users:
        return 0
    ActiveUserDay.objects.bulk_create(
        [ActiveUserDay(day=day, user_id=user_id) for day, user_id in users], ignore_conflicts=True, batch_size=2000
    )
    latest: dict = {}
    for day, user_id in users:
        if day > latest.get(user_id, dt.date.min):
            latest[user_id] = day
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    table = ActiveUser._meta.db_table
    pairs = sorted(latest.items())
    with connection.cursor() as cursor:
        for offset in range(0, len(pairs), 1000):
            batch = pairs[offset:offset + 1000]
            cursor.execute(
                f"INSERT INTO {table} (user_id, last_day) VALUES {', '.join(['(%s, %s)'] * len(batch))} "
                f"ON CONFLICT (user_id) DO UPDATE SET last_day = {greatest}({table}.last_day, excluded.last_day)",
                [value for user_id, day in batch for value in (_user_pk(user_id), day)],
            )
    return len(users)


def _user_pk(user_id):
    from accounts.models import User

    return db_param(User, "id", uuid.UUID(str(user_id)))


def earliest_day() -> dt.date | None:
    first = _earliest_hour()
    return first.astimezone(zone()).date() if first is not None else None

