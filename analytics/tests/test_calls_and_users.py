"""Call success and active users against hand-computed figures."""

import datetime as dt

import pytest

from analytics import rollups, selectors
from analytics.models import ActiveUserDay
from analytics.selectors import Period
from analytics.tests.conftest import at, ended_call
from accounts.tests.factories import make_user

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 2, 3)


@pytest.fixture
def calls_day(people, clock):
    """Ten calls that ended on 2026-02-03 (UTC) and one the day before."""
    alice, bob, carol = people
    noon = at(2026, 2, 3, 12)
    # bob: 4 completed (60, 120, 300, 600 s), 1 ran out of tokens (90 s), 1 dropped (30 s),
    #      1 failed (answered, never connected), 1 missed
    for seconds in (60, 120, 300, 600):
        ended_call(alice, bob, ended_at=noon, seconds=seconds)
    ended_call(alice, bob, ended_at=noon, reason="insufficient_funds", seconds=90)
    ended_call(alice, bob, ended_at=noon, reason="dropped", seconds=30)
    ended_call(alice, bob, ended_at=noon, reason="failed", connected=False)
    ended_call(alice, bob, ended_at=noon, reason="missed", answered=False, connected=False)
    # carol: 1 declined, 1 completed (45 s)
    ended_call(alice, carol, ended_at=at(2026, 2, 3, 23, 59), reason="declined", answered=False, connected=False)
    ended_call(alice, carol, ended_at=at(2026, 2, 3, 0, 0), seconds=45)
    ended_call(alice, carol, ended_at=at(2026, 2, 2, 23, 59), seconds=999)  # the day before
    clock.set(at(2026, 2, 5))
    return people


def check_day(totals):
    assert totals["rung"] == 10
    assert totals["answered"] == 8  # all but the missed and the declined
    assert totals["connected"] == 7
    assert totals["completed"] == 5 and totals["insufficient_funds"] == 1
    assert totals["ended_normally"] == 6
    assert totals["dropped"] == 1 and totals["failed"] == 1 and totals["missed"] == 1 and totals["declined"] == 1
    assert totals["answered_pct"] == 80.0 and totals["connected_pct"] == 70.0 and totals["ended_normally_pct"] == 60.0
    assert totals["connected_seconds"] == 60 + 120 + 300 + 600 + 90 + 30 + 45
    # durations 30 45 60 90 120 300 600: the median is 90 s, answered within 9 %
    assert 90 <= totals["median_seconds"] <= 90 * 1.09


def test_call_success_on_a_day_matches_the_hand_count(calls_day):
    check_day(selectors.calls(Period(DAY, DAY))["totals"])
    rollups.fill_all(now=at(2026, 2, 5))
    check_day(selectors.calls(Period(DAY, DAY))["totals"])


def test_call_success_per_creator(calls_day):
    rollups.fill_all(now=at(2026, 2, 5))
    rows = {row["username"]: row for row in selectors.creator_calls(Period(DAY, DAY))}
    assert list(rows) == ["bob", "carol"]  # most calls first
    bob = rows["bob"]
    assert (bob["rung"], bob["answered"], bob["connected"], bob["ended_normally"], bob["dropped"], bob["failed"]) == (8, 7, 6, 5, 1, 1)
    assert bob["median_seconds"] == 90  # connected: 30 60 90 120 300 600 -> the lower median, exact
    assert rows["carol"]["median_seconds"] == 45
    carol = rows["carol"]
    assert (carol["rung"], carol["connected"], carol["declined"]) == (2, 1, 1)


def test_comparison_uses_the_previous_period_of_equal_length(calls_day):
    period = Period(DAY, DAY)
    assert period.previous() == Period(dt.date(2026, 2, 2), dt.date(2026, 2, 2), key="previous")
    data = selectors.dashboard(period)
    assert data["calls"]["totals"]["rung"] == 10
    assert data["calls_previous"]["rung"] == 1
    week = Period(dt.date(2026, 2, 1), dt.date(2026, 2, 7))
    assert week.previous().start == dt.date(2026, 1, 25) and week.previous().days == 7


def test_active_users_daily_weekly_monthly(db, clock):
    # Given who was active on which day (what the recorder writes)
    people = [make_user(f"user{i}") for i in range(6)]
    days = {
        dt.date(2026, 3, 1): people[0:2],
        dt.date(2026, 3, 20): people[1:4],
        dt.date(2026, 3, 27): people[3:5],
        dt.date(2026, 3, 30): people[4:6],
    }
    for day, users in days.items():  # as the recorder's flushes write them
        rollups.add_active_users({(day, str(user.pk)) for user in users})
    clock.set(at(2026, 3, 31, 12))
    period = Period(dt.date(2026, 3, 24), dt.date(2026, 3, 30))
    assert ActiveUserDay.objects.count() == 9

    def check(figures):
        assert figures["dau"] == 2  # user4, user5 on the 30th
        assert figures["wau"] == 3  # 24th..30th: user3, user4, user5
        assert figures["mau"] == 6  # the 30 days 1st..30th: all six
        series = {point["start"]: point["active_users"] for point in figures["series"]}
        assert series[dt.date(2026, 3, 27)] == 2 and series[dt.date(2026, 3, 30)] == 2 and series[dt.date(2026, 3, 25)] == 0

    check(selectors.active_users(period))
    rollups.fill_all(now=at(2026, 3, 31, 12))
    assert rollups.days_filled_until() == dt.date(2026, 3, 31)
    check(selectors.active_users(period))


def test_as_of_today_weekly_and_monthly_use_each_users_last_day(db, clock):
    people = [make_user(f"user{i}") for i in range(4)]
    rollups.add_active_users({(dt.date(2026, 3, 1), str(people[0].pk)), (dt.date(2026, 3, 25), str(people[1].pk))})
    rollups.add_active_users({(dt.date(2026, 3, 31), str(people[1].pk)), (dt.date(2026, 3, 31), str(people[2].pk))})
    rollups.add_active_users({(dt.date(2026, 3, 20), str(people[2].pk))})  # a late flush never moves a last day back
    clock.set(at(2026, 3, 31, 12))
    figures = selectors.active_users(Period(dt.date(2026, 3, 25), dt.date(2026, 3, 31)))
    assert (figures["dau"], figures["wau"], figures["mau"]) == (2, 2, 2)  # user0 was active 31 days ago
    from analytics.models import ActiveUser

    assert ActiveUser.objects.get(user=people[2]).last_day == dt.date(2026, 3, 31)
