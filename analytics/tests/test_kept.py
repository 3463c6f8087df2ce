"""What the dashboard keeps from settled days (the previous period's figures,
the period's day totals and rows, each table's creators' sums, the rankings'
heads, the route sums) gives exactly the figures computed from scratch."""

import datetime as dt

import itertools

import pytest
from django.core.cache import cache
from hypothesis import given
from hypothesis import strategies as st
from django.db import transaction

from analytics import rollups, selectors
from analytics.models import ActiveUserDay, FillState
from analytics.selectors import Period
from analytics.tests.conftest import at, ended_call, key, purchase
from ledger import services as ledger
from ledger.models import TransactionKind

pytestmark = pytest.mark.django_db


def a_day(people, day: int, hour: int, n: int):
    alice, bob, carol = people
    moment = at(2026, 1, day, hour)
    purchase(alice, cents=100 * n, tokens=10 * n, at_time=moment)
    tip = ledger.charge_with_fee(payer=alice, creator=bob if n % 2 else carol, amount=5 + n, kind=TransactionKind.TIP,
                                 idempotency_key=key())
    if n % 3 == 0:
        ledger.refund_charge(original=tip, amount=2, idempotency_key=key(), reason="part back")
    ended_call(alice, bob, ended_at=moment, seconds=20 * n)
    ended_call(alice, carol, ended_at=moment, reason="dropped" if n % 2 else "completed", seconds=7 * n)
    ended_call(alice, carol, ended_at=moment, reason="missed", answered=False, connected=False)
    ActiveUserDay.objects.get_or_create(user=alice, day=moment.date())


def test_a_dashboard_from_kept_parts_equals_the_one_computed_from_the_sources(people, clock, python_ledger):
    # Given two weeks of money, calls and activity: the job ran at 14:00 on the
    # last day; more happened after it (the live minutes)
    clock.set(at(2026, 1, 1, 8))
    purchase(people[0], cents=99_900, tokens=5_000, at_time=at(2026, 1, 1, 8))
    for day in range(1, 15):
        clock.set(at(2026, 1, day, 10))
        a_day(people, day, 10, day)
    rollups.fill_all(now=at(2026, 1, 14, 14))
    clock.set(at(2026, 1, 14, 15))
    a_day(people, 14, 15, 20)
    clock.set(at(2026, 1, 14, 16))

    period = Period(dt.date(2026, 1, 8), dt.date(2026, 1, 14))
    # The previous week and Jan 8-12 are settled days; Jan 13 is derived but may
    # still be rewritten, Jan 14 is hours and live minutes.
    assert selectors.settled_until(selectors._fill().days_filled) == dt.date(2026, 1, 13)
    cache.clear()
    first = selectors.dashboard(period)

    # When the console is opened again, its settled parts come from the cache
    kept_parts = []
    real_kept = selectors._kept
    try:
        selectors._kept = lambda compute, *parts: kept_parts.append(parts[0]) or real_kept(compute, *parts)
        again = selectors.dashboard(period)
    finally:
        selectors._kept = real_kept

    # ... and every figure is the one computed from the source tables alone,
    # with no rollup and nothing kept
    with transaction.atomic():
        FillState.objects.all().delete()
        cache.clear()
        scratch = selectors.dashboard(period)
        transaction.set_rollback(True)

    assert {"previous", "day-totals", "day-rows", "creators", "head", "medians"} <= set(kept_parts)
    assert again == first
    shown = set(first) - {"lag_seconds"}
    assert {name: again[name] for name in shown} == {name: scratch[name] for name in shown}
    # (and they are not empty: both weeks have money and calls)
    assert again["revenue_previous"]["tokens_spent"] > 0 and again["calls_previous"]["rung"] == 21
    assert again["calls"]["totals"]["rung"] == 24 and [row["username"] for row in again["top_creators"]] == ["carol", "bob"]


@given(st.lists(st.integers(0, 40), max_size=15), st.lists(st.integers(0, 40), max_size=8))
def test_the_median_of_kept_and_recent_durations_is_the_lower_median_of_all(kept, recent):
    counts = {}
    for value in kept:
        counts[value] = counts.get(value, 0) + 1
    more = {}
    for value in recent:
        more[value] = more.get(value, 0) + 1
    values = sorted(counts)
    running = list(itertools.accumulate(counts[v] for v in values))
    both = sorted(kept + recent)
    assert selectors._lower_median(values, running, more) == (both[(len(both) - 1) // 2] if both else None)
