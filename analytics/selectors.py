"""What the console shows: "right now", and any stat over a period of local days.

A period is a run of whole days in ANALYTICS_TIME_ZONE, ending today at the
latest. Its numbers come from three layers, so that they are exact up to now
and cheap however long the period is:

1. days the job has derived: ``DailyCount`` (one row per stat and day);
2. later hours the job has filled: ``HourlyCount`` (grouped into local days);
3. the minutes since the last filled hour: computed from the source tables by
   the same functions the job uses (``analytics.sources``).

Per creator there are two layers: ``CreatorDailyCount`` (today's row holds
today up to the job's last run) and the minutes since, computed live.
"""

import bisect
import contextvars
import datetime as dt
import hashlib
import itertools
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from analytics import figures, histogram, rollups
from analytics.models import ActiveUser, ActiveUserDay, CreatorDailyCount, DailyCount, FillState, HourlyCount, RouteDay, RouteHour
from analytics.sources import CREATOR_STAT_SOURCE, SOURCES, STAT_SOURCE
from digis.db import fetch_prepared
from digis.errors import InvalidInput

PERIODS = {"today": 1, "7d": 7, "30d": 30, "90d": 90, "365d": 365}
PERIOD_LABELS = {"today": "Today", "7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days", "365d": "Last 365 days"}
MAX_DAYS = 731
GRAINS = ("day", "week", "month")


# --- right now -------------------------------------------------------------------


def right_now() -> dict:
    """Users online, live calls, calls ringing, live streams: exact, in two
    round trips (a Redis sorted-set count; one prepared statement over the
    live calls' and live streams' partial indexes)."""
    from calls.selectors import LIVE_CALLS_SQL
    from digis.realtime import presence
    from streaming.selectors import LIVE_STREAMS_SQL

    ringing, live, streams = fetch_prepared(f"SELECT calls.ringing, calls.live, ({LIVE_STREAMS_SQL}) FROM ({LIVE_CALLS_SQL}) AS calls", [])
    return {"users_online": presence.online_count(), "live_calls": live, "calls_ringing": ringing, "live_streams": streams}


# --- periods ---------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: dt.date  # first local day
    end: dt.date  # last local day (inclusive)
    key: str = "custom"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        """The period of equal length just before this one."""
        end = self.start - dt.timedelta(days=1)
        return Period(start=end - dt.timedelta(days=self.days - 1), end=end, key="previous")

    def bounds(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) in UTC; a period reaching today ends now."""
        start = rollups.local_midnight(self.start)
        end = min(rollups.local_midnight(self.end + dt.timedelta(days=1)), now)
        return start, max(start, end)

    def day_list(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]

    @property
    def label(self) -> str:
        if self.key in PERIOD_LABELS:
            return PERIOD_LABELS[self.key]
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()} to {self.end.isoformat()}"

    def as_params(self) -> dict:
        if self.key in PERIODS:
            return {"period": self.key}
        return {"period": "custom", "start": self.start.isoformat(), "end": self.end.isoformat()}


def today() -> dt.date:
    return timezone.now().astimezone(rollups.zone()).date()


def _parse_date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"'{name}' must be a date (YYYY-MM-DD).", fields={name: ["Must be YYYY-MM-DD."]}, code="invalid_date")


def parse_period(params) -> Period:
    """?period=today|7d|30d|90d|365d, or ?period=custom&start=YYYY-MM-DD&end=YYYY-MM-DD."""
    key = params.get("period") or "7d"
    now_day = today()
    if key in PERIODS:
        return Period(start=now_day - dt.timedelta(days=PERIODS[key] - 1), end=now_day, key=key)
    if key != "custom":
        raise InvalidInput(
            f"Unknown period; use one of {', '.join(PERIODS)} or custom.", fields={"period": ["Unknown period."]}, code="invalid_period"
        )
    start = _parse_date(params.get("start"), "start")
    end = _parse_date(params.get("end") or now_day.isoformat(), "end")
    if end > now_day:
        raise InvalidInput("The period cannot end in the future.", fields={"end": ["Today at the latest."]}, code="invalid_period")
    if start > end:
        raise InvalidInput("The period starts after it ends.", fields={"start": ["Before the end."]}, code="invalid_period")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(f"A period is at most {MAX_DAYS} days.", fields={"start": [f"At most {MAX_DAYS} days."]}, code="invalid_period")
    return Period(start=start, end=end)


def parse_grain(params, period: Period) -> str:
    grain = params.get("grain") or ("day" if period.days <= 62 else "week" if period.days <= 366 else "month")
    if grain not in GRAINS:
        raise InvalidInput("grain is day, week or month.", fields={"grain": ["day, week or month."]}, code="invalid_grain")
    return grain


def bucket_of(day: dt.date, grain: str) -> dt.date:
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


# --- the layers --------------------------------------------------------------------


class _Memo:
    """What one dashboard reads once: the fill states, the rollup rows of its
    whole span (this period and the previous one), each source's live minutes."""

    def __init__(self):
        self.fill = None
        self.live: dict = {}
        self.live_creators: dict = {}
        self.daily = None  # (first day, stop day, {stat: [(day, subgroup, value)]})
        self.hourly = None  # (from, {stat: [(hour, subgroup, value)]})
        self.daily_totals: dict = {}  # (first day, stop day) -> {(stat, subgroup): value}
        self.routes: dict = {}
        self.generation = None


_memo: contextvars.ContextVar = contextvars.ContextVar("analytics_memo", default=None)


