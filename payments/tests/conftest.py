"""Payments fixtures: localstripe (started by `make test`), signed events, wallets."""

import hashlib
import hmac
import json
import time
import uuid

import pytest
import stripe
from django.conf import settings
from django.test import Client

from payments import gateway, services
from payments.models import Purchase, TokenPackage

WEBHOOK_PATH = "/api/payments/stripe/webhook/"
TEST_SECRET = "whsec_payments_tests_0123456789"


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.DJSTRIPE_WEBHOOK_SECRET = TEST_SECRET
    return TEST_SECRET


@pytest.fixture
def localstripe():
    """The localstripe server `make test` started (STRIPE_API_HOST)."""
    if not getattr(settings, "STRIPE_API_HOST", ""):
        pytest.skip("needs localstripe: run `make test`")
    gateway.configure()
    return getattr(settings, "STRIPE_API_HOST", "")


@pytest.fixture
def localstripe_webhooks(localstripe, live_server, webhook_secret):
    """localstripe delivers its signed events to our live server while the test
    runs; afterwards to nowhere. localstripe picks the address when it sends
    (a second after the event), and the live server's address is the same for
    every test, so first let earlier tests' events and payouts drain: otherwise
    one test's late payout.paid or account.updated lands in the next test."""
    from payments.localstripe_server import register_webhook, wait_until_idle

    wait_until_idle(localstripe)
    register_webhook(api_host=localstripe, url=live_server.url + WEBHOOK_PATH, secret=webhook_secret, name="pytest")
    yield live_server
    register_webhook(api_host=localstripe, url="http://127.0.0.1:9/nowhere", secret=webhook_secret, name="pytest")


@pytest.fixture
def starter(db):
    # Seeded by the data migration; transactional tests flush it, so recreate.
    return TokenPackage.objects.get_or_create(
        name="Starter", defaults={"tokens": 100, "price_cents": 999, "currency": "usd", "sort_order": 10}
    )[0]


def sign(payload: bytes, *, secret: str = TEST_SECRET, timestamp: int | None = None) -> str:
    """Stripe's scheme: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def event_for(obj, event_type: str, *, event_id: str | None = None) -> dict:
    """A Stripe event envelope around a real (localstripe) object."""
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    return {
        "id": event_id or f"evt_test_{uuid.uuid4().hex[:20]}",
        "object": "event",
        "api_version": "2017-08-15",
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "data": {"object": data},
    }


def post_event(event: dict, *, client: Client | None = None, secret: str = TEST_SECRET, timestamp: int | None = None):
    payload = json.dumps(event).encode()
    return (client or Client()).post(
        WEBHOOK_PATH, data=payload, content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload, secret=secret, timestamp=timestamp),
    )


def buy(user, package, *, card: str = "pm_card_visa") -> Purchase:
    """Start a purchase and pay it at localstripe (the webhook is up to the test)."""
    purchase = services.start_purchase(user=user, package_id=package.pk)
    services.confirm_purchase(user=user, purchase_id=purchase.pk, payment_method=card)
    purchase.refresh_from_db()
    return purchase


def succeeded_event(purchase: Purchase, **kwargs) -> dict:
    return event_for(stripe.PaymentIntent.retrieve(purchase.payment_intent_id), "payment_intent.succeeded", **kwargs)


def wait_for(predicate, *, timeout: float = 10.0):
    """Wait for something another process does (localstripe's delivery, ~1 s)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)
