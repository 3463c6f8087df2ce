"""What each rollup source counts, for any range of time.

A source turns the rows of one part of Digis that fall in ``[start, end)``
into counts per UTC hour: ``{(stat, subgroup, hour): value}`` for the whole
platform and ``{(stat, creator_id, subgroup, hour): value}`` per creator. The
job stores these for whole hours (``analytics.rollups``); the dashboard calls
the very same functions for the minutes since the last filled hour, so what
it shows is exact up to now and there is one definition of every number.

- ``ledger``: every entry, by transaction kind, account and direction
  (``"tip:wallet:dr"`` = tokens leaving wallets as tips). All revenue figures
  are sums of these flows (``analytics.figures``), so they reconcile with the
  ledger by construction. Per creator: net earnings by kind.
- ``purchases``: card purchases credited, by currency: money (cents), count
  and tokens, in the hour the payment succeeded.
- ``calls``: calls by outcome in the hour they ended (a call's outcome is only
  known then), connected seconds and a duration histogram; per creator the
  outcomes and connected seconds.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Min, Q, Sum
from django.db.models.functions import TruncHour

from analytics.histogram import DURATION_S

UTC = dt.timezone.utc


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class Rows:
    hourly: dict = field(default_factory=lambda: defaultdict(int))
    creator: dict = field(default_factory=lambda: defaultdict(int))

    def add(self, stat: str, subgroup: str, hour: dt.datetime, value: int, creator_id=None) -> None:
        if not value:
            return
        if creator_id is None:
            self.hourly[(stat, subgroup, hour)] += value
        else:
            self.creator[(stat, str(creator_id), subgroup, hour)] += value

    def nonzero(self):
        return (
            {key: value for key, value in self.hourly.items() if value},
            {key: value for key, value in self.creator.items() if value},
        )


class Source:
    name = ""
    hourly_stats: tuple = ()
    creator_stats: tuple = ()

    def compute(self, start: dt.datetime, end: dt.datetime) -> Rows:
        raise NotImplementedError

    def earliest(self) -> dt.datetime | None:
        raise NotImplementedError


def account_class(kind: str, system_code: str) -> str:
    return system_code if kind == "system" else kind


class LedgerSource(Source):
    name = "ledger"
    hourly_stats = ("ledger",)
    # Net earnings by kind, and their total (one row per creator and hour, to rank by).
    creator_stats = ("earnings", "earnings_total")

    def compute(self, start, end) -> Rows:
        from ledger.models import AccountKind, Entry, TransactionKind

        rows = Rows()
        flows = (
            Entry.objects.filter(transaction__created_at__gte=start, transaction__created_at__lt=end)
            .annotate(hour=TruncHour("transaction__created_at", tzinfo=UTC))
            .values_list("hour", "transaction__kind", "account__kind", "account__system_code")
            .annotate(credit=Sum("amount", filter=Q(amount__gt=0)), debit=Sum("amount", filter=Q(amount__lt=0)))
            .order_by()
        )
        for hour, kind, account_kind, system_code, credit, debit in flows:
            account = account_class(account_kind, system_code)
            rows.add("ledger", f"{kind}:{account}:cr", hour, int(credit or 0))
            rows.add("ledger", f"{kind}:{account}:dr", hour, int(debit or 0))
        earnings = (
            Entry.objects.filter(
                transaction__created_at__gte=start, transaction__created_at__lt=end, account__kind=AccountKind.EARNINGS
            )
            .exclude(transaction__kind=TransactionKind.EARNINGS_RELEASE)
            .annotate(hour=TruncHour("transaction__created_at", tzinfo=UTC))
            .values_list("hour", "account__user_id", "transaction__kind")
            .annotate(total=Sum("amount"))
            .order_by()
        )
        for hour, creator_id, kind, total in earnings:
            rows.add("earnings", kind, hour, int(total or 0), creator_id=creator_id)
            rows.add("earnings_total", "", hour, int(total or 0), creator_id=creator_id)
        return rows

    def earliest(self):
        from ledger.models import Transaction

        return Transaction.objects.aggregate(first=Min("created_at"))["first"]


class PurchasesSource(Source):
    name = "purchases"
    hourly_stats = ("card_purchases",)

    def compute(self, start, end) -> Rows:
        from payments.selectors import card_purchases_between

        rows = Rows()
        for succeeded_at, currency, cents, tokens in card_purchases_between(start, end):
            hour = floor_hour(succeeded_at)
            rows.add("card_purchases", f"{currency}:cents", hour, cents)
            rows.add("card_purchases", f"{currency}:count", hour, 1)
            rows.add("card_purchases", f"{currency}:tokens", hour, tokens)
        return rows

    def earliest(self):
        from payments.selectors import card_purchases_between

        first = card_purchases_between(dt.datetime(2000, 1, 1, tzinfo=UTC), dt.datetime(9999, 1, 1, tzinfo=UTC))
        return first.aggregate(first=Min("succeeded_at"))["first"]


# Every call counts as rung; these flags and end reasons say how far it got.
CALL_OUTCOMES = ("rung", "answered", "connected", "completed", "insufficient_funds", "dropped", "failed",
                 "declined", "missed", "cancelled")


class CallsSource(Source):
    name = "calls"
    hourly_stats = ("calls", "call_seconds", "call_duration")
    # Per creator no duration histogram (it would be most of the rows): the
    # console computes the median of the few creators it shows from their calls.
    creator_stats = ("calls", "call_seconds")

    def compute(self, start, end) -> Rows:
        from calls.selectors import calls_ended_between

        rows = Rows()
        for ended_at, creator_id, end_reason, answered, connected, seconds in calls_ended_between(start, end).iterator(chunk_size=5000):
            hour = floor_hour(ended_at)
            outcomes = ["rung", end_reason]
            if answered:
                outcomes.append("answered")
            if connected:
                outcomes.append("connected")
            for outcome in outcomes:
                rows.add("calls", outcome, hour, 1)
                rows.add("calls", outcome, hour, 1, creator_id=creator_id)
            if connected:
                bucket = str(DURATION_S.bucket(seconds))
                rows.add("call_seconds", "", hour, seconds)
                rows.add("call_seconds", "", hour, seconds, creator_id=creator_id)
                rows.add("call_duration", bucket, hour, 1)
        return rows

    def earliest(self):
        from calls.selectors import calls_ended_between

        first = calls_ended_between(dt.datetime(2000, 1, 1, tzinfo=UTC), dt.datetime(9999, 1, 1, tzinfo=UTC))
        return first.aggregate(first=Min("ended_at"))["first"]


SOURCES: dict[str, Source] = {source.name: source for source in (LedgerSource(), PurchasesSource(), CallsSource())}
STAT_SOURCE: dict[str, str] = {}
for _source in SOURCES.values():
    for _stat in (*_source.hourly_stats, *_source.creator_stats):
        STAT_SOURCE[_stat] = _source.name