@dataclass(frozen=True)
class Fill:
    days_end: dt.date | None  # the first local day not in DailyCount
    days_filled: dt.datetime | None  # ... as the instant the days' fill state records
    hours: dict  # source -> hours filled up to (UTC)
    creators: dict  # source -> per-creator days filled up to (an instant)


def _fill() -> Fill:
    memo = _memo.get()
    if memo is not None and memo.fill is not None:
        return memo.fill
    states = {state.source: state for state in FillState.objects.all()}
    days = states.get(rollups.DAYS_STATE)
    days_end = days_filled = None
    if days is not None and days.time_zone == settings.ANALYTICS_TIME_ZONE:
        days_end = days.end_time.astimezone(rollups.zone()).date()
        days_filled = days.end_time
    creators = {}
    for name in SOURCES:
        state = states.get(rollups.creator_state(name))
        if state is not None and state.time_zone == settings.ANALYTICS_TIME_ZONE:
            creators[name] = state.end_time
    fill = Fill(days_end=days_end, days_filled=days_filled, hours={name: states[name].end_time for name in SOURCES if name in states}, creators=creators)
    if memo is not None:
        memo.fill = fill
    return fill


def _live_rows(source: str, start: dt.datetime, end: dt.datetime):
    memo = _memo.get()
    if memo is None:
        return SOURCES[source].compute(start, end)
    key = (source, start, end)
    if key not in memo.live:
        memo.live[key] = SOURCES[source].compute(start, end)
    return memo.live[key]


def _live_creator_rows(source: str, start: dt.datetime, end: dt.datetime):
    memo = _memo.get()
    if memo is None:
        return SOURCES[source].compute_creators(start, end, rollups.zone())
    key = (source, start, end)
    if key not in memo.live_creators:
        memo.live_creators[key] = SOURCES[source].compute_creators(start, end, rollups.zone())
    return memo.live_creators[key]


def _by_stat(rows) -> dict:
    """{stat: [(when, subgroup, value)]} of (when, stat, subgroup, value) rows."""
    out: dict = defaultdict(list)
    for when, stat, subgroup, value in rows:
        out[stat].append((when, subgroup, value))
    return out


def _daily_rows(stats, d0: dt.date, d1: dt.date) -> list:
    """(day, stat, subgroup, value) of DailyCount for days [d0, d1)."""
    memo = _memo.get()
    if memo is not None and memo.daily is not None and memo.daily[0] <= d0 and d1 <= memo.daily[1]:
        by_stat = memo.daily[2]
        if all(stat in by_stat or stat in DASHBOARD_DAY_STATS for stat in stats):
            return [(day, stat, subgroup, value) for stat in stats for day, subgroup, value in by_stat.get(stat, ()) if d0 <= day < d1]
    return list(DailyCount.objects.filter(stat__in=stats, day__gte=d0, day__lt=d1).values_list("day", "stat", "subgroup", "value"))


def _hourly_rows(stats, h0: dt.datetime, h1: dt.datetime) -> list:
    """(hour, stat, subgroup, value) of HourlyCount for hours [h0, h1)."""
    memo = _memo.get()
    if memo is not None and memo.hourly is not None and memo.hourly[0] <= h0:
        by_stat = memo.hourly[1]
        if all(stat in DASHBOARD_STATS for stat in stats):
            return [(hour, stat, subgroup, value) for stat in stats for hour, subgroup, value in by_stat.get(stat, ()) if h0 <= hour < h1]
    return list(HourlyCount.objects.filter(stat__in=stats, hour__gte=h0, hour__lt=h1).values_list("hour", "stat", "subgroup", "value"))


def _daily_totals(stats, d0: dt.date, d1: dt.date) -> dict:
    """{(stat, subgroup): value} of DailyCount summed over days [d0, d1) by the
    database. In a dashboard, one query per range for every stat it shows."""
    memo = _memo.get()
    if memo is None:
        return _sum_daily(stats, d0, d1)
    if (d0, d1) not in memo.daily_totals:
        # The settled days' sums are kept; the day or two after them are summed now.
        split = min(max(_settled_day() or d0, d0), d1)
        totals: dict = defaultdict(int)
        if split > d0:
            for key, value in _kept(lambda: list(_sum_daily(DASHBOARD_STATS, d0, split).items()), "day-totals", d0, split):
                totals[key] += value
        if d1 > split:
            for key, value in _sum_daily(DASHBOARD_STATS, split, d1).items():
                totals[key] += value
        memo.daily_totals[(d0, d1)] = totals
    return {key: value for key, value in memo.daily_totals[(d0, d1)].items() if key[0] in stats}


def _sum_daily(stats, d0: dt.date, d1: dt.date) -> dict:
    rows = DailyCount.objects.filter(stat__in=stats, day__gte=d0, day__lt=d1)
    return {(stat, subgroup): total for stat, subgroup, total in rows.values_list("stat", "subgroup").annotate(t=Sum("value")).order_by()}


def _settled_day() -> dt.date | None:
    """The first local day whose DailyCount rows the job may still rewrite (None: no days yet)."""
    days_filled = _fill().days_filled
    return settled_until(days_filled) if days_filled is not None else None


def _layers(period: Period, now: dt.datetime, source: str):
    """(days from DailyCount, [hours from HourlyCount), [live range)) for a source."""
    fill = _fill()
    start, end = period.bounds(now)
    day_stop = period.start
    if fill.days_end is not None:
        day_stop = max(period.start, min(period.end + dt.timedelta(days=1), fill.days_end))
    cursor = max(start, min(end, rollups.local_midnight(day_stop)))
    hours_end = fill.hours.get(source) or cursor
    hourly = (cursor, max(cursor, min(end, hours_end)))
    live = (hourly[1], max(hourly[1], end))
    return (period.start, day_stop), hourly, live


