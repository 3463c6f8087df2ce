"""The report button and form, your reports page, and the moderators' pages (plain forms, no JavaScript)."""

import pytest
from django.test import Client

from moderation.models import Report

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    return Client()


def test_a_fan_reports_a_profile_from_its_page(browser, creator, reporters):
    alice = reporters[0]
    browser.force_login(alice)
    profile = browser.get("/@carol").content.decode()
    assert 'action="/reports/new/"' in profile and 'name="target" value="%s"' % creator.pk in profile

    response = browser.post("/reports/new/", {"kind": "profile", "target": str(creator.pk), "reason": "spam", "note": "Scam", "next": "/@carol"})
    assert response.status_code == 302 and response["Location"] == "/@carol"
    report = Report.objects.get()
    assert report.reporter == alice and report.target_user == creator and report.note == "Scam"
    mine = browser.get("/reports/").content.decode()
    assert "Waiting for review" in mine and "@carol" in mine


def test_the_report_form_says_what_is_wrong(browser, creator, reporters):
    browser.force_login(reporters[0])
    assert browser.get("/reports/new/?kind=profile&target=%s" % creator.pk).status_code == 200
    assert browser.get("/reports/new/").status_code == 400
    response = browser.post("/reports/new/", {"kind": "profile", "target": str(creator.pk), "reason": ""})
    assert response.status_code == 400 and b"Pick a reason" in response.content
    response = browser.post("/reports/new/", {"kind": "profile", "target": str(creator.pk), "reason": "spam", "next": "https://evil.example/"})
    assert response["Location"] == "/reports/"  # never an open redirect
    assert Client().get("/reports/new/?kind=profile&target=x").status_code == 302  # sign in first


def test_a_moderator_works_a_report_to_the_end_with_forms(browser, moderator, creator, reporters):
    from accounts.tests.factories import make_user

    report = Report.objects.create(reporter=reporters[0], target_kind="profile", target_id=str(creator.pk), target_user=creator, reason="spam")
    browser.force_login(moderator)

    queue = browser.get("/staff/moderation/").content.decode()
    assert f"/staff/moderation/reports/{report.pk}/" in queue and "@carol" in queue
    assert browser.get("/staff/moderation/?status=resolved").content.decode().count("/staff/moderation/reports/") == 0

    detail = browser.get(f"/staff/moderation/reports/{report.pk}/").content.decode()
    assert "giveaway" in detail and "Assign to me" in detail and "Freeze payouts" in detail

    assert browser.post(f"/staff/moderation/reports/{report.pk}/assign/").status_code == 302
    report.refresh_from_db()
    assert report.assigned_to == moderator

    response = browser.post(f"/staff/moderation/reports/{report.pk}/act/", {"action": "hide", "reason": "Scam bio", "message": "Remove the link"}, follow=True)
    assert response.status_code == 200 and b"Everyone involved has been told" in response.content
    report.refresh_from_db()
    assert report.status == "resolved" and report.outcome == "hide"
    assert b"moderation.hide" in response.content  # the audit trail on the page
    assert Client().get("/@carol").status_code == 404

    # a refused action shows its message and changes nothing
    response = browser.post(f"/staff/moderation/reports/{report.pk}/act/", {"action": "suspend", "reason": "x", "days": "abc"}, follow=True)
    assert b"1 to 365 days" in response.content
    assert browser.get("/staff/moderation/reports/00000000-0000-0000-0000-000000000000/").status_code == 404
    mallory = make_user("mallory")
    browser.force_login(mallory)
    assert browser.get(f"/staff/moderation/reports/{report.pk}/").status_code == 404
    assert browser.post(f"/staff/moderation/reports/{report.pk}/act/", {"action": "ban", "reason": "x"}).status_code == 404
