"""What each rollup source counts, for any range of time.

A source turns the rows of one part of Digis that fall in ``[start, end)``
into counts:

- ``compute(start, end)``: ``{(stat, subgroup, hour): value}`` per UTC hour,
  for the whole platform (a few dozen rows an hour);
- ``compute_creators(start, end, tz)``: ``{(stat, creator_id, subgroup, day):
  value}`` per creator and local day. Per creator the rows are as many as the
  creators active in a span, so they are kept per day, not per hour: an hour
  of a creator with three calls a day is mostly empty.

The job stores these (``analytics.rollups``); the dashboard calls the very
same functions for the minutes the job has not covered yet, so what it shows
is exact up to now and there is one definition of every number.

- ``ledger``: every entry, by transaction kind, account and direction
  (``"tip:wallet:dr"`` = tokens leaving wallets as tips). All revenue figures
  are sums of these flows (``analytics.figures``), so they reconcile with the
  ledger by construction. Per creator: net earnings by kind and in total.
- ``purchases``: card purchases credited, by currency: money (cents), count
  and tokens, in the hour the payment succeeded.
- ``calls``: calls by outcome in the hour they ended (a call's outcome is only
  known then), connected seconds and a duration histogram; per creator the
  outcomes and connected seconds.
"""

import datetime as dt
from collections import defaultdict

from django.db.models import Min, Q, Sum
from django.db.models.functions import TruncDate, TruncHour

from analytics.histogram import DURATION_S

UTC = dt.timezone.utc


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class Counts(defaultdict):
    """{key: value} that ignores zeros (no zero rows, ever)."""

    def __init__(self):
        super().__init__(int)

    def add(self, key: tuple, value: int) -> None:
        if value:
            self[key] += value

    def nonzero(self) -> dict:
        return {key: value for key, value in self.items() if value}


class Source:
    name = ""
    hourly_stats: tuple = ()
    creator_stats: tuple = ()

    def compute(self, start: dt.datetime, end: dt.datetime) -> Counts:
        raise NotImplementedError

    def compute_creators(self, start: dt.datetime, end: dt.datetime, tz) -> Counts:
        return Counts()

    def earliest(self) -> dt.datetime | None:
        raise NotImplementedError


def account_class(kind: str, system_code: str) -> str:
    return system_code if kind == "system" else kind


def _all_time():
    return dt.datetime(2000, 1, 1, tzinfo=UTC), dt.datetime(9999, 1, 1, tzinfo=UTC)


class LedgerSource(Source):
    name = "ledger"
    hourly_stats = ("ledger",)
    # Net earnings by kind, and their total (one row per creator and day, to rank by).
    creator_stats = ("earnings", "earnings_total")

    def compute(self, start, end) -> Counts:
        from ledger.models import Entry

        rows = Counts()
        flows = (
            Entry.objects.filter(transaction__created_at__gte=start, transaction__created_at__lt=end)
            .annotate(hour=TruncHour("transaction__created_at", tzinfo=UTC))
            .values_list("hour", "transaction__kind", "account__kind", "account__system_code")
            .annotate(credit=Sum("amount", filter=Q(amount__gt=0)), debit=Sum("amount", filter=Q(amount__lt=0)))
            .order_by()
        )
        for hour, kind, account_kind, system_code, credit, debit in flows:
            account = account_class(account_kind, system_code)
            rows.add(("ledger", f"{kind}:{account}:cr", hour), int(credit or 0))
            rows.add(("ledger", f"{kind}:{account}:dr", hour), int(debit or 0))
        return rows

    def compute_creators(self, start, end, tz) -> Counts:
        from ledger.models import AccountKind, Entry, TransactionKind

        rows = Counts()
        earnings = (
            Entry.objects.filter(
                transaction__created_at__gte=start, transaction__created_at__lt=end, account__kind=AccountKind.EARNINGS
            )
            .exclude(transaction__kind=TransactionKind.EARNINGS_RELEASE)
            .annotate(day=TruncDate("transaction__created_at", tzinfo=tz))
            .values_list("day", "account__user_id", "transaction__kind")
            .annotate(total=Sum("amount"))
            .order_by()
        )
        for day, creator_id, kind, total in earnings:
            rows.add(("earnings", str(creator_id), kind, day), int(total or 0))
            rows.add(("earnings_total", str(creator_id), "", day), int(total or 0))
        return rows

    def earliest(self):
        from ledger.models import Transaction

        return Transaction.objects.aggregate(first=Min("created_at"))["first"]


