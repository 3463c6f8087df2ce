"""Each kind that exists today is created by its cause, inside the cause's transaction,
and leaves (socket, push) only after commit."""

from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from django.conf import settings

from accounts import services as accounts
from calls import services as calls
from calls.tests.conftest import fund, make_call_creator, online
from notifications.models import Notification, NotificationKind, PushSubscription
from notifications.services import subscribe_push

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def ringable(alice, bob):
    fund(alice, 1000)
    make_call_creator(bob)
    online(bob)
    return alice, bob


@pytest.mark.django_db
def test_a_ring_notifies_the_creator_and_pushes_after_commit(
    ringable, listen, push_service, eager_tasks, django_capture_on_commit_callbacks
):
    alice, bob = ringable
    browser = push_service.new_browser()
    subscribe_push(user=bob, **browser.subscription)
    tab = listen(bob)
    with django_capture_on_commit_callbacks(execute=True):
        call = calls.request_call(fan=alice, creator="bob", kind="video")
        notification = Notification.objects.get(recipient=bob, kind=NotificationKind.CALL_INCOMING)
        assert (notification.actor_id, notification.target_id, notification.url) == (alice.pk, str(call.pk), f"/calls/{call.pk}/")
        assert browser.messages == [] and tab.of_type("notification.new") == []  # nothing before commit
    assert [e["notification"]["id"] for e in tab.of_type("notification.new")] == [str(notification.pk)]
    [message] = browser.messages
    assert message.json()["kind"] == "call_incoming" and message.headers["urgency"] == "high"
    assert int(message.headers["ttl"]) <= settings.CALL_RING_TIMEOUT_S


@pytest.mark.django_db
def test_a_refused_ring_notifies_nobody(alice, bob):
    make_call_creator(bob)
    online(bob)
    with pytest.raises(Exception):
        calls.request_call(fan=alice, creator="bob", kind="video")  # alice has no tokens
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_an_unanswered_ring_becomes_one_missed_call(ringable):
    alice, bob = ringable
    with time_machine.travel(START, tick=False) as traveller:
        call = calls.request_call(fan=alice, creator="bob", kind="voice")
        traveller.shift(settings.CALL_RING_TIMEOUT_S + 1)
        calls.advance_call(call_id=call.pk)
        calls.advance_call(call_id=call.pk)  # the sweeper again: still one
    missed = Notification.objects.get(recipient=bob, kind=NotificationKind.CALL_MISSED)
    assert "voice call from alice" in missed.text
    assert missed.target_id == str(call.pk)


@pytest.mark.django_db
def test_a_declined_ring_is_not_a_missed_call(ringable):
    alice, bob = ringable
    call = calls.request_call(fan=alice, creator="bob", kind="video")
    calls.decline_call(call_id=call.pk, user=bob)
    assert not Notification.objects.filter(kind=NotificationKind.CALL_MISSED).exists()


@pytest.mark.django_db
def test_a_ban_and_its_lifting_notify_the_account_holder_and_email_them(alice, moderator, mailoutbox, eager_tasks, django_capture_on_commit_callbacks):
    alice.email_verified = True
    alice.save(update_fields=["email_verified"])
    until = datetime.now(timezone.utc) + timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        accounts.ban_user(actor=moderator, user=alice, reason="Spam in messages", until=until)
    notification = Notification.objects.get(recipient=alice, kind=NotificationKind.MODERATION)
    assert "suspended until" in notification.text and "Spam in messages" in notification.text
    assert notification.actor_id is None  # the moderator is not named
    [mail] = mailoutbox
    assert mail.to == [alice.email] and "Spam in messages" in mail.body
    with django_capture_on_commit_callbacks(execute=True):
        accounts.unban_user(actor=moderator, user=alice, reason="Appeal accepted")
        accounts.unban_user(actor=moderator, user=alice, reason="Clicked twice")  # not banned any more: no notice
    assert Notification.objects.filter(recipient=alice, kind=NotificationKind.MODERATION).count() == 2
    assert len(mailoutbox) == 2


@pytest.mark.django_db
def test_a_rolled_back_ban_leaves_no_notification(alice, moderator):
    from django.db import transaction

    with pytest.raises(RuntimeError):
        with transaction.atomic():
            accounts.ban_user(actor=moderator, user=alice, reason="x")
            raise RuntimeError("rolled back")
    assert not Notification.objects.exists()


# --- purchase credited: the real Stripe webhook path, against localstripe ------------


@pytest.fixture
def payments_ready(settings, db):
    from payments import gateway
    from payments.models import TokenPackage
    from payments.tests.conftest import TEST_SECRET

    if not getattr(settings, "STRIPE_API_HOST", ""):
        pytest.skip("needs localstripe: run `make test`")
    settings.DJSTRIPE_WEBHOOK_SECRET = TEST_SECRET
    gateway.configure()
    return TokenPackage.objects.get_or_create(
        name="Starter", defaults={"tokens": 100, "price_cents": 999, "currency": "usd", "sort_order": 10}
    )[0]


@pytest.mark.django_db
def test_a_credited_purchase_notifies_once_after_commit(alice, payments_ready, listen, django_capture_on_commit_callbacks):
    from payments.tests.conftest import buy, post_event, succeeded_event

    purchase = buy(alice, payments_ready)
    event = succeeded_event(purchase)
    tab = listen(alice)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(event).status_code == 200
        assert post_event(succeeded_event(purchase)).status_code == 200  # Stripe delivers again
    notification = Notification.objects.get(recipient=alice, kind=NotificationKind.PURCHASE_CREDITED)
    assert notification.text == "100 tokens were added to your wallet."
    assert notification.url == f"/wallet/purchases/{purchase.pk}/"
    assert [e["notification"]["id"] for e in tab.of_type("notification.new")] == [str(notification.pk)]
    assert not PushSubscription.objects.exists()
