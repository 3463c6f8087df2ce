"""Reads other apps share: who is busy in a call, and a call as its parties see it."""

import itertools
from collections.abc import Iterable

from django.db import connection
from django.db.models import Aggregate, BooleanField, Count, ExpressionWrapper, IntegerField, Q

from calls.models import LIVE_Q, LIVE_STATUSES, CallSession, CallStatus
from digis.errors import NotFound


def busy_user_ids(user_ids: Iterable) -> set[str]:
    """The subset of ``user_ids`` (as strings) in a ringing, accepted, active or paused call.

    Either side counts: a creator who is ringing someone else is as busy as
    one on a call. One query on the live partial indexes.
    """
    ids = {str(user_id) for user_id in user_ids}
    if not ids:
        return set()
    rows = CallSession.objects.filter(LIVE_Q).filter(Q(fan_id__in=ids) | Q(creator_id__in=ids)).values_list("fan_id", "creator_id")
    busy = set()
    for fan_id, creator_id in rows:
        busy.add(str(fan_id))
        busy.add(str(creator_id))
    return busy & ids


def call_for_party(*, call_id, user) -> CallSession:
    """The call, if ``user`` is one of its two parties; otherwise 404, exactly like a call that does not exist."""
    call = CallSession.objects.select_related("fan", "creator").filter(pk=call_id).filter(Q(fan=user) | Q(creator=user)).first()
    if call is None:
        raise NotFound("No such call.", code="call_not_found")
    return call


def live_call_of(user) -> CallSession | None:
    return CallSession.objects.filter(LIVE_Q).filter(Q(fan=user) | Q(creator=user)).first()


def live_call_count() -> int:
    return CallSession.objects.filter(LIVE_Q).count()


def call_history(user):
    """The calls ``user`` took part in, newest first (the API pages through it by cursor)."""
    return CallSession.objects.filter(Q(fan=user) | Q(creator=user)).select_related("fan", "creator")


def wallet_lines(ids: list[str], viewer) -> dict[str, dict]:
    """How the wallet's history names calls (ledger references ``call:<id>``):
    "Video call with Luna", "1:14" talked, a link to the call and its receipt.
    Registered with ``ledger.selectors.register_describer`` in CallsConfig.ready()."""
    import uuid

    from calls.models import CallKind

    valid = []
    for ident in ids:
        try:
            valid.append(uuid.UUID(ident))
        except ValueError:
            continue
    lines = {}
    for call in CallSession.objects.filter(pk__in=valid).filter(Q(fan=viewer) | Q(creator=viewer)).select_related("fan", "creator"):
        other = call.creator if call.fan_id == viewer.pk else call.fan
        name = other.get_full_name() or other.username
        if call.settled_at is None:
            detail = "in progress"
        elif call.active_seconds:
            minutes, seconds = divmod(call.active_seconds, 60)
            detail = f"{minutes}:{seconds:02d}"
        else:
            detail = "never connected"
        lines[str(call.pk)] = {"title": f"{CallKind(call.kind).label} call with {name}", "detail": detail, "url": f"/calls/{call.pk}/"}
    return lines


# --- for the operations console (analytics) ---------------------------------------


# The live calls as one row, (ringing, live), counted over the live partial
# index: the statuses are literals, the index's own predicate (LIVE_Q), so a
# prepared plan can use it. The console's "right now" embeds it
# (analytics.selectors.right_now: one statement for every live count).
LIVE_CALLS_SQL = (
    f"SELECT COUNT(*) FILTER (WHERE status = '{CallStatus.REQUESTED.value}') AS ringing, "
    f"COUNT(*) FILTER (WHERE status <> '{CallStatus.REQUESTED.value}') AS live "
    f"FROM {CallSession._meta.db_table} "
    f"WHERE status IN ({', '.join(repr(str(s.value)) for s in LIVE_STATUSES)})"
)


def calls_ended_between(start, end):
    """Calls that ended in [start, end), as plain rows for analytics' rollups:
    (ended_at, creator_id, end_reason, answered, connected, active_seconds)."""
    return (
        CallSession.objects.filter(status=CallStatus.ENDED, ended_at__gte=start, ended_at__lt=end)
        .annotate(answered=ExpressionWrapper(Q(accepted_at__isnull=False), output_field=BooleanField()))
        .annotate(connected=ExpressionWrapper(Q(active_at__isnull=False), output_field=BooleanField()))
        .values_list("ended_at", "creator_id", "end_reason", "answered", "connected", "active_seconds")
        .order_by()
    )