class PurchasesSource(Source):
    name = "purchases"
    hourly_stats = ("card_purchases",)

    def compute(self, start, end) -> Counts:
        from payments.selectors import card_purchases_between

        rows = Counts()
        for succeeded_at, currency, cents, tokens in card_purchases_between(start, end):
            hour = floor_hour(succeeded_at)
            rows.add(("card_purchases", f"{currency}:cents", hour), cents)
            rows.add(("card_purchases", f"{currency}:count", hour), 1)
            rows.add(("card_purchases", f"{currency}:tokens", hour), tokens)
        return rows

    def earliest(self):
        from payments.selectors import card_purchases_between

        return card_purchases_between(*_all_time()).aggregate(first=Min("succeeded_at"))["first"]


def _streamed(rows, start: dt.datetime, end: dt.datetime):
    """The job's chunks (a day, a month) are read through a server-side cursor,
    a few thousand rows at a time; the dashboard's live minutes (an hour or so)
    in one fetch: a cursor costs three more round trips than the rows it saves."""
    return rows.iterator(chunk_size=5000) if end - start > STREAM_OVER else rows


STREAM_OVER = dt.timedelta(hours=6)


# Every call counts as rung; these flags and end reasons say how far it got.
CALL_OUTCOMES = ("rung", "answered", "connected", "completed", "insufficient_funds", "dropped", "failed",
                 "declined", "missed", "cancelled")


def _outcomes(end_reason: str, answered: bool, connected: bool) -> list[str]:
    outcomes = ["rung", end_reason]
    if answered:
        outcomes.append("answered")
    if connected:
        outcomes.append("connected")
    return outcomes


class CallsSource(Source):
    name = "calls"
    hourly_stats = ("calls", "call_seconds", "call_duration")
    # Per creator no duration histogram (it would be most of the rows): the
    # console computes the median of the few creators it shows from their calls.
    creator_stats = ("calls", "call_seconds")

    def compute(self, start, end) -> Counts:
        from calls.selectors import calls_ended_between

        rows = Counts()
        for ended_at, _creator, end_reason, answered, connected, seconds in _streamed(calls_ended_between(start, end), start, end):
            hour = floor_hour(ended_at)
            for outcome in _outcomes(end_reason, answered, connected):
                rows.add(("calls", outcome, hour), 1)
            if connected:
                rows.add(("call_seconds", "", hour), seconds)
                rows.add(("call_duration", str(DURATION_S.bucket(seconds)), hour), 1)
        return rows

    def compute_creators(self, start, end, tz) -> Counts:
        from calls.selectors import calls_ended_between

        rows = Counts()
        for ended_at, creator_id, end_reason, answered, connected, seconds in _streamed(calls_ended_between(start, end), start, end):
            day = ended_at.astimezone(tz).date()
            creator_id = str(creator_id)
            for outcome in _outcomes(end_reason, answered, connected):
                rows.add(("calls", creator_id, outcome, day), 1)
            if connected:
                rows.add(("call_seconds", creator_id, "", day), seconds)
        return rows

    def earliest(self):
        from calls.selectors import calls_ended_between

        return calls_ended_between(*_all_time()).aggregate(first=Min("ended_at"))["first"]


SOURCES: dict[str, Source] = {source.name: source for source in (LedgerSource(), PurchasesSource(), CallsSource())}
STAT_SOURCE: dict[str, str] = {}
CREATOR_STAT_SOURCE: dict[str, str] = {}
for _source in SOURCES.values():
    for _stat in _source.hourly_stats:
        STAT_SOURCE[_stat] = _source.name
    for _stat in _source.creator_stats:
        CREATOR_STAT_SOURCE[_stat] = _source.name
