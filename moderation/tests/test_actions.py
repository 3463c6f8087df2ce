"""Each moderator action: its effect, its audit row, and who is told what."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEntry, User
from accounts.tests.factories import make_user
from ledger.services import balance_of
from moderation import selectors, services
from moderation.exceptions import ActionNotAvailable, InvalidAction, ReportNotFound
from moderation.models import HiddenTarget, Report, ReportStatus
from moderation.tests.conftest import send_paid_message
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def report_profile(reporter, creator, reason="spam"):
    return services.file_report(reporter=reporter, target_kind="profile", target_id=str(creator.pk), reason=reason)


def notices(user):
    return list(Notification.objects.filter(recipient=user, kind="moderation").values_list("text", flat=True))


def audit(report, action):
    return AuditEntry.objects.get(target_type="moderation.report", target_id=str(report.pk), action=f"moderation.{action}")


def test_dismiss_closes_every_open_report_on_the_target_and_tells_the_reporters(moderator, creator, reporters):
    first = report_profile(reporters[0], creator)
    second = report_profile(reporters[1], creator, reason="impersonation")

    services.take_action(actor=moderator, report_id=first.pk, action="dismiss", reason="Bio is a joke, not a scam")

    for report in (first, second):
        report.refresh_from_db()
        assert report.status == ReportStatus.DISMISSED and report.outcome == "dismiss" and report.resolved_by == moderator
    entry = audit(first, "dismiss")
    assert entry.actor == moderator and entry.reason == "Bio is a joke, not a scam"
    assert entry.before["reports"] == {str(first.pk): "open", str(second.pk): "open"}
    assert entry.after["reports"] == {str(first.pk): "dismissed", str(second.pk): "dismissed"}
    assert "found it breaks no rules" in notices(reporters[0])[0] and "@carol" in notices(reporters[0])[0]
    assert len(notices(reporters[1])) == 1
    assert notices(creator) == []  # nothing happened to carol: she is not bothered
    with pytest.raises(ActionNotAvailable):  # a decided report is not dismissed again
        services.take_action(actor=moderator, report_id=first.pk, action="dismiss", reason="again")


def test_warn_tells_the_reported_person_in_words(moderator, creator, reporters):
    report = report_profile(reporters[0], creator, reason="harassment")
    services.take_action(actor=moderator, report_id=report.pk, action="warn", reason="First offence", message="Keep it civil.")
    report.refresh_from_db()
    assert report.status == ReportStatus.RESOLVED and report.outcome == "warn"
    (to_carol,) = notices(creator)
    assert "warning you" in to_carol and "harassment" in to_carol and "Keep it civil." in to_carol
    assert "warned them" in notices(reporters[0])[0]
    assert audit(report, "warn").reason == "First offence"


def test_hide_takes_the_profile_off_everything_public_and_restore_brings_it_back(moderator, creator, reporters):
    report = report_profile(reporters[0], creator)
    browser = Client()
    assert browser.get("/@carol").status_code == 200

    services.take_action(actor=moderator, report_id=report.pk, action="hide", reason="Scam bio")

    assert browser.get("/@carol").status_code == 404
    assert "carol" not in [c["username"] for c in browser.get("/api/creators/").json()["results"]]
    assert selectors.is_hidden("profile", str(creator.pk))
    assert audit(report, "hide").after["hidden"] is True and audit(report, "hide").before["hidden"] is False
    assert "took it down" in notices(creator)[0]
    assert "removed the content" in notices(reporters[0])[0]

    services.take_action(actor=moderator, report_id=report.pk, action="restore", reason="Bio fixed")
    assert browser.get("/@carol").status_code == 200
    assert not selectors.is_hidden("profile", str(creator.pk))
    assert "visible again" in notices(creator)[0]
    assert len(notices(reporters[0])) == 1  # told once, when the report was decided


def test_suspend_for_days_and_ban_for_good_through_accounts(moderator, creator, reporters):
    report = report_profile(reporters[0], creator)
    services.take_action(actor=moderator, report_id=report.pk, action="suspend", reason="Scam", days=7)
    carol = User.objects.get(pk=creator.pk)
    assert carol.is_banned and carol.banned_until - timezone.now() > dt.timedelta(days=6, hours=23)
    assert AuditEntry.objects.filter(action="user.suspend", target_id=str(creator.pk), actor=moderator).exists()
    assert audit(report, "suspend").after["banned_until"] is not None
    assert "suspended for 7 days" in notices(creator)[0]
    assert "took action against the account" in notices(reporters[0])[0]

    services.take_action(actor=moderator, report_id=report.pk, action="ban", reason="Came back and did it again",
                         message="Appeals go to support.")
    carol.refresh_from_db()
    assert carol.is_banned and carol.banned_until is None
    # One notice per decision (accounts' user_banned hook carries moderation's
    # words), never the audit reason, and the moderator's note
    told = notices(creator)
    assert len(told) == 2
    assert any("banned after a moderator reviewed" in text and "Appeals go to support." in text for text in told)
    assert not any("Scam" in text or "did it again" in text for text in told)


@pytest.mark.parametrize("days", [None, 0, 366, True])
def test_a_suspension_needs_1_to_365_days(moderator, creator, reporters, days):
    report = report_profile(reporters[0], creator)
    with pytest.raises(InvalidAction):
        services.take_action(actor=moderator, report_id=report.pk, action="suspend", reason="x", days=days)
    assert not User.objects.get(pk=creator.pk).is_banned


def test_freezing_payouts_is_what_the_payouts_app_reads(moderator, creator, reporters, registry):
    heard = []
    registry.register_payout_freeze_listener(lambda **kw: heard.append((kw["user"].pk, kw["frozen"])))
    report = report_profile(reporters[0], creator)

    services.take_action(actor=moderator, report_id=report.pk, action="freeze_payouts", reason="Chargebacks piling up")
    assert selectors.payouts_frozen(creator) is True
    assert heard == [(creator.pk, True)]
    assert "payouts are on hold" in notices(creator)[0].lower()
    assert audit(report, "freeze_payouts").after["payouts_frozen"] is True
    assert "lift_payout_freeze" in selectors.available_actions(report)

    services.take_action(actor=moderator, report_id=report.pk, action="lift_payout_freeze", reason="Cleared")
    assert selectors.payouts_frozen(creator) is False and heard[-1] == (creator.pk, False)
    with pytest.raises(ActionNotAvailable):
        services.take_action(actor=moderator, report_id=report.pk, action="lift_payout_freeze", reason="again")


def test_refunding_buyers_of_taken_down_content(moderator, creator, reporters, paid_messages):
    buyer = make_user("buyer")
    message = send_paid_message(buyer, creator, amount=50)
    assert balance_of(user=buyer) == 0
    report = services.file_report(reporter=buyer, target_kind="message", target_id=str(message.pk), reason="spam")
    assert "refund_buyers" in selectors.available_actions(report)

    services.take_action(actor=moderator, report_id=report.pk, action="refund_buyers", reason="Spam sold as advice")

    assert balance_of(user=buyer) == 50  # refunded in full through the ledger
    assert str(message.pk) in paid_messages  # and taken down
    entry = audit(report, "refund_buyers")
    assert entry.after["detail"] == {"refunds": 1, "tokens": 50} and entry.after["hidden"] is True
    assert "refunded the 1 purchase of it (50 tokens)" in notices(creator)[0]
    # a second refund is a no-op under the same key
    services.take_action(actor=moderator, report_id=report.pk, action="refund_buyers", reason="double click")
    assert balance_of(user=buyer) == 50
    from ledger.checks import run_all

    assert all(not problems for problems in run_all().values())


def test_kinds_without_hooks_offer_no_such_action(moderator, reporters, registry):
    fan = make_user("fan")
    registry.register_target("stream", lambda target_id, reporter: (fan, target_id))  # a resolver only
    report = services.file_report(reporter=reporters[0], target_kind="stream", target_id="live-1", reason="illegal")
    actions = selectors.available_actions(report)
    assert "hide" not in actions and "refund_buyers" not in actions and "ban" in actions
    for action in ("hide", "refund_buyers"):
        with pytest.raises(ActionNotAvailable):
            services.take_action(actor=moderator, report_id=report.pk, action=action, reason="x")


def test_only_moderators_act_and_nobody_decides_about_themselves(moderator, other_moderator, creator, reporters):
    mallory = make_user("mallory")
    report = report_profile(reporters[0], creator)
    with pytest.raises(ReportNotFound):
        services.take_action(actor=mallory, report_id=report.pk, action="ban", reason="I don't like her")
    with pytest.raises(ReportNotFound):
        services.assign_report(actor=mallory, report_id=report.pk)
    about_mod = services.file_report(reporter=reporters[1], target_kind="user", target_id="mod", reason="harassment")
    with pytest.raises(ActionNotAvailable):
        services.take_action(actor=moderator, report_id=about_mod.pk, action="dismiss", reason="nonsense")
    # another moderator may decide it, but not ban staff (accounts' rule)
    from accounts.exceptions import NotAllowed

    with pytest.raises(NotAllowed):
        services.take_action(actor=other_moderator, report_id=about_mod.pk, action="ban", reason="x")
    about_mod.refresh_from_db()
    assert about_mod.status == ReportStatus.OPEN  # the refusal changed nothing
    assert not AuditEntry.objects.filter(target_id=str(about_mod.pk)).exists()


def test_a_reason_is_required(moderator, creator, reporters):
    report = report_profile(reporters[0], creator)
    with pytest.raises(InvalidAction):
        services.take_action(actor=moderator, report_id=report.pk, action="warn", reason="  ")
    with pytest.raises(InvalidAction):
        services.take_action(actor=moderator, report_id=report.pk, action="explode", reason="x")


def test_an_action_that_fails_halfway_changes_nothing(moderator, reporters, registry):
    owner = make_user("owner")

    def hide(**kwargs):
        HiddenTarget.objects.filter(pk=-1).delete()  # some work, then
        raise RuntimeError("the content's app failed")

    registry.register_target("stream", lambda target_id, reporter: (owner, target_id), hide=hide)
    report = services.file_report(reporter=reporters[0], target_kind="stream", target_id="s1", reason="illegal")
    with pytest.raises(RuntimeError):
        services.take_action(actor=moderator, report_id=report.pk, action="hide", reason="x")
    report.refresh_from_db()
    assert report.status == ReportStatus.OPEN
    assert not HiddenTarget.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="moderation.").exists()
    assert not Notification.objects.filter(kind="moderation").exists()


def test_assigning_is_first_come_and_take_over_is_audited(moderator, other_moderator, creator, reporters):
    from moderation.exceptions import ReportTaken

    report = report_profile(reporters[0], creator)
    services.assign_report(actor=moderator, report_id=report.pk)
    report.refresh_from_db()
    assert report.assigned_to == moderator and report.status == ReportStatus.IN_REVIEW
    with pytest.raises(ReportTaken):
        services.assign_report(actor=other_moderator, report_id=report.pk)
    services.assign_report(actor=other_moderator, report_id=report.pk, take_over=True)
    report.refresh_from_db()
    assert report.assigned_to == other_moderator
    assert audit(report, "take_over").before["assigned_to"] == str(moderator.pk)
    services.assign_report(actor=other_moderator, report_id=report.pk, release=True)
    report.refresh_from_db()
    assert report.assigned_to is None and report.status == ReportStatus.OPEN
    assert Report.objects.count() == 1
