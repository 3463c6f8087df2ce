"""The operations console: staff open the dashboard from the menu; a fan reports a profile and a
moderator works the report to the end (assign, warn), and everyone involved hears the outcome."""

import re
import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_staff_open_the_dashboard_from_the_menu(new_context):
    # given the demo's console login ("ops": the staff and moderators groups)
    page = new_context("ops").new_page()
    page.goto("/")

    # when they pick Console in the menu under their name
    page.locator(".nav-menu summary").click()
    page.locator(".nav-menu").get_by_role("link", name="Console").click()

    # then the dashboard shows every section, with figures and charts drawn on the server
    expect(page).to_have_url(re.compile(r"/staff/$"))
    for heading in ("Right now", "Active users", "Revenue", "Top creators by net earnings", "Call success", "API performance"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.locator('[data-now="users_online"]')).to_have_text(re.compile(r"^\d[\d,]*$"))
    # The demo's tips went to luna, kai and maya: they lead the ranking.
    expect(page.locator("section[aria-labelledby='top-title']")).to_contain_text("luna")
    assert page.locator("svg").count() > 0

    # and a fan who tries the same address gets a 404 (the console does not reveal itself)
    fan = new_context("alice").new_page()
    response = fan.goto("/staff/")
    assert response is not None and response.status == 404


def test_a_fan_reports_a_profile_and_a_moderator_warns_its_owner(new_context):
    note = f"Bio asks for card numbers ({uuid.uuid4().hex[:6]})"

    # given a fan on a creator's profile
    fan = new_context("alice").new_page()
    fan.goto("/@noah")

    # when they report it
    fan.locator(".report-button summary").click()
    fan.get_by_label("Why are you reporting this?").select_option("spam")
    fan.get_by_label("Anything moderators should know? (optional)").fill(note)
    fan.get_by_role("button", name="Send report").click()
    expect(fan.locator(".flash")).to_contain_text("A moderator will review your report")

    # then a moderator finds it in the queue
    moderator = new_context("ops").new_page()
    moderator.goto("/staff/moderation/")
    row = moderator.locator("tbody tr", has_text="@noah").filter(has_text="@alice").filter(has_text="Spam")
    row.first.get_by_role("link").click()
    expect(moderator.locator("blockquote")).to_contain_text(note)

    # takes it and warns the creator, with a note to them
    moderator.get_by_role("button", name="Assign to me").click()
    expect(moderator.get_by_role("button", name="Put back in the queue")).to_be_visible()
    moderator.locator("details.action-form summary", has_text=re.compile(r"^Warn$")).click()
    form = moderator.locator("details.action-form[open] form")
    form.get_by_label("Reason (for the audit log)").fill("Spam link in the bio")
    form.get_by_label("Note to @noah (optional)").fill("Please remove the giveaway link.")
    form.get_by_role("button", name="Warn: confirm").click()

    # then the report is resolved and the decision is in its audit trail
    expect(moderator.locator("#report-status")).to_have_text("Resolved")
    expect(moderator.locator("#audit-trail")).to_contain_text("moderation.warn")

    # the reporter sees the outcome on their reports page
    fan.goto("/reports/")
    expect(fan.locator("tbody tr", has_text="@noah").first).to_contain_text("Reviewed: action taken")

    # and the creator was told, in words, with the moderator's note
    creator = new_context("noah")
    notices = creator.request.get("/api/notifications/").json()["results"]
    assert any("warning" in n["text"] and "Please remove the giveaway link." in n["text"] for n in notices), notices