def _by_source(stats) -> dict:
    by_source = defaultdict(list)
    for stat in stats:
        by_source[STAT_SOURCE[stat]].append(stat)
    return by_source


def stat_by_day(stats: tuple, period: Period, *, now: dt.datetime | None = None) -> dict:
    """{local day: {(stat, subgroup): value}} over the period, for platform-wide stats."""
    now = now or timezone.now()
    tz = rollups.zone()
    out: dict = defaultdict(lambda: defaultdict(int))
    for source_name, source_stats in _by_source(stats).items():
        (d0, d1), (h0, h1), (l0, l1) = _layers(period, now, source_name)
        if d1 > d0:
            for day, stat, subgroup, value in _daily_rows(source_stats, d0, d1):
                out[day][(stat, subgroup)] += value
        if h1 > h0:
            for hour, stat, subgroup, value in _hourly_rows(source_stats, h0, h1):
                out[hour.astimezone(tz).date()][(stat, subgroup)] += value
        if l1 > l0:
            for (stat, subgroup, hour), value in _live_rows(source_name, l0, l1).items():
                if stat in source_stats:
                    out[hour.astimezone(tz).date()][(stat, subgroup)] += value
    return out


def stat_totals(stats: tuple, period: Period, *, now=None) -> dict:
    """{(stat, subgroup): value} summed over the period: what stat_by_day's days
    add up to, with the derived days summed by the database (a period's
    duration histogram is 64 rows a day, which Python need not see one by one)."""
    now = now or timezone.now()
    totals: dict = defaultdict(int)
    for source_name, source_stats in _by_source(stats).items():
        (d0, d1), (h0, h1), (l0, l1) = _layers(period, now, source_name)
        if d1 > d0:
            for key, value in _daily_totals(source_stats, d0, d1).items():
                totals[key] += value
        if h1 > h0:
            for _hour, stat, subgroup, value in _hourly_rows(source_stats, h0, h1):
                totals[(stat, subgroup)] += value
        if l1 > l0:
            for (stat, subgroup, _hour), value in _live_rows(source_name, l0, l1).items():
                if stat in source_stats:
                    totals[(stat, subgroup)] += value
    return totals


def creator_totals(stats, period: Period, *, now=None, creator_ids=None, subgroup: str | None = None,
                   by_subgroup: bool = True) -> dict:
    """{(stat, creator_id, subgroup): value} (or {creator_id: value}, one stat)
    over the period, for every creator or only ``creator_ids``.

    Per-creator rows are per local day (``CreatorDailyCount``); the day still
    under way is there up to when the job last ran, and the minutes since are
    computed live from the source.
    """
    now = now or timezone.now()
    stats = (stats,) if isinstance(stats, str) else tuple(stats)
    source = CREATOR_STAT_SOURCE[stats[0]]
    start, end = period.bounds(now)
    filled = _fill().creators.get(source)
    out: dict = defaultdict(int)
    live_from = start
    if filled is not None and filled > start:
        last_day = min(period.end, filled.astimezone(rollups.zone()).date())
        ids = sorted(str(c) for c in creator_ids) if creator_ids is not None else None
        first_recent = period.start
        if ids is not None:
            # A table's few creators: their settled days' sums are kept.
            first_recent = min(max(settled_until(filled), period.start), last_day + dt.timedelta(days=1))
            if first_recent > period.start:
                settled = _kept(
                    lambda: list(_creator_sums(stats, period.start, first_recent - dt.timedelta(days=1), ids, subgroup, by_subgroup).items()),
                    "creators", ",".join(stats), subgroup, by_subgroup, period.start, first_recent,
                    _ids_key(ids),
                )
                for key, total in settled:
                    out[key] += total
        if first_recent <= last_day:
            for key, total in _creator_sums(stats, first_recent, last_day, ids, subgroup, by_subgroup).items():
                out[key] += total
        live_from = min(end, filled)
    if end > live_from:
        wanted = {str(c) for c in creator_ids} if creator_ids is not None else None
        for (stat, creator_id, row_subgroup, _day), value in _live_creator_rows(source, live_from, end).items():
            if stat in stats and (wanted is None or creator_id in wanted) and (subgroup is None or row_subgroup == subgroup):
                out[(stat, creator_id, row_subgroup) if by_subgroup else creator_id] += value
    return {key: value for key, value in out.items() if value}


