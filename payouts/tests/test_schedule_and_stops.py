"""The weekly schedule, held payouts of banned or indebted creators, and the sweep."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import make_user
from ledger import services as ledger
from notifications.models import Notification
from payouts import selectors, services
from payouts.exceptions import PayoutsSuspended
from payouts.models import Payout, PayoutSchedule, PayoutStatus, PayoutTrigger
from payouts.tests.factories import buy_tokens, earn, manual_account


def next_weekday(day: int, hour: int = 9) -> dt.datetime:
    now = timezone.now()
    date = now.date() + dt.timedelta(days=(day - now.weekday()) % 7 or 7)
    return dt.datetime.combine(date, dt.time(hour), tzinfo=dt.UTC)


@pytest.mark.django_db
def test_weekly_payouts_are_made_once_a_week_for_creators_who_chose_it(alice, bob, carol, settings):
    settings.LEDGER_POST_IN_DATABASE = False
    settings.PAYOUT_HOLD_DAYS = 0
    settings.PAYOUT_WEEKLY_DAY = "wednesday"
    # A Wednesday at least a week away, earnings the Thursday before: the same
    # dates relative to each other whatever day the suite runs on.
    wednesday = next_weekday(2) + dt.timedelta(days=7)
    with time_machine.travel(wednesday - dt.timedelta(days=6), tick=False):
        buy_tokens(alice, 5000)
        earn(bob, alice, 1000)  # 800
        earn(carol, alice, 1000)
        manual_account(bob, schedule=PayoutSchedule.WEEKLY)
        manual_account(carol, schedule=PayoutSchedule.ON_REQUEST)

    with time_machine.travel(wednesday - dt.timedelta(days=1), tick=False):  # Tuesday of its week: not yet
        assert services.create_scheduled_payouts() == 0
    with time_machine.travel(wednesday, tick=False):
        assert services.create_scheduled_payouts() == 1
        assert services.create_scheduled_payouts() == 0  # the hourly job again: once a week
    payout = Payout.objects.get()
    assert payout.creator == bob and payout.trigger == PayoutTrigger.SCHEDULE and payout.tokens == 800
    assert payout.schedule_key == selectors.schedule_key(wednesday)
    with time_machine.travel(wednesday + dt.timedelta(days=3), tick=False):  # Saturday, same week
        assert services.create_scheduled_payouts() == 0


@pytest.mark.django_db
def test_the_schedule_skips_creators_below_the_minimum_and_tries_again_later_that_week(alice, bob, settings):
    settings.LEDGER_POST_IN_DATABASE = False
    settings.PAYOUT_HOLD_DAYS = 0
    buy_tokens(alice, 5000)
    manual_account(bob, schedule=PayoutSchedule.WEEKLY)
    monday = next_weekday(0)
    with time_machine.travel(monday, tick=False):
        earn(bob, alice, 100)
        assert services.create_scheduled_payouts() == 0
    with time_machine.travel(monday + dt.timedelta(days=1), tick=False):
        earn(bob, alice, 1000)
        assert services.create_scheduled_payouts() == 1
    assert Payout.objects.get().tokens == 880


@pytest.mark.django_db
def test_a_moderators_payout_freeze_holds_payouts_until_lifted(alice, bob, settings):
    from moderation.models import PayoutFreeze

    settings.PAYOUT_HOLD_DAYS = 0
    staff = make_user("olivia", is_staff=True, is_superuser=True)
    buy_tokens(alice, 1000)
    earn(bob, alice, 1000)
    manual_account(bob)
    # (the row moderation.services writes when a moderator freezes payouts over a report)
    freeze = PayoutFreeze.objects.create(user=bob, reason="reports under review", frozen_by=staff)

    with pytest.raises(PayoutsSuspended, match="on hold while moderators review"):
        services.request_payout(user=bob)
    assert not Payout.objects.exists()

    PayoutFreeze.objects.filter(pk=freeze.pk).update(lifted_at=timezone.now(), lifted_by=staff)
    assert services.request_payout(user=bob).tokens == 800


@pytest.mark.django_db
def test_a_banned_creators_approved_payout_is_held_not_sent(alice, bob, settings, connect):
    from accounts.services import ban_user, unban_user

    settings.PAYOUT_HOLD_DAYS = 0
    staff = make_user("olivia", is_staff=True, is_superuser=True)
    connect(bob)
    buy_tokens(alice, 1000)
    earn(bob, alice, 1000)
    payout = services.request_payout(user=bob)
    services.approve_payout(payout_id=payout.pk, actor=staff)
    ban_user(actor=staff, user=bob, reason="under investigation")

    assert services.send_payout(payout_id=payout.pk) == "held"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED and "suspended" in payout.held_reason
    assert services.sweep()["held"] == 1  # the sweep keeps it held
    held = Notification.objects.filter(recipient=bob, text__contains="on hold")
    assert held.count() == 1 and "suspended" in held.get().text  # told once, however often the sweep looks

    unban_user(actor=staff, user=bob, reason="cleared")
    assert services.sweep()["sent"] == 1
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SENT and payout.held_reason == ""


@pytest.mark.django_db
def test_a_creator_who_owes_tokens_is_held_too(alice, bob, settings, connect):
    settings.PAYOUT_HOLD_DAYS = 0
    staff = make_user("olivia", is_staff=True, is_superuser=True)
    connect(bob)
    buy_tokens(alice, 1000)
    earn(bob, alice, 1000)
    buy_tokens(bob, 50)
    payout = services.request_payout(user=bob)
    services.approve_payout(payout_id=payout.pk, actor=staff)
    # bob's own card payment is charged back after he spent it: he owes 50 - 50 + ... tokens
    earn(alice, bob, 50)
    ledger.claw_back(user=bob, tokens=50, idempotency_key="test-bob-chargeback", reference="test", kind="chargeback")

    assert services.send_payout(payout_id=payout.pk) == "held"
    assert "owe 50 tokens" in Payout.objects.get(pk=payout.pk).held_reason
