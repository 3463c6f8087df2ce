"""Reporting over the API, the hourly limit, and the moderators' endpoints."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import make_user
from moderation.models import Report

pytestmark = pytest.mark.django_db


def file(client, target, **extra):
    return client.post("/api/reports/", {"target_kind": "profile", "target_id": target, "reason": "spam", **extra}, format="json")


def test_reporting_a_profile_and_seeing_only_your_own_reports(api_as, creator, reporters):
    alice, mallory = reporters[0], make_user("mallory")
    first = file(api_as(alice), "carol", note="Scam link in bio")
    assert first.status_code == 201
    body = first.json()
    assert body["status"] == "open" and body["target_username"] == "carol" and body["target_id"] == str(creator.pk)
    again = file(api_as(alice), str(creator.pk))
    assert again.status_code == 200 and again.json()["id"] == body["id"]

    assert [r["id"] for r in api_as(alice).get("/api/reports/").json()["results"]] == [body["id"]]
    assert api_as(mallory).get("/api/reports/").json()["results"] == []  # mallory sees none of alice's
    assert api_as(mallory).get(f"/api/staff/reports/{body['id']}/").status_code == 404
    assert api_as(mallory).post(f"/api/staff/reports/{body['id']}/actions/", {"action": "dismiss", "reason": "x"}, format="json").status_code == 404


@pytest.mark.parametrize("payload, status, code", [
    ({"target_kind": "profile", "target_id": "carol", "reason": "because"}, 400, "invalid"),
    ({"target_kind": "planet", "target_id": "carol", "reason": "spam"}, 400, "invalid"),
    ({"target_kind": "profile", "target_id": "nobody", "reason": "spam"}, 404, "report_target_not_found"),
    ({"target_kind": "profile", "target_id": "reporter0", "reason": "spam"}, 404, "report_target_not_found"),  # no profile
    ({"target_kind": "user", "target_id": "reporter0", "reason": "spam"}, 404, "report_target_not_found"),  # yourself
    ({"target_kind": "message", "target_id": "123", "reason": "spam"}, 404, "report_target_not_found"),  # not registered yet
    ({"target_kind": "user", "target_id": "x" * 65, "reason": "spam"}, 400, "invalid"),
])
def test_bad_reports_are_refused_with_a_code(api_as, creator, reporters, payload, status, code):
    response = api_as(reporters[0]).post("/api/reports/", payload, format="json")
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert not Report.objects.exists()


def test_reports_per_hour_are_limited(api_as, reporters, settings):
    settings.MODERATION_REPORTS_PER_HOUR = 3
    mallory = make_user("mallory")
    targets = [make_user(f"victim{i}") for i in range(5)]
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        for i, target in enumerate(targets[:3]):
            traveller.move_to(start + dt.timedelta(minutes=i))
            assert api_as(mallory).post("/api/reports/", {"target_kind": "user", "target_id": target.username, "reason": "spam"}, format="json").status_code == 201
        response = api_as(mallory).post("/api/reports/", {"target_kind": "user", "target_id": "victim3", "reason": "spam"}, format="json")
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "report_rate_limited"
        assert int(response["Retry-After"]) == 60 * 60 - 2 * 60  # until the oldest of the three is an hour old
        # a repeat of an open report is not a new one: still answered
        assert api_as(mallory).post("/api/reports/", {"target_kind": "user", "target_id": "victim0", "reason": "spam"}, format="json").status_code == 200
        traveller.move_to(start + dt.timedelta(hours=1, seconds=1))
        assert api_as(mallory).post("/api/reports/", {"target_kind": "user", "target_id": "victim3", "reason": "spam"}, format="json").status_code == 201
    assert Report.objects.filter(reporter=mallory).count() == 4


def test_the_queue_filters_and_the_detail(api_as, moderator, creator, reporters):
    spam = file(api_as(reporters[0]), "carol").json()
    api_as(reporters[1]).post("/api/reports/", {"target_kind": "user", "target_id": "reporter0", "reason": "harassment"}, format="json")
    mod = api_as(moderator)

    queue = mod.get("/api/staff/reports/").json()
    assert queue["count"] == 2
    assert [r["target_kind"] for r in mod.get("/api/staff/reports/?target_kind=profile").json()["results"]] == ["profile"]
    assert mod.get("/api/staff/reports/?status=bogus").json()["error"]["code"] == "invalid_filter"
    assert mod.get("/api/staff/reports/?assigned=me").json()["count"] == 0

    assert mod.post(f"/api/staff/reports/{spam['id']}/assign/", {}, format="json").json()["status"] == "in_review"
    assert mod.get("/api/staff/reports/?assigned=me").json()["count"] == 1
    assert mod.get("/api/staff/reports/?status=in_review").json()["count"] == 1

    detail = mod.get(f"/api/staff/reports/{spam['id']}/").json()
    assert detail["content"]["title"].startswith("carol") and "giveaway" in detail["content"]["text"]
    assert detail["reporter_history"]["total"] == 0 and detail["reported_history"]["total"] == 0
    assert set(detail["actions"]) >= {"dismiss", "warn", "hide", "suspend", "ban", "freeze_payouts"}

    acted = mod.post(f"/api/staff/reports/{spam['id']}/actions/", {"action": "suspend", "reason": "Scam", "days": 3}, format="json")
    assert acted.status_code == 200 and acted.json()["status"] == "resolved" and acted.json()["outcome"] == "suspend"
    assert mod.get(f"/api/staff/reports/{spam['id']}/").json()["audit"][-1]["action"] == "moderation.suspend"
    assert mod.get("/api/staff/reports/?status=resolved").json()["count"] == 1
    bad = mod.post(f"/api/staff/reports/{spam['id']}/actions/", {"action": "suspend", "reason": "x", "days": 0}, format="json")
    assert bad.status_code == 400
    closed = mod.post(f"/api/staff/reports/{spam['id']}/actions/", {"action": "dismiss", "reason": "x"}, format="json")
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "report_closed"


def test_a_report_id_that_does_not_exist(api_as, moderator):
    assert api_as(moderator).get("/api/staff/reports/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert api_as(moderator).get("/api/staff/reports/not-a-uuid/").status_code == 404


@pytest.mark.parametrize("query, field", [("cursor=not-a-cursor", "cursor"), ("page_size=0", "page_size"), ("page_size=null", "page_size")])
def test_your_reports_refuse_a_bad_cursor_or_page_size_with_a_code(api_as, reporters, query, field):
    response = api_as(reporters[0]).get(f"/api/reports/?{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