def _creator_sums(stats, first_day: dt.date, last_day: dt.date, ids=None, subgroup=None, by_subgroup: bool = False,
                  at_least: int | None = None) -> dict:
    """CreatorDailyCount summed over [first_day, last_day]: {(stat, creator id,
    subgroup): total}, or {creator id: total} when not ``by_subgroup``; only
    ``ids``, only ``subgroup``, only totals of at least ``at_least``.

    On PostgreSQL the statement is written out: a dashboard sends about ten of
    these, and building each with the ORM (a list of creator ids converted one
    by one) cost more than running it (bench/dashboard.py)."""
    if connection.vendor == "postgresql":
        columns = "stat, creator_id::text, subgroup" if by_subgroup else "creator_id::text"
        where = ["stat = ANY(%s)", "day >= %s", "day <= %s"]
        params: list = [list(stats), first_day, last_day]
        if ids is not None:
            where.append("creator_id = ANY(%s::uuid[])")
            params.append([str(i) for i in ids])
        if subgroup is not None:
            where.append("subgroup = %s")
            params.append(subgroup)
        having = ""
        if at_least is not None:
            having = " HAVING SUM(value) >= %s"
            params.append(at_least)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns}, SUM(value)::bigint FROM {CreatorDailyCount._meta.db_table} WHERE {' AND '.join(where)} GROUP BY {columns}{having}",
                params,
            )
            rows = cursor.fetchall()
        if by_subgroup:
            return {(stat, creator_id, row_subgroup): int(total) for stat, creator_id, row_subgroup, total in rows}
        return {creator_id: int(total) for creator_id, total in rows}
    rows = CreatorDailyCount.objects.filter(stat__in=stats, day__gte=first_day, day__lte=last_day)
    if ids is not None:
        rows = rows.filter(creator_id__in=ids)
    if subgroup is not None:
        rows = rows.filter(subgroup=subgroup)
    if by_subgroup:
        return {
            (stat, str(creator_id), row_subgroup): total
            for stat, creator_id, row_subgroup, total in rows.values_list("stat", "creator_id", "subgroup").annotate(t=Sum("value")).order_by()
        }
    rows = rows.values_list("creator_id").annotate(t=Sum("value")).order_by()
    if at_least is not None:
        rows = rows.filter(t__gte=at_least)
    return {str(creator_id): int(total) for creator_id, total in rows}


# Rollup rows of days before a source's fill point less the refill window are
# never rewritten by the job again (their sources are history: ledger rows and
# ended calls), so what is computed from them alone can be kept. Bump the
# version when what is kept, or how rollups are computed, changes.
SETTLED_CACHE_VERSION = 3
SETTLED_CACHE_S = 86400
# Creators kept beyond the requested number in a settled ranking's head.
HEAD_SPARE = 40


def settled_until(filled: dt.datetime) -> dt.date:
    """The first local day whose rollup rows a later run of the job may still rewrite."""
    return (filled - dt.timedelta(hours=settings.ANALYTICS_REFILL_HOURS)).astimezone(rollups.zone()).date()


SETTLED_GENERATION_KEY = "analytics:settled:generation"


def forget_settled() -> None:
    """After a rebuild of the rollups (rollups.fill_*(rebuild=True), a new time
    zone): nothing kept from the old rows is used again."""
    cache.set(SETTLED_GENERATION_KEY, time.time_ns(), None)


def _settled_key(*parts) -> str:
    memo = _memo.get()
    generation = memo.generation if memo is not None else None
    if generation is None:
        generation = cache.get(SETTLED_GENERATION_KEY, 0)
        if memo is not None:
            memo.generation = generation
    return ":".join(["analytics", "settled", str(SETTLED_CACHE_VERSION), str(generation), settings.ANALYTICS_TIME_ZONE, *map(str, parts)])


def _creator_rows(stat: str, subgroup: str | None, first_day: dt.date, last_day: dt.date):
    rows = CreatorDailyCount.objects.filter(stat=stat, day__gte=first_day, day__lte=last_day)
    if subgroup is not None:
        rows = rows.filter(subgroup=subgroup)
    return rows.values_list("creator_id").annotate(total=Sum("value")).order_by()


def _ids_key(sorted_ids: list[str]) -> str:
    """A short cache-key part for a sorted list of creator ids."""
    return hashlib.sha256(",".join(sorted_ids).encode()).hexdigest()


def _kept(compute, *key_parts):
    """What ``compute()`` returns from settled rows only, kept in the cache."""
    return cache.get_or_set(_settled_key(*key_parts), compute, SETTLED_CACHE_S)


def _settled_head(stat: str, subgroup: str | None, first_day: dt.date, last_day: dt.date, size: int) -> list[tuple[str, int]]:
    """The ``size`` creators with the largest nonzero totals over settled days,
    [(creator id, total)], largest first, ties by id; kept in the cache."""

    def compute():
        rows = _creator_rows(stat, subgroup, first_day, last_day).exclude(total=0).order_by("-total", "creator_id")[:size]
        return [(str(creator_id), int(total)) for creator_id, total in rows]

    return _kept(compute, "head", stat, subgroup, first_day, last_day, size)


