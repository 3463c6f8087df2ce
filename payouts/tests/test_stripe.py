"""Stripe Connect end to end against the stand-in, with the real stripe client:
onboarding, sending exactly once, bank failures, refused and reversed transfers,
crashes between steps, duplicate and concurrent webhooks."""

import stripe
import pytest
from django.test import Client

from accounts.tests.factories import make_user
from digis.testing import run_concurrently
from ledger import services as ledger
from ledger.checks import run_all
from ledger.models import Account, AccountKind, SystemAccount
from notifications.models import Notification
from payments.localstripe_server import register_webhook
from payments.models import StripeEvent
from payments.tests.conftest import event_for, post_event, wait_for
from payouts import gateway, services
from payouts.models import Payout, PayoutAccount, PayoutStatus
from payouts.tests.conftest import submit_onboarding
from payouts.tests.factories import buy_tokens, earn


def assert_books_balance():
    problems = {name: found for name, found in run_all().items() if found}
    assert problems == {}


def system_balance(code) -> int:
    return sum(Account.objects.filter(kind=AccountKind.SYSTEM, system_code=code).values_list("balance", flat=True))


@pytest.fixture(autouse=True)
def no_hold(settings):
    # The hold is tested in test_requests; here earnings are payable at once,
    # so no clock has to move while Stripe signs events with the real time.
    settings.PAYOUT_HOLD_DAYS = 0


@pytest.fixture
def staff(db):
    return make_user("olivia", is_staff=True, is_superuser=True)


def approved_payout(creator, fan, staff, *, amount: int = 1000) -> Payout:
    buy_tokens(fan, amount)
    earn(creator, fan, amount)
    payout = services.request_payout(user=creator)
    if payout.status == PayoutStatus.REQUESTED:
        services.approve_payout(payout_id=payout.pk, actor=staff)
    return Payout.objects.get(pk=payout.pk)


def transfers_of(payout) -> list:
    return stripe.Transfer.list(transfer_group=f"payout-{payout.pk}").data


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_onboarding_status_arrives_by_the_signed_webhook(bob, localstripe_webhooks):
    account, url = services.start_stripe_onboarding(
        user=bob, country="US", return_url="http://127.0.0.1:9/return", refresh_url="http://127.0.0.1:9/refresh"
    )
    assert account.stripe_account_id.startswith("acct_") and not account.ready
    again, second_url = services.start_stripe_onboarding(
        user=bob, country="US", return_url="http://127.0.0.1:9/return", refresh_url="http://127.0.0.1:9/refresh"
    )
    assert again.stripe_account_id == account.stripe_account_id and second_url != url  # one account, a fresh link

    assert submit_onboarding(second_url, account_number="000123456789") == "http://127.0.0.1:9/return"
    # An expired or used link sends the creator to refresh_url, as Stripe does.
    assert submit_onboarding(second_url) == "http://127.0.0.1:9/refresh"

    wait_for(lambda: StripeEvent.objects.filter(type="account.updated", status="processed").exists())
    account.refresh_from_db()
    assert account.ready and account.stripe_bank_last4 == "6789" and account.stripe_requirements_due == []
    assert Notification.objects.filter(recipient=bob, data__account="ready").count() == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_payout_is_sent_once_and_paid_by_the_webhook(alice, bob, staff, connect, localstripe_webhooks):
    account = connect(bob)
    payout = approved_payout(bob, alice, staff)  # 800 tokens = USD 40.00

    assert services.send_payout(payout_id=payout.pk) == "sent"
    assert services.send_payout(payout_id=payout.pk) == "not due"  # a second worker, a retried task
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SENT and payout.stripe_transfer_id and payout.stripe_payout_id
    (transfer,) = transfers_of(payout)
    assert (transfer.amount, transfer.currency, transfer.destination) == (4000, "usd", account.stripe_account_id)

    # The stand-in's bank pays a second later; payout.paid arrives signed. Its
    # handler commits the payout before the event is marked done (two commits),
    # so wait for the event: a copy posted in between is rightly told 409.
    wait_for(lambda: StripeEvent.objects.filter(type="payout.paid", status="processed").exists())
    assert Payout.objects.get(pk=payout.pk).status == PayoutStatus.PAID
    assert system_balance(SystemAccount.PAYOUTS_PAID) == 800 and system_balance(SystemAccount.PAYOUTS_CLEARING) == 0
    assert ledger.balance_of(user=bob) == 0

    # Stripe delivers payout.paid again, and once more under another event id: nothing moves.
    paid = StripeEvent.objects.get(type="payout.paid")
    again = post_event(paid.payload)
    assert (again.status_code, again.json().get("outcome")) == (200, "duplicate"), again.json()
    copy = {**paid.payload, "id": paid.payload["id"] + "_copy"}
    assert post_event(copy).json()["outcome"] == "processed"
    assert system_balance(SystemAccount.PAYOUTS_PAID) == 800
    assert_books_balance()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_bank_refusal_reverses_the_transfer_and_returns_the_tokens(alice, bob, staff, connect, localstripe_webhooks):
    connect(bob, account_number="000111111116")  # Stripe's test account whose payouts fail: no such account
    payout = approved_payout(bob, alice, staff)

    assert services.send_payout(payout_id=payout.pk) == "sent"
    wait_for(lambda: Payout.objects.get(pk=payout.pk).status == PayoutStatus.FAILED)

    payout.refresh_from_db()
    assert payout.failure_code == "no_account" and payout.stripe_reversal_id
    (transfer,) = transfers_of(payout)
    assert transfer.reversed and transfer.amount_reversed == 4000
    assert ledger.balance_of(user=bob) == 800
    note = Notification.objects.get(recipient=bob, data__status="failed")
    assert "No bank account could be located" in note.text and "back in your wallet" in note.text
    # The transfer.reversed event that our own reversal causes changes nothing more.
    wait_for(lambda: StripeEvent.objects.filter(type="transfer.reversed", status="processed").exists())
    assert Payout.objects.get(pk=payout.pk).status == PayoutStatus.FAILED
    assert_books_balance()


