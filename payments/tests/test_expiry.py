"""Abandoned purchases expire: their PaymentIntents are cancelled and they leave the history."""

import datetime as dt

import pytest
import stripe
import time_machine
from django.utils import timezone

from payments import services
from payments.models import Purchase, PurchaseStatus
from payments.tests.conftest import buy, post_event, succeeded_event

pytestmark = pytest.mark.django_db


def _later(minutes: float):
    return time_machine.travel(timezone.now() + dt.timedelta(minutes=minutes), tick=False)


def test_an_unpaid_purchase_expires_after_the_window_and_its_intent_is_cancelled(alice, starter, localstripe, settings):
    settings.PAYMENTS_PURCHASE_EXPIRE_S = 1800
    purchase = services.start_purchase(user=alice, package_id=starter.pk)

    with _later(29):
        assert services.expire_abandoned_purchases() == 0
    with _later(31):
        assert services.expire_abandoned_purchases() == 1
        assert services.expire_abandoned_purchases() == 0  # once

    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.EXPIRED and "30 minutes" in purchase.failure_reason
    assert stripe.PaymentIntent.retrieve(purchase.payment_intent_id).status == "canceled"


def test_a_declined_purchase_expires_too(alice, starter, localstripe):
    purchase = services.start_purchase(user=alice, package_id=starter.pk)
    Purchase.objects.filter(pk=purchase.pk).update(status=PurchaseStatus.FAILED)
    with _later(31):
        assert services.expire_abandoned_purchases() == 1


def test_a_purchase_paid_before_the_sweep_is_not_expired_and_is_credited(alice, starter, localstripe):
    from ledger.services import balance_of

    purchase = buy(alice, starter)  # paid at Stripe; its webhook has not arrived yet
    with _later(31):
        assert services.expire_abandoned_purchases() == 0
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.PENDING

    assert post_event(succeeded_event(purchase)).status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.SUCCEEDED and balance_of(user=alice) == 100


def test_an_expired_purchase_that_stripe_says_was_paid_is_credited(alice, starter, localstripe):
    from ledger.services import balance_of

    purchase = buy(alice, starter)
    Purchase.objects.filter(pk=purchase.pk).update(status=PurchaseStatus.EXPIRED)
    assert post_event(succeeded_event(purchase)).status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.SUCCEEDED and balance_of(user=alice) == 100


def test_a_purchase_whose_intent_was_never_created_expires_without_asking_stripe(alice, starter, monkeypatch):
    purchase = Purchase.objects.create(user=alice, package=starter, tokens=100, amount_cents=999, currency="usd")
    monkeypatch.setattr(services.gateway, "cancel_payment_intent", lambda **kw: pytest.fail("no intent to cancel"))
    with _later(31):
        assert services.expire_abandoned_purchases() == 1
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.EXPIRED


def test_when_stripe_does_not_answer_the_purchase_waits_for_the_next_run(alice, starter, localstripe, monkeypatch):
    purchase = services.start_purchase(user=alice, package_id=starter.pk)

    def unavailable(**kwargs):
        raise services.PaymentProviderError()

    monkeypatch.setattr(services.gateway, "cancel_payment_intent", unavailable)
    with _later(31):
        assert services.expire_abandoned_purchases() == 0
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.PENDING


def test_expired_and_unpaid_purchases_are_not_in_the_buy_pages_history(client, alice, starter, localstripe):
    open_one = services.start_purchase(user=alice, package_id=starter.pk)
    expired = Purchase.objects.create(user=alice, package=starter, tokens=100, amount_cents=999, currency="usd", status=PurchaseStatus.EXPIRED)
    client.force_login(alice)
    html = client.get("/wallet/buy/").content.decode()
    assert str(open_one.pk) not in html and str(expired.pk) not in html
    assert "Waiting for payment" not in html
