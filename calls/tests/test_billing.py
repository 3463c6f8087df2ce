"""The billing rules as pure functions: intervals in, tokens out."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calls import billing

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def iv(start: float, end: float):
    return (at(start), at(end))


def test_only_time_both_were_present_counts():
    fan = [iv(0, 100)]
    creator = [iv(30, 70), iv(80, 200)]
    assert billing.billable_us(fan, creator) == 60 * billing.SECOND_US
    assert billing.both_present(fan, creator) == [iv(30, 70), iv(80, 100)]


def test_overlapping_intervals_of_one_party_are_not_counted_twice():
    assert billing.billable_us([iv(0, 50), iv(40, 90)], [iv(0, 100)]) == 90 * billing.SECOND_US


def test_billable_time_is_clipped_at_the_end():
    assert billing.billable_us([iv(0, 100)], [iv(0, 100)], until=at(42)) == 42 * billing.SECOND_US


@pytest.mark.parametrize(
    "seconds, minutes, paid, refunded",
    [
        (60, 1, 10, 0),  # exactly one minute
        (150, 3, 25, 5),  # 2.5 minutes: three started, half of the third refunded
        (600, 10, 100, 0),  # ten minutes
        (9, 1, 0, 10),  # never really connected: full refund
        (10, 1, 2, 8),  # 10 s is billed, rounded up to a whole token
        (61, 2, 11, 9),  # one second into minute two
    ],
)
def test_settlement_charges_seconds_rounded_up_never_more_than_minutes_started(seconds, minutes, paid, refunded):
    result = billing.settle(fan=[iv(0, seconds)], creator=[iv(0, seconds)], end=at(seconds), rate=10, minutes_charged=minutes)
    assert (result.active_seconds, result.tokens_charged, result.tokens_paid, result.tokens_refunded) == (
        seconds, minutes * 10, paid, refunded)


def test_settlement_never_charges_more_than_the_minutes_started():
    result = billing.settle(fan=[iv(0, 200)], creator=[iv(0, 200)], end=at(200), rate=7, minutes_charged=2)
    assert result.tokens_paid == 14 and result.tokens_refunded == 0


def test_minutes_are_due_at_each_minute_boundary_of_billable_time():
    assert billing.minutes_due(0) == 1
    assert billing.minutes_due(59_999_999) == 1
    assert billing.minutes_due(60_000_000) == 2


def test_silent_party_is_present_until_the_last_heartbeat_only():
    assert billing.presence_end(left_at=None, last_seen_at=at(10), now=at(25)) == at(25)
    assert billing.presence_end(left_at=None, last_seen_at=at(10), now=at(31)) == at(10)
    assert billing.presence_end(left_at=at(12), last_seen_at=at(10), now=at(99)) == at(12)


def test_instant_of_billable_walks_across_pauses():
    fan = [iv(0, 30), iv(50, 200)]
    creator = [iv(0, 200)]
    assert billing.instant_of_billable(fan, creator, 60 * billing.SECOND_US) == at(80)
    assert billing.instant_of_billable(fan, creator, 999 * billing.SECOND_US) is None


def test_drop_time_is_the_same_however_late_it_is_noticed():
    fan = [iv(0, 40)]
    creator = [iv(0, 500)]
    window = timedelta(seconds=60)
    assert billing.drop_time(fan, creator, since=at(0), now=at(90), window=window) is None
    for late in (100, 101, 500, 5000):
        assert billing.drop_time(fan, creator, since=at(0), now=at(late), window=window) == at(100)
    # Back within the window: no drop, even after a gap.
    assert billing.drop_time([iv(0, 40), iv(90, 300)], creator, since=at(0), now=at(300), window=window) is None
    # Back too late: dropped when the window ran out, not when they came back.
    assert billing.drop_time([iv(0, 40), iv(120, 300)], creator, since=at(0), now=at(300), window=window) == at(100)


def test_refund_plan_takes_from_the_latest_minutes():
    assert billing.refund_plan(rate=10, minutes_charged=3, refund=5) == [(3, 5)]
    assert billing.refund_plan(rate=10, minutes_charged=3, refund=25) == [(3, 10), (2, 10), (1, 5)]
    assert billing.refund_plan(rate=10, minutes_charged=3, refund=0) == []
    with pytest.raises(ValueError):
        billing.refund_plan(rate=10, minutes_charged=1, refund=11)


intervals = st.lists(st.tuples(st.integers(0, 3600), st.integers(0, 600)), max_size=6).map(
    lambda pairs: [iv(start, start + length) for start, length in pairs]
)


@given(fan=intervals, creator=intervals, rate=st.integers(1, 500), end=st.integers(0, 4300))
def test_settlement_invariants(fan, creator, rate, end):
    billable = billing.billable_us(fan, creator, until=at(end))
    minutes = billing.minutes_due(billable) if billable else 1
    result = billing.settle(fan=fan, creator=creator, end=at(end), rate=rate, minutes_charged=minutes)
    assert 0 <= result.tokens_paid <= result.tokens_charged == minutes * rate
    assert result.tokens_paid + result.tokens_refunded == result.tokens_charged
    assert sum(amount for _, amount in billing.refund_plan(rate=rate, minutes_charged=minutes, refund=result.tokens_refunded)) == result.tokens_refunded
    # The same events settle the same way: a retry is a no-op.
    assert billing.settle(fan=list(reversed(fan)), creator=creator, end=at(end), rate=rate, minutes_charged=minutes) == result