@pytest.mark.django_db
def test_a_transfer_stripe_refuses_fails_the_payout_and_returns_the_tokens(alice, bob, staff, connect, localstripe):
    import urllib.request

    account = connect(bob)
    payout = approved_payout(bob, alice, staff)
    # Stripe disables the account after the payout was approved (its webhook has not reached us).
    urllib.request.urlopen(
        urllib.request.Request(f"{localstripe}/_config/connect/accounts/{account.stripe_account_id}/restrict", data=b"", method="POST")
    )

    assert services.send_payout(payout_id=payout.pk) == "failed"

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED and payout.failure_code == "insufficient_capabilities_for_transfer"
    assert transfers_of(payout) == []
    assert ledger.balance_of(user=bob) == 800
    assert "cannot receive transfers" in Notification.objects.get(recipient=bob, data__status="failed").text
    assert_books_balance()


@pytest.mark.django_db
def test_a_worker_dying_after_the_transfer_is_recovered_with_the_same_keys(alice, bob, staff, connect, localstripe, monkeypatch, later):
    connect(bob)
    payout = approved_payout(bob, alice, staff)
    real = gateway.create_bank_payout

    def die(**kwargs):
        raise SystemExit("worker killed between the transfer and the bank payout")

    monkeypatch.setattr(gateway, "create_bank_payout", die)
    with pytest.raises(SystemExit):
        services.send_payout(payout_id=payout.pk)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SENDING and len(transfers_of(payout)) == 1

    monkeypatch.setattr(gateway, "create_bank_payout", real)
    assert services.sweep()["sent"] == 0  # the dead worker's lease has not run out
    later(minutes=11)
    assert services.sweep()["sent"] == 1

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SENT and payout.attempts == 2
    assert len(transfers_of(payout)) == 1  # found by its transfer group, not made again
    assert stripe.Balance.retrieve(stripe_account=payout.destination).available[0].amount == 0  # one bank payout took it
    assert_books_balance()