def top_creator_totals(stat: str, period: Period, *, limit: int, now=None, subgroup: str | None = None) -> list[tuple[str, int]]:
    """The ``limit`` creators with the largest ``stat`` over the period, as
    [(creator id, total)], largest first, ties by id: exactly what ranking
    every creator's creator_totals() gives, without reading every creator.

    A period's total is a settled part (days the job will not rewrite) plus a
    recent part (the last day or two of rollup rows and the minutes since). The
    settled part's head (``limit`` + HEAD_SPARE creators) is ranked by the
    database once and kept; every creator outside it has a settled total of at
    most the head's last, ``floor``. So once the head's own final totals put a
    ``limit``-th best above ``floor``, only creators whose recent part could
    lift them to it are looked up; otherwise (refunds took too many of the head
    down) everything is ranked from scratch. 2,000 creators' 30 days read for a
    top ten were most of the 30-day dashboard (bench/dashboard.py --profile).
    """
    now = now or timezone.now()
    source = CREATOR_STAT_SOURCE[stat]
    start, end = period.bounds(now)
    filled = _fill().creators.get(source)
    everyone = lambda: _rank(creator_totals(stat, period, now=now, subgroup=subgroup, by_subgroup=False), limit)  # noqa: E731
    if filled is None or filled <= start:
        return everyone()
    last_day = min(period.end, filled.astimezone(rollups.zone()).date())
    split = min(max(settled_until(filled), period.start), last_day + dt.timedelta(days=1))
    if split <= period.start:
        return everyone()
    size = limit + HEAD_SPARE
    head = _settled_head(stat, subgroup, period.start, split - dt.timedelta(days=1), size)
    live = _live_totals(stat, subgroup, min(end, filled), end)
    known = dict(head)
    if len(head) < size:
        # The head is every creator with a settled total: the rest have none.
        recent = _recent_rollup_totals(stat, subgroup, split, last_day) if split <= last_day else {}
        totals = dict(known)
        for part in (recent, live):
            for creator_id, value in part.items():
                totals[creator_id] = totals.get(creator_id, 0) + value
        return _rank(totals, limit)
    floor = head[-1][1]
    recent_of_head = _recent_rollup_totals(stat, subgroup, split, last_day, ids=list(known)) if split <= last_day else {}
    totals = {creator_id: total + recent_of_head.get(creator_id, 0) + live.get(creator_id, 0) for creator_id, total in head}
    ranked = _rank(totals, limit)
    if len(ranked) < limit or ranked[-1][1] <= floor:
        return everyone()
    # A creator outside the head reaches the limit-th only if their recent part
    # (rollup rows of the recent days plus live minutes) is at least `needed`.
    needed = ranked[-1][1] - floor
    recent: dict = {}
    if split <= last_day:
        recent.update(_recent_rollup_totals(stat, subgroup, split, last_day, at_least=needed))
        unknown = [creator_id for creator_id in live if creator_id not in recent and creator_id not in known]
        if unknown:
            recent.update(_recent_rollup_totals(stat, subgroup, split, last_day, ids=unknown))
    candidates = sorted(
        creator_id for creator_id in set(recent) | set(live)
        if creator_id not in known and recent.get(creator_id, 0) + live.get(creator_id, 0) >= needed
    )
    if candidates:
        settled_totals = _creator_sums((stat,), period.start, split - dt.timedelta(days=1), ids=candidates, subgroup=subgroup)
        for creator_id in candidates:
            totals[creator_id] = settled_totals.get(creator_id, 0) + recent.get(creator_id, 0) + live.get(creator_id, 0)
    return _rank(totals, limit)


def _rank(totals: dict, limit: int) -> list[tuple[str, int]]:
    return sorted(((creator_id, total) for creator_id, total in totals.items() if total), key=lambda item: (-item[1], item[0]))[:limit]


def _recent_rollup_totals(stat, subgroup, first_day, last_day, *, ids=None, at_least=None) -> dict[str, int]:
    """{creator id: total} of rollup rows over [first_day, last_day], for ``ids``
    only, or only creators whose total is at least ``at_least``."""
    return _creator_sums((stat,), first_day, last_day, ids=ids, subgroup=subgroup, at_least=at_least)


def _live_totals(stat, subgroup, start, end) -> dict[str, int]:
    """{creator id: total} computed from the source over [start, end) (the minutes since the job ran)."""
    live: dict = defaultdict(int)
    if end > start:
        for (row_stat, creator_id, row_subgroup, _day), value in _live_creator_rows(CREATOR_STAT_SOURCE[stat], start, end).items():
            if row_stat == stat and (subgroup is None or row_subgroup == subgroup):
                live[creator_id] += value
    return {creator_id: value for creator_id, value in live.items() if value}


# --- the dashboard's sections ---------------------------------------------------------


def _by_grain(days: dict, grain: str, period: Period) -> list[tuple[dt.date, dict]]:
    buckets: dict = {}
    for day in period.day_list():
        buckets.setdefault(bucket_of(day, grain), defaultdict(int))
    for day, values in days.items():
        if period.start <= day <= period.end:
            target = buckets[bucket_of(day, grain)]
            for key, value in values.items():
                target[key] += value
    return sorted(buckets.items())


def _only(values: dict, stat: str) -> dict:
    return {subgroup: value for (s, subgroup), value in values.items() if s == stat}


def revenue(period: Period, *, grain: str = "day", now=None, series: bool = True) -> dict:
    """Totals and (unless ``series=False``) a series per grain: card purchases
    in money, token figures from the ledger."""
    totals = stat_totals(("ledger", "card_purchases"), period, now=now)
    points = []
    if series:
        days = stat_by_day(("ledger", "card_purchases"), period, now=now)
        for bucket, values in _by_grain(days, grain, period):
            points.append({"start": bucket, **figures.revenue(_only(values, "ledger"), _only(values, "card_purchases"))})
    return {"totals": figures.revenue(_only(totals, "ledger"), _only(totals, "card_purchases")), "series": points}


CALL_SERIES = ("rung", "answered", "connected", "completed", "dropped", "failed")


def calls(period: Period, *, now=None, series: bool = True) -> dict:
    """Totals (the median duration from the period's histogram) and, unless
    ``series=False``, the outcomes per day."""
    totals = stat_totals(("calls", "call_duration", "call_seconds"), period, now=now)
    points = []
    if series:
        days = stat_by_day(("calls",), period, now=now)
        for day in period.day_list():
            values = days.get(day, {})
            points.append({"start": day, **{outcome: values.get(("calls", outcome), 0) for outcome in CALL_SERIES}})
    return {
        "totals": figures.calls(_only(totals, "calls"), _only(totals, "call_duration"), totals.get(("call_seconds", ""), 0)),
        "series": points,
    }


