"""The rollup job: idempotent, whole hours only, no zero rows, late writes
counted, days cut right in any time zone (and on DST days)."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from analytics import rollups, selectors
from analytics.models import CreatorDailyCount, DailyCount, FillState, HourlyCount
from analytics.selectors import Period
from analytics.tests.conftest import at, ended_call, key
from ledger import services as ledger
from ledger.models import TransactionKind

pytestmark = pytest.mark.django_db


def tip(people, clock, moment, amount):
    alice, bob, _ = people
    clock.set(moment)
    ledger.charge_with_fee(payer=alice, creator=bob, amount=amount, kind=TransactionKind.TIP, idempotency_key=key())


def snapshot():
    return (
        sorted(HourlyCount.objects.values_list("stat", "subgroup", "hour", "value")),
        sorted(DailyCount.objects.values_list("stat", "subgroup", "day", "value")),
        sorted(CreatorDailyCount.objects.values_list("stat", "creator_id", "subgroup", "day", "value")),
    )


@pytest.fixture
def funded(people, clock, python_ledger):
    alice = people[0]
    clock.set(at(2026, 1, 1))
    ledger.credit_purchase(user=alice, tokens=100_000, idempotency_key=key(), reference="fund")
    return people


def test_filling_twice_or_from_scratch_writes_the_same_rows(funded, clock):
    # Given tips spread over two days and some ended calls
    alice, bob, carol = funded
    for hour in (3, 3, 7, 23):
        tip(funded, clock, at(2026, 1, 5, hour, 20), 10)
    tip(funded, clock, at(2026, 1, 6, 1, 5), 25)
    ended_call(alice, bob, ended_at=at(2026, 1, 5, 7, 30), seconds=125)
    ended_call(alice, carol, ended_at=at(2026, 1, 6, 0, 10), reason="dropped", seconds=40)
    now = at(2026, 1, 7, 12)

    # When the job runs, then runs again, then an operator recomputes everything
    first_run = rollups.fill_all(now=now)
    rows = snapshot()
    rollups.fill_all(now=now)
    again = snapshot()
    for name in ("ledger", "purchases", "calls"):
        rollups.fill_source(name, now=now, start=at(2026, 1, 1))
        rollups.fill_creator_days(name, now=now, rebuild=True)
    rollups.fill_days(now=now, rebuild=True)

    # Then the rows are the same every time
    assert first_run["ledger"] > 0 and first_run["calls:creators"] > 0
    assert again == rows
    assert snapshot() == rows
    # and they say what happened: 3 tips in hour 03:00, 10 tokens each, leaving the wallet
    assert HourlyCount.objects.get(stat="ledger", subgroup="tip:wallet:dr", hour=at(2026, 1, 5, 3)).value == -20
    assert HourlyCount.objects.get(stat="calls", subgroup="rung", hour=at(2026, 1, 5, 7)).value == 1
    assert DailyCount.objects.get(stat="ledger", subgroup="tip:wallet:dr", day=dt.date(2026, 1, 5)).value == -40
    assert CreatorDailyCount.objects.get(stat="calls", creator_id=carol.pk, subgroup="dropped", day=dt.date(2026, 1, 6)).value == 1


def test_no_zero_rows_and_the_database_refuses_them(funded, clock):
    tip(funded, clock, at(2026, 1, 5, 3, 20), 10)
    rollups.fill_all(now=at(2026, 1, 7))
    # hours with nothing in them have no rows at all
    assert not HourlyCount.objects.filter(value=0).exists()
    assert not HourlyCount.objects.filter(hour=at(2026, 1, 5, 4)).exists()
    assert HourlyCount.objects.filter(hour=at(2026, 1, 5, 3)).exists()
    # and the database backstop refuses a zero row
    with pytest.raises(IntegrityError), transaction.atomic():
        HourlyCount.objects.filter(stat="ledger").update(value=0)


def test_only_whole_hours_older_than_the_lag_are_filled(funded, clock, settings):
    settings.ANALYTICS_FILL_LAG_S = 300
    tip(funded, clock, at(2026, 1, 5, 10, 2), 10)
    tip(funded, clock, at(2026, 1, 5, 11, 2), 10)
    # at 11:04 the 10:00 hour is over, but only for 4 minutes: not filled yet
    rollups.fill_source("ledger", now=at(2026, 1, 5, 11, 4))
    assert rollups.filled_until("ledger") <= at(2026, 1, 5, 10)
    rollups.fill_source("ledger", now=at(2026, 1, 5, 11, 6))
    assert rollups.filled_until("ledger") == at(2026, 1, 5, 11)
    assert not HourlyCount.objects.filter(hour=at(2026, 1, 5, 11)).exists()
    # the dashboard still shows the 11:00 tip: it computes the unfilled minutes live
    clock.set(at(2026, 1, 5, 11, 6))
    assert selectors.revenue(Period(dt.date(2026, 1, 5), dt.date(2026, 1, 5)))["totals"]["tokens_spent"] == 20


def test_a_call_whose_end_is_written_late_is_counted_in_its_hour(funded, clock, settings):
    alice, bob, _ = funded
    settings.ANALYTICS_REFILL_HOURS = 2
    ended_call(alice, bob, ended_at=at(2026, 1, 5, 9, 10), seconds=60)
    rollups.fill_source("calls", now=at(2026, 1, 5, 10, 10))
    assert HourlyCount.objects.get(stat="calls", subgroup="rung", hour=at(2026, 1, 5, 9)).value == 1
    # the sweeper ends a dropped call at 09:59 only at 10:20 (backdated to when it dropped)
    ended_call(alice, bob, ended_at=at(2026, 1, 5, 9, 59), reason="dropped", seconds=30)
    rollups.fill_source("calls", now=at(2026, 1, 5, 10, 30))
    assert HourlyCount.objects.get(stat="calls", subgroup="rung", hour=at(2026, 1, 5, 9)).value == 2
    assert HourlyCount.objects.get(stat="calls", subgroup="dropped", hour=at(2026, 1, 5, 9)).value == 1


@pytest.mark.parametrize(
    "zone, moments, expected",
    [
        # New York is UTC-5 in January: 04:30 UTC is still the 9th there.
        ("America/New_York", [at(2026, 1, 10, 4, 30), at(2026, 1, 10, 5, 30)], {dt.date(2026, 1, 9): 1, dt.date(2026, 1, 10): 1}),
        ("UTC", [at(2026, 1, 10, 4, 30), at(2026, 1, 10, 5, 30)], {dt.date(2026, 1, 10): 2}),
        # Tokyo is UTC+9: 15:30 UTC is already the 11th there.
        ("Asia/Tokyo", [at(2026, 1, 10, 14, 30), at(2026, 1, 10, 15, 30)], {dt.date(2026, 1, 10): 1, dt.date(2026, 1, 11): 1}),
        # 8 March 2026 is 23 hours long in New York (clocks jump at 07:00 UTC):
        # 05:30 UTC is 00:30 EST, 03:30 UTC on the 9th is 23:30 EDT on the 8th.
        ("America/New_York", [at(2026, 3, 8, 5, 30), at(2026, 3, 9, 3, 30), at(2026, 3, 9, 4, 30)],
         {dt.date(2026, 3, 8): 2, dt.date(2026, 3, 9): 1}),
    ],
)
def test_days_are_days_of_the_chosen_time_zone(funded, clock, settings, zone, moments, expected):
    settings.ANALYTICS_TIME_ZONE = zone
    for moment in moments:
        tip(funded, clock, moment, 10)
    now = moments[-1] + dt.timedelta(days=3)
    clock.set(now)
    first, last = min(expected), max(expected)
    period = Period(first - dt.timedelta(days=1), last + dt.timedelta(days=1))

    def per_day():
        days = selectors.stat_by_day(("ledger",), period)
        return {day: -values.get(("ledger", "tip:wallet:dr"), 0) // 10 for day, values in days.items()
                if values.get(("ledger", "tip:wallet:dr"))}

    assert per_day() == expected  # live
    rollups.fill_all(now=now)
    assert rollups.days_filled_until() > last
    assert per_day() == expected  # from the daily rows
    stored = {day: -value // 10 for day, value in DailyCount.objects.filter(stat="ledger", subgroup="tip:wallet:dr").values_list("day", "value")}
    assert stored == expected


def test_changing_the_time_zone_rebuilds_the_days(funded, clock, settings):
    tip(funded, clock, at(2026, 1, 10, 4, 30), 10)
    rollups.fill_all(now=at(2026, 1, 12))
    assert set(DailyCount.objects.filter(stat="ledger", subgroup="tip:wallet:dr").values_list("day", flat=True)) == {dt.date(2026, 1, 10)}
    settings.ANALYTICS_TIME_ZONE = "America/New_York"
    assert rollups.days_filled_until() is None  # days cut in UTC are not used for New York
    rollups.fill_all(now=at(2026, 1, 12))
    assert set(DailyCount.objects.filter(stat="ledger", subgroup="tip:wallet:dr").values_list("day", flat=True)) == {dt.date(2026, 1, 9)}
    assert FillState.objects.get(source="days").time_zone == "America/New_York"


def test_the_fill_task_runs_the_job(funded, clock):
    from analytics.tasks import fill_rollups

    tip(funded, clock, at(2026, 1, 5, 3, 20), 10)
    clock.set(at(2026, 1, 6))
    result = fill_rollups()
    assert result["ledger"] > 0 and result["days"] >= 1
