"""API performance: recorded per route in memory, flushed in batches, never a
write per request and never a failed request."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from analytics import recorder as recorder_module
from analytics import rollups, selectors
from analytics.models import ActiveUserDay, RouteDay, RouteHour
from analytics.recorder import Recorder, recorder
from analytics.selectors import Period
from analytics.tests.conftest import at

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_recorder():
    recorder.reset()
    yield
    recorder.reset()


def test_requests_are_counted_per_route_pattern_not_per_path(people):
    alice, bob, _ = people
    client = Client()
    client.force_login(alice)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert client.get(f"/api/users/{bob.pk}/").status_code == 200
        assert client.get("/api/users/00000000-0000-0000-0000-000000000000/").status_code == 404
        assert client.get("/no/such/page/").status_code == 404
    # nothing was written for analytics while serving
    assert not [q for q in queries.captured_queries if "analytics_" in q["sql"]]
    assert RouteHour.objects.count() == 0 and recorder.pending()[0] >= 2

    recorder.flush()

    row = RouteHour.objects.get(route="api/users/<uuid:id>/", method="GET")
    assert row.count == 4 and row.client_errors == 1 and row.server_errors == 0
    assert sum(row.buckets.values()) == 4
    assert RouteHour.objects.get(route=recorder_module.UNMATCHED_ROUTE).count == 1
    assert not RouteHour.objects.filter(route__contains=str(bob.pk)).exists()
    # and alice counts as active today, once however many requests she made
    assert ActiveUserDay.objects.filter(user=alice).count() == 1


def test_percentiles_and_error_rate_match_the_hand_computed_ones(db, clock):
    # 100 requests taking 1, 2, ..., 100 ms; 5 of them failed with a 500
    now = at(2026, 4, 2, 10, 30).timestamp()
    for ms in range(1, 101):
        recorder.observe(method="GET", route="api/things/", status=500 if ms % 20 == 0 else 200, duration_ms=ms, user_id=None, now=now)
    recorder.flush()
    clock.set(at(2026, 4, 2, 12))

    route = selectors.api_performance(Period(dt.date(2026, 4, 2), dt.date(2026, 4, 2)))["routes"][0]

    assert route["route"] == "/api/things/" and route["requests"] == 100
    # nearest rank: p50 = 50 ms, p95 = 95 ms, p99 = 99 ms; answered as the bucket's upper edge (< 9 % above)
    assert 50 <= route["p50_ms"] <= 50 * 1.09
    assert 95 <= route["p95_ms"] <= 95 * 1.09
    assert 99 <= route["p99_ms"] <= 99 * 1.09
    assert route["mean_ms"] == 50.5
    assert route["server_errors"] == 5 and route["error_rate_pct"] == 5.0


def test_processes_merge_into_one_row_and_days_sum_the_hours(db, clock):
    # two web processes served the same route in the same hour, a third an hour later
    first, second = Recorder(), Recorder()
    for proc, ms, hour in ((first, 10, 10), (second, 20, 10), (second, 40, 11)):
        proc.observe(method="POST", route="api/calls/", status=201, duration_ms=ms, user_id=None, now=at(2026, 4, 2, hour, 5).timestamp())
        proc.flush()
    assert RouteHour.objects.get(hour=at(2026, 4, 2, 10)).count == 2
    clock.set(at(2026, 4, 4))
    period = Period(dt.date(2026, 4, 2), dt.date(2026, 4, 2))
    live = selectors.api_performance(period)["routes"][0]
    rollups.fill_all(now=at(2026, 4, 4))
    assert RouteDay.objects.get(day=dt.date(2026, 4, 2)).count == 3
    assert selectors.api_performance(period)["routes"][0] == live
    assert live["requests"] == 3 and live["mean_ms"] == pytest.approx(23.3, abs=0.1)


def test_a_failed_flush_keeps_the_data_for_the_next_one(db, monkeypatch):
    recorder.observe(method="GET", route="api/wallet/", status=200, duration_ms=5, user_id=None)

    def database_down(routes):
        raise ConnectionError("database is down")

    monkeypatch.setattr(rollups, "merge_route_hours", database_down)
    assert recorder.flush() == 0
    assert recorder.pending()[0] == 1
    monkeypatch.undo()
    recorder.observe(method="GET", route="api/wallet/", status=200, duration_ms=7, user_id=None)
    recorder.flush()
    assert RouteHour.objects.get(route="api/wallet/").count == 2


def test_a_broken_recorder_never_fails_a_request(db, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("redis, disk, anything")

    monkeypatch.setattr(recorder, "observe", broken)
    assert Client().get("/healthz").status_code == 200


def test_the_middleware_calls_the_registered_observer():
    from analytics.recorder import observe_request
    from digis.middleware import request_observers

    assert request_observers.count(observe_request) == 1


@pytest.mark.postgres
def test_the_database_sums_routes_as_python_does(db, clock, monkeypatch):
    """On PostgreSQL the dashboard sums a period's routes in SQL; SQLite (the embedded default) merges in Python.
    Both give the same figures, over day rollups and the hours after them, for the period and the one before."""
    for day, hour, ms, status in ((1, 10, 3, 200), (1, 11, 30, 500), (2, 9, 7, 404), (2, 23, 250, 200), (3, 1, 12, 200)):
        for route in ("api/things/", "api/other/"):
            recorder.observe(method="GET", route=route, status=status, duration_ms=ms * (2 if route == "api/other/" else 1),
                             user_id=None, now=at(2026, 4, day, hour, 5).timestamp())
        recorder.flush()
    rollups.fill_all(now=at(2026, 4, 3, 6))  # April 1 and 2 as day rows; April 3 stays hours
    clock.set(at(2026, 4, 3, 6))
    for period in (Period(dt.date(2026, 4, 2), dt.date(2026, 4, 3)), Period(dt.date(2026, 4, 1), dt.date(2026, 4, 1))):
        in_sql = selectors.dashboard(period)["api"]
        monkeypatch.setattr(selectors, "_sums_in_database", lambda: False)
        in_python = selectors.dashboard(period)["api"]
        monkeypatch.undo()
        assert in_sql == in_python
        assert in_sql["overall"]["requests"] > 0