def _users(ids) -> dict:
    from accounts.models import User

    return {str(u.pk): u for u in User.objects.filter(pk__in=list(ids)).only("id", "username", "display_name", "first_name", "last_name")}


def top_creators(period: Period, *, limit: int = 10, now=None) -> list[dict]:
    """Creators by net earnings in the period (charges less refunds, after the platform fee)."""
    # earnings_total has one subgroup, "": naming it lets the rank index (stat, subgroup, day, ...) seek by day
    top = top_creator_totals("earnings_total", period, limit=limit, now=now, subgroup="")
    ids = [creator_id for creator_id, _ in top]
    breakdown = creator_totals("earnings", period, now=now, creator_ids=ids) if ids else {}
    users = _users(ids)
    rows = []
    for rank, (creator_id, net) in enumerate(top, start=1):
        user = users.get(creator_id)
        by_kind = {subgroup: value for (_stat, cid, subgroup), value in breakdown.items() if cid == creator_id}
        rows.append({
            "rank": rank,
            "creator_id": creator_id,
            "username": user.username if user else "",
            "name": user.public_name if user else "",
            "net_earnings": net,
            "by_kind": dict(sorted(by_kind.items())),
        })
    return rows


def creator_calls(period: Period, *, limit: int = 20, now=None) -> list[dict]:
    """Call success per creator, the creators with the most calls first. The
    median duration of each is exact, from their calls (_creator_medians)."""
    now = now or timezone.now()
    top = top_creator_totals("calls", period, limit=limit, now=now, subgroup="rung")
    ids = [creator_id for creator_id, _ in top]
    if not ids:
        return []
    details = creator_totals(("calls", "call_seconds"), period, now=now, creator_ids=ids)
    medians = _creator_medians(ids, period, now)
    users = _users(ids)
    rows = []
    for creator_id, _ in top:
        user = users.get(creator_id)
        counts = {subgroup: value for (stat, cid, subgroup), value in details.items() if cid == creator_id and stat == "calls"}
        row = {
            "creator_id": creator_id,
            "username": user.username if user else "",
            "name": user.public_name if user else "",
            **figures.calls(counts, {}, details.get(("call_seconds", creator_id, ""), 0)),
        }
        row["median_seconds"] = medians.get(creator_id)
        rows.append(row)
    return rows


def _creator_medians(ids: list[str], period: Period, now) -> dict[str, int]:
    """Each creator's exact lower median of connected seconds over the period.

    The median of a busy creator's 90 days is a sort of tens of thousands of
    calls (18 ms of the 90-day dashboard's database time). Calls that ended on
    settled days do not change, so their durations are kept as a sorted list of
    distinct values with running counts; the days after them are counted now,
    and the median is searched over both."""
    from calls.selectors import connected_seconds_counts, connected_seconds_distribution, median_connected_seconds_by_creator

    start, end = period.bounds(now)
    filled = _fill().creators.get("calls")
    split_day = None
    if filled is not None:
        split_day = min(max(settled_until(filled), period.start), period.end + dt.timedelta(days=1))
    if split_day is None or split_day <= period.start:
        return median_connected_seconds_by_creator(ids, start, end)
    split = max(start, min(end, rollups.local_midnight(split_day)))
    ordered = sorted(ids)

    settled = _kept(lambda: connected_seconds_distribution(ordered, start, split), "medians", period.start, split_day, _ids_key(ordered))
    recent = connected_seconds_counts(ordered, split, end) if end > split else {}
    medians = {}
    for creator_id in ordered:
        median = _lower_median(*settled.get(creator_id, ([], [])), recent.get(creator_id, {}))
        if median is not None:
            medians[creator_id] = median
    return medians


def _lower_median(values: list[int], running: list[int], more: dict[int, int]) -> int | None:
    """The lower median (percentile_disc(0.5)) of the values ``values`` with
    running counts ``running``, plus ``more`` ({value: count})."""
    extra = sorted(more)
    extra_running = list(itertools.accumulate(more[v] for v in extra))
    total = (running[-1] if running else 0) + (extra_running[-1] if extra_running else 0)
    if not total:
        return None
    wanted = (total - 1) // 2 + 1

    def at_most(value: int) -> int:
        i = bisect.bisect_right(values, value)
        j = bisect.bisect_right(extra, value)
        return (running[i - 1] if i else 0) + (extra_running[j - 1] if j else 0)

    best = None
    lo, hi = 0, len(values)  # the first kept value whose count reaches `wanted`
    while lo < hi:
        mid = (lo + hi) // 2
        if at_most(values[mid]) >= wanted:
            hi = mid
        else:
            lo = mid + 1
    if lo < len(values):
        best = values[lo]
    for value in extra:
        if best is not None and value >= best:
            break
        if at_most(value) >= wanted:
            best = value
            break
    return best