def _connected_calls(creator_ids: list[str], start, end):
    """These creators' connected calls that ended in [start, end): a range of
    calls_connected_by_creator_idx per creator, the seconds read from the index
    itself (no table row is visited once the table has been vacuumed)."""
    return CallSession.objects.filter(
        creator_id__in=creator_ids, status=CallStatus.ENDED, active_at__isnull=False, ended_at__gte=start, ended_at__lt=end,
    )


def connected_seconds_by_creator(creator_ids: Iterable, start, end) -> dict[str, list[int]]:
    """{creator id: [seconds both were present, per call]} for these creators'
    connected calls that ended in [start, end) (the console's per-creator median)."""
    ids = [str(creator_id) for creator_id in creator_ids]
    if not ids:
        return {}
    rows = (
        _connected_calls(ids, start, end)
        .values_list("creator_id", "active_seconds")
        .order_by()
    )
    out: dict[str, list[int]] = {}
    for creator_id, seconds in rows:
        out.setdefault(str(creator_id), []).append(seconds)
    return out


def connected_seconds_counts(creator_ids: Iterable, start, end) -> dict[str, dict[int, int]]:
    """{creator id: {seconds: how many calls lasted that long}} over these
    creators' connected calls that ended in [start, end)."""
    ids = [str(creator_id) for creator_id in creator_ids]
    if not ids:
        return {}
    rows = _connected_calls(ids, start, end).values_list("creator_id", "active_seconds").annotate(n=Count("id")).order_by()
    out: dict[str, dict[int, int]] = {}
    for creator_id, seconds, n in rows:
        out.setdefault(str(creator_id), {})[seconds] = n
    return out


_DISTRIBUTION_SQL = f"""
SELECT creator_id::text, array_agg(seconds ORDER BY seconds), array_agg(n ORDER BY seconds)
  FROM (SELECT creator_id, active_seconds AS seconds, COUNT(*) AS n
          FROM {CallSession._meta.db_table}
         WHERE creator_id = ANY(%s::uuid[]) AND status = %s AND active_at IS NOT NULL AND ended_at >= %s AND ended_at < %s
         GROUP BY creator_id, active_seconds) AS per_value
 GROUP BY creator_id
"""


def connected_seconds_distribution(creator_ids: Iterable, start, end) -> dict[str, tuple[list[int], list[int]]]:
    """{creator id: (their distinct connected seconds ascending, how many calls
    lasted at most each)} over calls that ended in [start, end): what the
    console keeps of settled days to take exact medians without sorting them
    again. On PostgreSQL one row per creator (the counting stays in the
    database: as rows, 90 days of 20 busy creators were ~36,000)."""
    ids = [str(creator_id) for creator_id in creator_ids]
    if not ids:
        return {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_DISTRIBUTION_SQL, [ids, CallStatus.ENDED.value, start, end])
            return {creator_id: (values, list(itertools.accumulate(counts))) for creator_id, values, counts in cursor.fetchall()}
    out = {}
    for creator_id, counts in connected_seconds_counts(ids, start, end).items():
        values = sorted(counts)
        out[creator_id] = (values, list(itertools.accumulate(counts[v] for v in values)))
    return out


class _LowerMedian(Aggregate):
    """PostgreSQL's percentile_disc(0.5): the lower median, a value that occurred."""

    function = "PERCENTILE_DISC"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


def median_connected_seconds_by_creator(creator_ids: Iterable, start, end) -> dict[str, int]:
    """{creator id: the lower median of their connected calls' seconds} over calls
    that ended in [start, end). On PostgreSQL the database takes the median (the
    console's top creators can have 100,000 calls in a month: reading them all
    into Python was most of a 30-day dashboard, bench/dashboard.py)."""
    if connection.vendor != "postgresql":
        return {
            creator_id: sorted(seconds)[(len(seconds) - 1) // 2]
            for creator_id, seconds in connected_seconds_by_creator(creator_ids, start, end).items()
        }
    ids = [str(creator_id) for creator_id in creator_ids]
    if not ids:
        return {}
    rows = (
        _connected_calls(ids, start, end)
        .values("creator_id")
        .annotate(median=_LowerMedian("active_seconds", output_field=IntegerField()))
        .order_by()
        .values_list("creator_id", "median")
    )
    return {str(creator_id): median for creator_id, median in rows}
