"""Content reported by MODERATION_AUTO_HIDE_REPORTS different people is hidden until reviewed."""

import pytest
from django.test import Client

from accounts.models import AuditEntry
from accounts.tests.factories import make_user
from digis.testing import run_concurrently
from moderation import selectors, services
from moderation.models import HiddenTarget
from notifications.models import Notification


def report(reporter, creator, kind="profile"):
    return services.file_report(reporter=reporter, target_kind=kind, target_id=str(creator.pk), reason="illegal")


@pytest.mark.django_db
def test_the_third_reporter_hides_the_profile_until_reviewed(creator, reporters, moderator, settings):
    settings.MODERATION_AUTO_HIDE_REPORTS = 3
    browser = Client()
    report(reporters[0], creator)
    report(reporters[0], creator)  # the same person again counts once
    report(reporters[1], creator, kind="user")  # another kind of target: counted on its own
    report(reporters[1], creator)
    assert browser.get("/@carol").status_code == 200

    third = report(reporters[2], creator)

    assert browser.get("/@carol").status_code == 404
    hidden = HiddenTarget.objects.get(target_kind="profile", target_id=str(creator.pk))
    assert hidden.automatic and hidden.hidden_by is None
    entry = AuditEntry.objects.get(action="moderation.auto_hide")
    assert entry.actor is None and entry.after == {"hidden": True, "reporters": 3} and entry.target_id == str(third.pk)
    assert "hidden for now" in Notification.objects.get(recipient=creator, kind="moderation").text
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(moderator)
    detail = api.get(f"/api/staff/reports/{third.pk}/").json()
    assert detail["hidden"] is True and detail["audit"][0] == {**detail["audit"][0], "action": "moderation.auto_hide", "actor": None}
    assert "restore" in detail["actions"] and "hide" not in detail["actions"]

    # a moderator finds nothing wrong: dismissing brings it back and says so
    services.take_action(actor=moderator, report_id=third.pk, action="dismiss", reason="Fine")
    assert browser.get("/@carol").status_code == 200
    assert not selectors.is_hidden("profile", str(creator.pk))
    assert "visible again" in Notification.objects.filter(recipient=creator).order_by("-created_at").first().text


@pytest.mark.django_db
def test_a_moderator_who_hides_it_keeps_it_hidden(creator, reporters, moderator, settings):
    settings.MODERATION_AUTO_HIDE_REPORTS = 2
    report(reporters[0], creator)
    second = report(reporters[1], creator)
    services.take_action(actor=moderator, report_id=second.pk, action="hide", reason="Confirmed")
    hidden = HiddenTarget.objects.get(restored_at__isnull=True)
    assert not hidden.automatic and hidden.hidden_by == moderator
    # a later warn (on a new report) does not bring back what a moderator took down
    third = report(reporters[2], creator)
    services.take_action(actor=moderator, report_id=third.pk, action="warn", reason="Again")
    assert selectors.is_hidden("profile", str(creator.pk))


@pytest.mark.django_db
def test_zero_turns_it_off_and_a_fan_without_a_profile_is_left_to_moderators(creator, reporters, settings):
    settings.MODERATION_AUTO_HIDE_REPORTS = 0
    for reporter in reporters[:4]:
        report(reporter, creator)
    assert not HiddenTarget.objects.exists()
    settings.MODERATION_AUTO_HIDE_REPORTS = 2
    fan = make_user("fan")
    for reporter in reporters[:3]:
        services.file_report(reporter=reporter, target_kind="user", target_id="fan", reason="spam")
    assert not HiddenTarget.objects.filter(target_id=str(fan.pk)).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.slow
def test_reports_arriving_at_once_hide_it_exactly_once(settings):
    from creators.tests.factories import make_creator_profile

    settings.MODERATION_AUTO_HIDE_REPORTS = 3
    creator = make_user("target", role="creator")
    make_creator_profile(creator)
    reporters = [make_user(f"racer{i}") for i in range(5)]

    results = run_concurrently([lambda r=r: report(r, creator) for r in reporters])

    assert not [r for r in results if isinstance(r, BaseException)], results
    assert HiddenTarget.objects.filter(target_id=str(creator.pk)).count() == 1
    assert AuditEntry.objects.filter(action="moderation.auto_hide").count() == 1
    assert Notification.objects.filter(recipient=creator, kind="moderation").count() == 1