def active_users(period: Period, *, now=None) -> dict:
    """DAU per day, and DAU/WAU/MAU as of the period's last day.

    Days the job has derived come from ``DailyCount``; later days are counted
    from ``ActiveUserDay``. As of today, WAU and MAU are counts over
    ``ActiveUser`` (each user's last active day: one index range, however
    many days the window spans).
    """
    now = now or timezone.now()
    days_end = _fill().days_end
    derived = {}
    if days_end is not None:
        for day, stat, subgroup, value in _daily_rows(("active_users",), period.start, min(period.end + dt.timedelta(days=1), days_end)):
            derived[(day, subgroup)] = value
    live_from = max(period.start, days_end) if days_end is not None else period.start
    live = {}
    if live_from <= period.end:
        live = dict(
            ActiveUserDay.objects.filter(day__gte=live_from, day__lte=period.end).values_list("day").annotate(n=Count("id")).order_by()
        )
    series = []
    for day in period.day_list():
        value = derived.get((day, "1d"), 0) if days_end is not None and day < days_end else live.get(day, 0)
        series.append({"start": day, "active_users": value})
    local_today = now.astimezone(rollups.zone()).date()

    def window(label: str, size: int) -> int:
        if days_end is not None and period.end < days_end:
            return derived.get((period.end, label), 0)
        first = period.end - dt.timedelta(days=size - 1)
        if period.end == local_today:
            return ActiveUser.objects.filter(last_day__gte=first).count()
        return ActiveUserDay.objects.filter(day__gte=first, day__lte=period.end).values("user_id").distinct().count()

    return {
        "dau": window("1d", 1),
        "wau": window("7d", 7),
        "mau": window("30d", 30),
        "average_dau": round(sum(point["active_users"] for point in series) / len(series), 1) if series else 0,
        "series": series,
    }


# On PostgreSQL a period's route statistics are summed in the database: a 90-day
# comparison is ~11,000 day rows of 60 routes, each a JSON histogram that Python
# would decode and merge one by one (a third of the 90-day page's time,
# bench/dashboard.py --profile). Both parts come back as one row per route.
_ROUTE_TOTALS_SQL = """
WITH r AS (
    SELECT method, route, count, client_errors, server_errors, total_ms, buckets
      FROM {table} WHERE {field} >= %s AND {field} < %s
), totals AS (
    SELECT method, route, SUM(count)::bigint AS count, SUM(client_errors)::bigint AS client_errors,
           SUM(server_errors)::bigint AS server_errors, SUM(total_ms) AS total_ms
      FROM r GROUP BY method, route
), histograms AS (
    SELECT method, route, jsonb_object_agg(bucket, n)::text AS buckets
      FROM (SELECT r.method, r.route, e.key AS bucket, SUM(e.value::bigint) AS n
              FROM r CROSS JOIN LATERAL jsonb_each_text(r.buckets) AS e
             GROUP BY r.method, r.route, e.key) AS per_bucket
     GROUP BY method, route
)
SELECT NULL, t.method, t.route, t.count, t.client_errors, t.server_errors, t.total_ms, COALESCE(h.buckets, '{{}}')
  FROM totals t LEFT JOIN histograms h ON h.method = t.method AND h.route = t.route
"""


def _sums_in_database() -> bool:
    return connection.vendor == "postgresql"


def _route_totals(model, field: str, lower, upper) -> list:
    """One row per (method, route) over [lower, upper), summed by PostgreSQL, shaped like _route_rows'."""
    with connection.cursor() as cursor:
        cursor.execute(_ROUTE_TOTALS_SQL.format(table=model._meta.db_table, field=field), [lower, upper])
        return [(*row[:7], json.loads(row[7])) for row in cursor.fetchall()]


def _route_rows(model, field: str, lower, upper) -> list:
    if _sums_in_database():
        return _route_totals(model, field, lower, upper)
    memo = _memo.get()
    fields = (field, "method", "route", "count", "client_errors", "server_errors", "total_ms", "buckets")
    cache_key = model.__name__
    if memo is not None:
        cached = memo.routes.get(cache_key)
        if cached is not None and cached[0] <= lower and upper <= cached[1]:
            return [row for row in cached[2] if lower <= row[0] < upper]
    return list(model.objects.filter(**{f"{field}__gte": lower, f"{field}__lt": upper}).values_list(*fields))


def _settled_route_rows(first_day: dt.date, stop_day: dt.date) -> list:
    """_route_rows of RouteDay over settled days [first_day, stop_day), kept in the cache."""
    return _kept(lambda: [tuple(row) for row in _route_rows(RouteDay, "day", first_day, stop_day)], "routes", first_day, stop_day)


def api_performance(period: Period, *, now=None, limit: int = 50) -> dict:
    """Per route: requests, p50/p95/p99 latency (ms), error rates; and all routes together."""
    now = now or timezone.now()
    start, end = period.bounds(now)
    days_end = _fill().days_end
    routes: dict = {}

    def add(_when, method, route, count, client, server, total_ms, buckets):
        entry = routes.setdefault((method, route), [0, 0, 0, 0.0, {}])
        entry[0] += count
        entry[1] += client
        entry[2] += server
        entry[3] += total_ms
        histogram.merge(entry[4], buckets)

    cursor = start
    if days_end is not None and days_end > period.start:
        day_stop = min(period.end + dt.timedelta(days=1), days_end)
        # Days the job will not derive again are summed once and kept.
        settled = min(max(settled_until(_fill().days_filled), period.start), day_stop)
        if settled > period.start:
            for row in _settled_route_rows(period.start, settled):
                add(*row)
        if day_stop > settled:
            for row in _route_rows(RouteDay, "day", settled, day_stop):
                add(*row)
        cursor = max(start, rollups.local_midnight(day_stop))
    if end > cursor:
        for row in _route_rows(RouteHour, "hour", cursor, end):
            add(*row)

    def summary(method, route, entry):
        count, client, server, total_ms, buckets = entry

        def pct(fraction):
            value = histogram.LATENCY_MS.percentile(buckets, fraction)
            return round(value, 1) if value is not None else None

        return {
            "method": method,
            "route": "/" + route if route and not route.startswith("(") else route,
            "requests": count,
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "mean_ms": round(total_ms / count, 1) if count else None,
            "server_errors": server,
            "client_errors": client,
            "error_rate_pct": round(100 * server / count, 2) if count else None,
            "client_error_rate_pct": round(100 * client / count, 2) if count else None,
        }

    rows = [summary(method, route, entry) for (method, route), entry in routes.items()]
    rows.sort(key=lambda row: (-row["requests"], row["route"], row["method"]))
    overall = [0, 0, 0, 0.0, {}]
    for entry in routes.values():
        overall[0] += entry[0]
        overall[1] += entry[1]
        overall[2] += entry[2]
        overall[3] += entry[3]
        histogram.merge(overall[4], entry[4])
    return {"overall": summary("", "all routes", overall), "routes": rows[:limit], "route_count": len(rows)}