@pytest.mark.django_db
def test_a_worker_dying_before_stripe_answers_is_retried_without_a_second_transfer(alice, bob, staff, connect, localstripe, monkeypatch, later):
    connect(bob)
    payout = approved_payout(bob, alice, staff)
    real = gateway.create_transfer

    def send_then_die(**kwargs):
        real(**kwargs)  # Stripe made the transfer; the answer never reached us
        raise SystemExit("killed")

    monkeypatch.setattr(gateway, "create_transfer", send_then_die)
    with pytest.raises(SystemExit):
        services.send_payout(payout_id=payout.pk)
    monkeypatch.setattr(gateway, "create_transfer", real)
    # Stripe's idempotency key alone also makes the retry safe: no lookup first.
    monkeypatch.setattr(gateway, "find_transfer", lambda **kwargs: None)
    later(minutes=11)

    assert services.send_payout(payout_id=payout.pk) == "sent"
    assert len(transfers_of(payout)) == 1
    assert_books_balance()


@pytest.mark.django_db
def test_stripe_unreachable_leaves_the_payout_to_retry(alice, bob, staff, connect, localstripe, monkeypatch, later):
    connect(bob)
    payout = approved_payout(bob, alice, staff)
    monkeypatch.setattr(stripe, "api_base", "http://127.0.0.1:9")
    monkeypatch.setattr(stripe, "max_network_retries", 0)

    assert services.send_payout(payout_id=payout.pk) == "retry"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SENDING and payout.last_error
    monkeypatch.undo()  # Stripe answers again
    later(minutes=11)
    assert services.send_payout(payout_id=payout.pk) == "sent"


@pytest.mark.django_db
def test_a_transfer_reversed_at_stripe_returns_the_payout(alice, bob, staff, connect, localstripe):
    connect(bob)
    payout = approved_payout(bob, alice, staff)
    services.send_payout(payout_id=payout.pk)
    payout.refresh_from_db()
    transfer = stripe.Transfer.retrieve(payout.stripe_transfer_id).to_dict()
    transfer.update(amount_reversed=transfer["amount"], reversed=True)  # an operator reversed it in Stripe's dashboard

    response = post_event(event_for(transfer, "transfer.reversed"))

    assert response.json()["outcome"] == "processed"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.RETURNED and ledger.balance_of(user=bob) == 800
    assert "reversed" in Notification.objects.get(recipient=bob, data__status="returned").text
    # ... and the bank's payout.paid arriving afterwards cannot pay it.
    bank = stripe.Payout.retrieve(payout.stripe_payout_id, stripe_account=payout.destination).to_dict()
    paid = event_for(bank, "payout.paid")
    paid["account"] = payout.destination
    assert post_event(paid).status_code == 200
    assert Payout.objects.get(pk=payout.pk).status == PayoutStatus.RETURNED
    assert_books_balance()


@pytest.mark.django_db
def test_a_lost_webhook_is_made_up_for_by_asking_stripe(alice, bob, staff, connect, localstripe, later):
    connect(bob)
    payout = approved_payout(bob, alice, staff)
    services.send_payout(payout_id=payout.pk)
    wait_for(lambda: stripe.Payout.retrieve(Payout.objects.get(pk=payout.pk).stripe_payout_id, stripe_account=payout.destination).status == "paid")
    assert services.sweep()["reconciled"] == 0  # too early to ask
    later(hours=7)
    assert services.sweep()["reconciled"] == 1
    assert Payout.objects.get(pk=payout.pk).status == PayoutStatus.PAID
    assert_books_balance()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_make_one_transfer(alice, bob, staff, connect, localstripe):
    connect(bob)
    payout = approved_payout(bob, alice, staff)

    outcomes = run_concurrently([lambda: services.send_payout(payout_id=payout.pk) for _ in range(6)])

    assert sorted(outcomes) == ["not due"] * 5 + ["sent"], outcomes
    assert len(transfers_of(payout)) == 1
    assert_books_balance()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_payout_paid_settle_once(alice, bob, staff, connect, localstripe):
    connect(bob)
    payout = approved_payout(bob, alice, staff)
    services.send_payout(payout_id=payout.pk)
    payout.refresh_from_db()
    bank = stripe.Payout.retrieve(payout.stripe_payout_id, stripe_account=payout.destination).to_dict()
    events = []
    for n in range(6):  # the same event three times, and three distinct events for the same payout
        event = event_for(bank, "payout.paid", event_id=f"evt_paid_{payout.pk.hex[:8]}_{n % 3 if n < 3 else n}")
        event["account"] = payout.destination
        events.append(event)

    responses = run_concurrently([lambda e=e: post_event(e, client=Client()) for e in events])

    assert {r.status_code for r in responses} <= {200, 409}, [r.content for r in responses]
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert system_balance(SystemAccount.PAYOUTS_PAID) == 800
    assert_books_balance()


