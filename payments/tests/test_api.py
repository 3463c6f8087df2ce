"""Packages, purchases and who may see them; the webhook's signature gate."""

import json
import time

import pytest
import stripe

from payments.models import Purchase, PurchaseStatus, StripeEvent, TokenPackage
from payments.tests.conftest import WEBHOOK_PATH, buy, event_for, post_event, sign, succeeded_event

pytestmark = pytest.mark.django_db


def test_packages_are_seeded_and_listed_in_order(api_as, alice):
    response = api_as(alice).get("/api/payments/packages/")
    assert response.status_code == 200
    assert [(p["tokens"], p["bonus_tokens"], p["price_cents"]) for p in response.json()] == [
        (100, 0, 999), (500, 25, 4999), (1200, 100, 10999), (2500, 300, 21999)
    ]
    assert response.json()[1]["total_tokens"] == 525


def test_anonymous_cannot_list_packages_or_buy(api):
    assert api.get("/api/payments/packages/").status_code in (401, 403)
    assert api.post("/api/payments/purchases/", {"package": 1}, format="json").status_code in (401, 403)


def test_purchase_creates_an_intent_for_the_package_price_not_the_clients(api_as, alice, starter, localstripe):
    response = api_as(alice).post("/api/payments/purchases/", {"package": starter.pk, "amount_cents": 1, "tokens": 10**6}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending" and body["tokens"] == 100 and body["amount_cents"] == 999
    assert body["client_secret"].startswith(body["payment_intent_id"] + "_secret_")
    intent = stripe.PaymentIntent.retrieve(body["payment_intent_id"])
    assert (intent.amount, intent.currency) == (999, "usd")
    assert intent.metadata.to_dict() == {"purchase": body["id"], "user": str(alice.pk), "tokens": "100"}


@pytest.mark.parametrize("payload", [{}, {"package": "abc"}, {"package": -1}, {"package": 999999}])
def test_bad_package_is_a_400_and_creates_nothing(api_as, alice, payload):
    response = api_as(alice).post("/api/payments/purchases/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid", "package_not_available")
    assert not Purchase.objects.exists()


def test_inactive_package_cannot_be_bought(api_as, alice, starter):
    TokenPackage.objects.filter(pk=starter.pk).update(active=False)
    response = api_as(alice).post("/api/payments/purchases/", {"package": starter.pk}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "package_not_available"


def test_eleventh_new_purchase_in_an_hour_is_429(api_as, alice, starter, localstripe):
    client = api_as(alice)
    for _ in range(10):
        response = client.post("/api/payments/purchases/", {"package": starter.pk}, format="json")
        assert response.status_code == 201
        # Abandoned (expired): the next click opens a new purchase, and counts.
        Purchase.objects.filter(pk=response.json()["id"]).update(status=PurchaseStatus.EXPIRED)
    response = client.post("/api/payments/purchases/", {"package": starter.pk}, format="json")
    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"
    assert 0 < int(response["Retry-After"]) <= 3600  # says when to come back
    assert Purchase.objects.filter(user=alice).count() == 10


def test_buying_the_same_package_again_reuses_the_open_purchase_and_counts_once(api_as, alice, starter, localstripe, settings):
    settings.PAYMENTS_PURCHASE_RATE = "1/h"
    client = api_as(alice)
    first = client.post("/api/payments/purchases/", {"package": starter.pk}, format="json")
    again = client.post("/api/payments/purchases/", {"package": starter.pk}, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["client_secret"] == first.json()["client_secret"]
    assert Purchase.objects.filter(user=alice).count() == 1


def test_mallory_cannot_see_or_confirm_alices_purchase(api_as, alice, mallory, starter, localstripe):
    purchase = api_as(alice).post("/api/payments/purchases/", {"package": starter.pk}, format="json").json()
    as_mallory = api_as(mallory)

    assert as_mallory.get(f"/api/payments/purchases/{purchase['id']}/").status_code == 404
    assert as_mallory.get("/api/payments/purchases/").json() == []
    response = as_mallory.post(f"/api/payments/purchases/{purchase['id']}/confirm/", {"payment_method": "pm_card_visa"}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "purchase_not_found"
    assert stripe.PaymentIntent.retrieve(purchase["payment_intent_id"]).status == "requires_payment_method"
    assert as_mallory.get(f"/wallet/purchases/{purchase['id']}/").status_code in (302, 404)


def test_own_purchases_are_listed_and_confirmable(api_as, alice, starter, localstripe):
    client = api_as(alice)
    purchase = client.post("/api/payments/purchases/", {"package": starter.pk}, format="json").json()
    token = stripe.Token.create(card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"})

    response = client.post(f"/api/payments/purchases/{purchase['id']}/confirm/", {"token": token.id}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["payment_intent_status"] == "succeeded"
    assert response.json()["status"] == "pending"  # only the webhook credits
    assert [p["id"] for p in client.get("/api/payments/purchases/").json()] == [purchase["id"]]


def test_declined_card_is_a_402(api_as, alice, starter, localstripe):
    client = api_as(alice)
    purchase = client.post("/api/payments/purchases/", {"package": starter.pk}, format="json").json()
    response = client.post(
        f"/api/payments/purchases/{purchase['id']}/confirm/", {"payment_method": "pm_card_chargeCustomerFail"}, format="json"
    )
    assert response.status_code == 402 and response.json()["error"]["code"] == "card_declined"


def _token(number: str, *, exp_year: int = 2040, cvc: str = "123") -> str:
    return stripe.Token.create(card={"number": number, "exp_month": 12, "exp_year": exp_year, "cvc": cvc}).id


@pytest.mark.parametrize(
    "number, decline_code, message",
    [
        ("4000000000000002", "generic_decline", "Your card was declined."),
        ("4000000000009995", "insufficient_funds", "Your card has insufficient funds."),
        ("4000000000000069", "expired_card", "Your card has expired."),
        ("4000000000000127", "incorrect_cvc", "Your card's security code is incorrect."),
    ],
)
def test_stripes_decline_cards_are_declined_in_stripes_words_and_credit_nothing(api_as, alice, starter, localstripe, number, decline_code, message):
    from ledger.services import balance_of

    client = api_as(alice)
    purchase = client.post("/api/payments/purchases/", {"package": starter.pk}, format="json").json()

    response = client.post(f"/api/payments/purchases/{purchase['id']}/confirm/", {"token": _token(number)}, format="json")

    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["code"], error["decline_code"], error["message"]) == ("card_declined", decline_code, message)
    assert stripe.PaymentIntent.retrieve(purchase["payment_intent_id"]).status == "requires_payment_method"
    assert balance_of(user=alice) == 0


def test_after_a_decline_the_same_purchase_is_paid_with_another_card(api_as, alice, starter, localstripe):
    client = api_as(alice)
    purchase = client.post("/api/payments/purchases/", {"package": starter.pk}, format="json").json()
    declined = client.post(f"/api/payments/purchases/{purchase['id']}/confirm/", {"token": _token("4000000000009995")}, format="json")
    assert declined.status_code == 402
    Purchase.objects.filter(pk=purchase["id"]).update(status=PurchaseStatus.FAILED)  # the payment_failed event

    again = client.post("/api/payments/purchases/", {"package": starter.pk}, format="json")
    paid = client.post(f"/api/payments/purchases/{purchase['id']}/confirm/", {"token": _token("4242424242424242")}, format="json")

    assert again.status_code == 200 and again.json()["id"] == purchase["id"]
    assert paid.status_code == 200 and paid.json()["payment_intent_status"] == "succeeded"
    assert Purchase.objects.filter(user=alice).count() == 1


def test_a_3d_secure_card_asks_the_browser_to_authenticate(api_as, alice, starter, localstripe):
    client = api_as(alice)
    purchase = client.post("/api/payments/purchases/", {"package": starter.pk}, format="json").json()

    response = client.post(f"/api/payments/purchases/{purchase['id']}/confirm/", {"token": _token("4000002500003155")}, format="json")

    assert response.status_code == 200
    assert response.json()["payment_intent_status"] == "requires_action"
    assert response.json()["client_secret"] == purchase["client_secret"]


@pytest.mark.parametrize(
    "card, code",
    [
        ({"number": "4242424242424241", "exp_year": 2040, "cvc": "123"}, "incorrect_number"),
        ({"number": "4242424242424242", "exp_year": 2020, "cvc": "123"}, "invalid_expiry_year"),
        ({"number": "4242424242424242", "exp_year": 2040, "cvc": "12"}, "invalid_cvc"),
    ],
)
def test_card_details_stripe_refuses_are_refused_with_its_code(localstripe, card, code):
    with pytest.raises(stripe.CardError) as refused:
        stripe.Token.create(card={"exp_month": 12, **card})
    assert refused.value.code == code
    assert refused.value.user_message.startswith("Your card")


def test_expired_purchase_cannot_be_confirmed(api_as, alice, starter, localstripe):
    client = api_as(alice)
    purchase = client.post("/api/payments/purchases/", {"package": starter.pk}, format="json").json()
    Purchase.objects.filter(pk=purchase["id"]).update(status=PurchaseStatus.EXPIRED)
    response = client.post(f"/api/payments/purchases/{purchase['id']}/confirm/", {"token": _token("4242424242424242")}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "purchase_not_payable"


@pytest.mark.parametrize("payload", [{}, {"token": "tok_a", "payment_method": "pm_b"}, {"token": "x; drop"}])
def test_confirm_input_is_validated(api_as, alice, payload):
    response = api_as(alice).post(f"/api/payments/purchases/{'0' * 8}-0000-0000-0000-{'0' * 12}/confirm/", payload, format="json")
    assert response.status_code == 400


# --- the signature gate --------------------------------------------------------------


def _unchanged(purchase):
    from ledger.services import balance_of

    purchase.refresh_from_db()
    return purchase.status == PurchaseStatus.PENDING and balance_of(user=purchase.user) == 0


@pytest.fixture
def paid(alice, starter, localstripe):
    return buy(alice, starter)


@pytest.mark.parametrize(
    "how",
    ["wrong secret", "no header", "garbage header", "tampered body", "too old", "from the future"],
)
def test_unverified_event_is_400_and_changes_nothing(client, paid, how):
    event = succeeded_event(paid)
    payload = json.dumps(event).encode()
    now = int(time.time())
    headers = {
        "wrong secret": {"HTTP_STRIPE_SIGNATURE": sign(payload, secret="whsec_not_ours")},
        "no header": {},
        "garbage header": {"HTTP_STRIPE_SIGNATURE": "nonsense"},
        "tampered body": {"HTTP_STRIPE_SIGNATURE": sign(payload)},
        "too old": {"HTTP_STRIPE_SIGNATURE": sign(payload, timestamp=now - 3600)},
        "from the future": {"HTTP_STRIPE_SIGNATURE": sign(payload, timestamp=now + 3600)},
    }[how]
    if how == "tampered body":
        payload = payload.replace(b'"amount": 999', b'"amount": 998')

    response = client.post(WEBHOOK_PATH, data=payload, content_type="application/json", **headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not StripeEvent.objects.filter(stripe_id=event["id"]).exists()
    assert _unchanged(paid)


def test_webhook_refuses_everything_when_no_secret_is_configured(client, paid, settings):
    settings.DJSTRIPE_WEBHOOK_SECRET = ""
    response = post_event(succeeded_event(paid), client=client, secret="")
    assert response.status_code == 400 and _unchanged(paid)


def test_signed_garbage_is_400(client, db):
    payload = b'{"hello": "world"}'
    response = client.post(WEBHOOK_PATH, data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign(payload))
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_event"


def test_unhandled_event_type_is_acknowledged_and_ignored(client, db):
    response = post_event(event_for({"id": "cus_1", "object": "customer"}, "customer.created", event_id="evt_ignored"), client=client)
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert StripeEvent.objects.get(stripe_id="evt_ignored").status == "ignored"


# --- pages -------------------------------------------------------------------------


def test_buy_page_lists_packages_and_history(client, alice, starter):
    client.force_login(alice)
    response = client.get("/wallet/buy/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Starter" in page and "USD 9.99" in page and "payments/buy.js" in page


def test_buy_page_needs_sign_in(client, db):
    response = client.get("/wallet/buy/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_database_refuses_a_credited_purchase_without_a_transaction(alice, starter):
    from django.db import IntegrityError, transaction

    purchase = Purchase.objects.create(user=alice, package=starter, tokens=100, amount_cents=999, currency="usd")
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            Purchase.objects.filter(pk=purchase.pk).update(status=PurchaseStatus.SUCCEEDED)
