"""The dashboard page, its charts and CSV downloads, and its JSON twin."""

import csv
import io

import pytest
from django.test import Client

from analytics.tests.conftest import at, ended_call, key, purchase
from ledger import services as ledger
from ledger.models import TransactionKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_day(people, clock, python_ledger):
    alice, bob, carol = people
    clock.set(at(2026, 5, 1, 9))
    purchase(alice, cents=1999, tokens=2200, at_time=at(2026, 5, 1, 9))
    clock.set(at(2026, 5, 1, 10))
    ledger.charge_with_fee(payer=alice, creator=bob, amount=300, kind=TransactionKind.TIP, idempotency_key=key())
    ledger.charge_with_fee(payer=alice, creator=carol, amount=100, kind=TransactionKind.CALL_CHARGE, idempotency_key=key())
    ended_call(alice, carol, ended_at=at(2026, 5, 1, 10, 30), seconds=600)
    clock.set(at(2026, 5, 2, 8))
    return people


@pytest.fixture
def page(staffer):
    client = Client()
    client.force_login(staffer)
    return client


def test_the_dashboard_shows_the_period_with_charts(busy_day, page):
    response = page.get("/staff/?period=custom&start=2026-05-01&end=2026-05-01")
    assert response.status_code == 200
    html = response.content.decode()
    assert "USD 19.99" in html  # card purchases, in money
    assert "<svg" in html and "Card purchases per day (money)" in html
    assert "@bob" in html and "@carol" in html  # top creators
    assert "No calls ended" not in html
    assert "<script>" not in html and "onclick" not in html  # CSP: no inline script


def test_each_chart_downloads_as_csv(busy_day, page):
    query = "period=custom&start=2026-05-01&end=2026-05-01"
    rows = list(csv.reader(io.StringIO(page.get(f"/staff/analytics/revenue.csv?{query}").content.decode())))
    header, day = rows[0], rows[1]
    record = dict(zip(header, day))
    assert record["day"] == "2026-05-01" and record["card_purchases_usd_cents"] == "1999"
    assert record["tokens_spent"] == "400" and record["platform_fees"] == "80" and record["spent_tip"] == "300"
    top = list(csv.reader(io.StringIO(page.get(f"/staff/analytics/top_creators.csv?{query}").content.decode())))
    assert top[1] == ["1", "bob", "240"] and top[2] == ["2", "carol", "80"]
    calls = list(csv.reader(io.StringIO(page.get(f"/staff/analytics/calls.csv?{query}").content.decode())))
    assert calls[1][:2] == ["2026-05-01", "1"]
    for chart in ("active_users", "creator_calls", "api"):
        response = page.get(f"/staff/analytics/{chart}.csv?{query}")
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert page.get("/staff/analytics/nothing.csv").status_code == 404


@pytest.mark.parametrize("query, code", [
    ("period=forever", "invalid_period"),
    ("period=custom&start=yesterday", "invalid_date"),
    ("period=custom&start=2026-05-02&end=2026-05-01", "invalid_period"),
    ("period=custom&start=2026-05-01&end=2099-01-01", "invalid_period"),
    ("period=custom&start=2020-01-01&end=2026-05-01", "invalid_period"),
    ("grain=hour", "invalid_grain"),
])
def test_bad_periods_are_a_400_with_a_code(busy_day, page, staffer, api_as, query, code):
    assert page.get(f"/staff/?{query}").status_code == 400
    assert page.get(f"/staff/analytics/revenue.csv?{query}").status_code == 400
    response = api_as(staffer).get(f"/api/staff/analytics/?{query}")
    assert response.status_code == 400 and response.json()["error"]["code"] == code


def test_the_api_returns_the_same_numbers(busy_day, staffer, api_as):
    body = api_as(staffer).get("/api/staff/analytics/?period=custom&start=2026-05-01&end=2026-05-01&grain=day").json()
    assert body["period"] == {"start": "2026-05-01", "end": "2026-05-01", "days": 1, "key": "custom"}
    assert body["revenue"]["totals"]["tokens_spent"] == 400
    assert body["revenue"]["totals"]["card_purchases"] == {"usd": {"cents": 1999, "count": 1, "tokens": 2200}}
    assert body["revenue_previous"]["tokens_spent"] == 0
    assert body["calls"]["totals"]["rung"] == 1 and body["calls"]["totals"]["connected_seconds"] == 600
    assert [row["username"] for row in body["top_creators"]] == ["bob", "carol"]
    assert set(body["right_now"]) == {"users_online", "live_calls", "calls_ringing", "live_streams"}


def test_weeks_and_months_group_the_revenue_series(busy_day, staffer, api_as):
    body = api_as(staffer).get("/api/staff/analytics/?period=custom&start=2026-04-01&end=2026-05-02&grain=month").json()
    assert [point["start"] for point in body["revenue"]["series"]] == ["2026-04-01", "2026-05-01"]
    assert body["revenue"]["series"][1]["tokens_spent"] == 400
    body = api_as(staffer).get("/api/staff/analytics/?period=custom&start=2026-04-27&end=2026-05-02&grain=week").json()
    assert [point["start"] for point in body["revenue"]["series"]] == ["2026-04-27"]  # Monday


def test_the_chart_is_drawn_from_the_numbers():
    from analytics.charts import chart

    svg = chart(title="T <x>", labels=["a", "b", "c"], series=[("Tips", [0, 5, 10])], chart_id="c1")
    assert svg.startswith("<svg") and "T &lt;x&gt;" in svg
    assert svg.count("<rect") == 2  # no bar for the zero
    assert "highest 10 on c" in svg  # the description screen readers get
    lines = chart(title="L", labels=[str(i) for i in range(60)], series=[("a", list(range(60))), ("b", [1] * 60)], kind="lines")
    assert lines.count("<polyline") == 2