def lag(now=None) -> dict:
    """How far behind the job is, per source (the console says so when it is)."""
    now = now or timezone.now()
    fill = _fill()
    return {name: (None if name not in fill.hours else max(0, int((now - fill.hours[name]).total_seconds()))) for name in SOURCES}


DASHBOARD_STATS = ("ledger", "card_purchases", "calls", "call_seconds", "call_duration", "active_users")
# What the dashboard reads per day (its series); the rest only as period totals (_daily_totals).
DASHBOARD_DAY_STATS = ("ledger", "card_purchases", "calls", "active_users")


def dashboard(period: Period, *, grain: str = "day", now=None) -> dict:
    """Everything on /staff/ for a period, with the previous period of equal length.

    Reads each kind of rollup row once for both periods (about two dozen
    queries in all, whatever the period's length) and computes each source's
    unfilled minutes once.
    """
    now = now or timezone.now()
    previous = period.previous()
    token = _memo.set(_Memo())
    try:
        _prefetch(period.start, period, now)
        return _dashboard(period, previous, grain, now)
    finally:
        _memo.reset(token)


def _prefetch(first_day: dt.date, period: Period, now) -> None:
    memo = _memo.get()
    fill = _fill()
    day_end = period.end + dt.timedelta(days=1)
    if fill.days_end is not None:
        day_end = min(day_end, fill.days_end)
    def day_rows(d0, d1) -> list:
        return list(DailyCount.objects.filter(stat__in=DASHBOARD_DAY_STATS, day__gte=d0, day__lt=d1).values_list("day", "stat", "subgroup", "value"))

    split = min(max(_settled_day() or first_day, first_day), max(first_day, day_end))
    rows = _unpacked_rows(_kept(lambda: _packed_rows(day_rows(first_day, split)), "day-rows", first_day, split)) if split > first_day else []
    memo.daily = (first_day, day_end, _by_stat(rows + (day_rows(split, day_end) if day_end > split else [])))
    hours_from = rollups.local_midnight(max(first_day, day_end))
    memo.hourly = (hours_from, _by_stat(
        HourlyCount.objects.filter(stat__in=DASHBOARD_STATS, hour__gte=hours_from).values_list("hour", "stat", "subgroup", "value")
    ))
    if _sums_in_database():
        memo.routes = {}  # each period's routes are summed by the database (_route_totals)
        return
    fields = ("method", "route", "count", "client_errors", "server_errors", "total_ms", "buckets")
    memo.routes = {
        "RouteDay": (first_day, day_end, list(RouteDay.objects.filter(day__gte=first_day, day__lt=day_end).values_list("day", *fields))),
        "RouteHour": (hours_from, now + dt.timedelta(days=1), list(RouteHour.objects.filter(hour__gte=hours_from).values_list("hour", *fields))),
    }


def _previous_figures(previous: Period, now) -> dict:
    """What the dashboard compares with: the previous period's totals."""
    return {
        "active_users_previous": active_users(previous, now=now),
        "revenue_previous": revenue(previous, now=now, series=False)["totals"],
        "calls_previous": calls(previous, now=now, series=False)["totals"],
        "api_previous": api_performance(previous, now=now)["overall"],
    }


def _packed_rows(rows) -> list:
    """Day rows as kept: the day as its ordinal and the names interned, so the
    cache's pickle stores each name once (110 KB of 90 days' rows became 39 KB,
    and reading them back 4 ms became ~1)."""
    return [(day.toordinal(), sys.intern(stat), sys.intern(subgroup), value) for day, stat, subgroup, value in rows]


def _unpacked_rows(packed) -> list:
    days = {ordinal: dt.date.fromordinal(ordinal) for ordinal in {row[0] for row in packed}}
    return [(days[ordinal], stat, subgroup, value) for ordinal, stat, subgroup, value in packed]


def _dashboard(period: Period, previous: Period, grain: str, now) -> dict:
    fill = _fill()
    if fill.days_filled is not None and previous.end < settled_until(fill.days_filled):
        # Every day of the previous period is settled (the job derives none of
        # them again): its figures are computed once and kept, like the rankings' heads.
        before = _kept(lambda: _previous_figures(previous, now), "previous", previous.start, previous.end)
    else:
        before = _previous_figures(previous, now)
    return {
        "period": period,
        "previous": previous,
        "grain": grain,
        "time_zone": settings.ANALYTICS_TIME_ZONE,
        "active_users": active_users(period, now=now),
        "revenue": revenue(period, grain=grain, now=now),
        "top_creators": top_creators(period, now=now),
        "calls": calls(period, now=now),
        "creator_calls": creator_calls(period, now=now),
        "api": api_performance(period, now=now),
        "lag_seconds": lag(now),
        **before,
    }