@pytest.mark.django_db
def test_onboarding_from_the_earnings_page_without_javascript(bob, client, localstripe):
    import re

    client.force_login(bob)
    page = client.post("/earnings/account/", {"method": "stripe", "country": "US"})
    assert page.status_code == 200
    url = re.search(r'href="([^"]+/connect/onboarding/[^"]+)"', page.content.decode()).group(1)

    assert submit_onboarding(url) == "http://testserver/earnings/connect/return/"
    back = client.get("/earnings/connect/return/")

    assert back.status_code == 302 and back["Location"] == "/earnings/"
    assert PayoutAccount.objects.get(user=bob).ready
    assert "Your Stripe account is connected" in client.get("/earnings/").content.decode()
    # An expired link: Stripe sends the creator to refresh_url, which makes a new link.
    refreshed = client.get("/earnings/connect/refresh/")
    assert refreshed.status_code == 302 and "/connect/onboarding/" in refreshed["Location"] and refreshed["Location"] != url


@pytest.mark.django_db
def test_onboarding_through_the_api_returns_the_link(bob, api_as, localstripe):
    response = api_as(bob).post("/api/payouts/account/", {"method": "stripe", "country": "DE"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert "/connect/onboarding/" in body["url"] and body["account"]["stripe_account_id"].startswith("acct_")
    assert not body["account"]["ready"] and "external_account" in body["account"]["stripe_requirements_due"]
    assert stripe.Account.retrieve(body["account"]["stripe_account_id"]).country == "DE"


@pytest.mark.django_db
def test_the_banks_answer_overtaking_the_worker_is_applied(alice, bob, staff, connect, localstripe, monkeypatch):
    connect(bob)
    payout = approved_payout(bob, alice, staff)
    real = gateway.create_bank_payout
    made = {}

    def create_and_stall(**kwargs):
        made["payout"] = real(**kwargs)
        raise SystemExit("the worker stalls before recording 'sent'")

    monkeypatch.setattr(gateway, "create_bank_payout", create_and_stall)
    with pytest.raises(SystemExit):
        services.send_payout(payout_id=payout.pk)
    assert Payout.objects.get(pk=payout.pk).status == PayoutStatus.SENDING

    paid = event_for(made["payout"], "payout.paid")
    paid["account"] = payout.destination
    assert post_event(paid).json()["outcome"] == "processed"

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID and payout.stripe_payout_id == made["payout"].id
    assert_books_balance()


@pytest.mark.django_db
def test_a_bank_event_before_the_transfer_is_recorded_is_delivered_again_later(alice, bob, staff, connect, localstripe):
    connect(bob)
    payout = approved_payout(bob, alice, staff)
    Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.SENDING)
    event = {"id": "po_early", "object": "payout", "status": "paid", "metadata": {"payout": str(payout.pk)}}
    paid = event_for(event, "payout.paid")
    paid["account"] = payout.destination

    response = post_event(paid)

    assert response.status_code == 500 and StripeEvent.objects.get(stripe_id=paid["id"]).status == "failed"
    assert Payout.objects.get(pk=payout.pk).status == PayoutStatus.SENDING
    assert system_balance(SystemAccount.PAYOUTS_PAID) == 0
