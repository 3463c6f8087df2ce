"""The ledger's payout section and the checks that reconcile payouts with it."""

import uuid

import pytest

from ledger import services as ledger
from ledger.checks import payouts_clearing_reconciles, run_all
from ledger.exceptions import ExceedsPayable, NotReversible, PayoutClosed, WalletFrozen
from ledger.models import Transaction, TransactionKind
from payouts import checks, services
from payouts.models import Payout, PayoutStatus
from payouts.tests.factories import buy_tokens, earn, manual_account


@pytest.fixture
def bob_with_800(alice, bob, settings):
    settings.PAYOUT_HOLD_DAYS = 0
    buy_tokens(alice, 1000)
    earn(bob, alice, 1000)
    return bob


@pytest.mark.django_db
def test_hold_settle_and_return_are_idempotent_and_exclusive(bob_with_800):
    bob = bob_with_800
    first, second = uuid.uuid4(), uuid.uuid4()

    hold = ledger.hold_payout(user=bob, tokens=300, payout_id=first, payable=lambda: 800)
    assert ledger.hold_payout(user=bob, tokens=300, payout_id=first, payable=lambda: 0).pk == hold.pk  # replay: not asked again
    with pytest.raises(ExceedsPayable):
        ledger.hold_payout(user=bob, tokens=600, payout_id=second, payable=lambda: 500)
    ledger.hold_payout(user=bob, tokens=500, payout_id=second, payable=lambda: 500)

    paid = ledger.settle_payout(payout_id=first)
    assert ledger.settle_payout(payout_id=first).pk == paid.pk
    with pytest.raises(PayoutClosed):
        ledger.return_payout(payout_id=first, reason="too late")
    returned = ledger.return_payout(payout_id=second, reason="bank refused")
    assert ledger.return_payout(payout_id=second, reason="said again").pk == returned.pk
    with pytest.raises(PayoutClosed):
        ledger.settle_payout(payout_id=second)
    assert ledger.balance_of(user=bob) == 500
    assert returned.reversal_of_id == Transaction.objects.get(idempotency_key=f"payout:{second}:request").pk
    with pytest.raises(NotReversible):
        ledger.reverse_transaction(original=hold, idempotency_key="admin-reverse-payout", reason="oops")
    assert payouts_clearing_reconciles() == []


@pytest.mark.django_db
def test_a_frozen_wallet_cannot_hold_a_payout(bob_with_800):
    ledger.claw_back(user=bob_with_800, tokens=900, idempotency_key="test-bob-owes", reference="t", kind="chargeback")
    with pytest.raises(WalletFrozen):
        ledger.hold_payout(user=bob_with_800, tokens=100, payout_id=uuid.uuid4(), payable=lambda: 10**6)


@pytest.mark.django_db
def test_checks_catch_a_payout_that_disagrees_with_the_ledger(bob_with_800):
    manual_account(bob_with_800)
    payout = services.request_payout(user=bob_with_800)
    assert checks.payouts_match_ledger() == []

    # Bypass the services: the database lets a status move, the checks notice.
    Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.SENT, needs_review=False)
    assert checks.payouts_match_ledger() == []  # still on its way: consistent
    Payout.objects.filter(pk=payout.pk).update(tokens=700, amount_cents=3500)
    problems = checks.payouts_match_ledger()
    assert any("statement sums to 800" in p for p in problems)
    assert any("request moved 800" in p for p in problems)
    assert any("payouts_clearing holds 800 tokens, payouts on their way 700" in p for p in problems)
    assert "payouts match the ledger" in run_all()


@pytest.mark.django_db
def test_clearing_check_names_a_stray_transfer(bob_with_800):
    from ledger.models import SystemAccount

    clearing = ledger.system_account(SystemAccount.PAYOUTS_CLEARING)
    ledger.transfer(source=bob_with_800, destination=clearing, amount=10, kind=TransactionKind.TRANSFER, idempotency_key="stray")
    problems = payouts_clearing_reconciles()
    assert any("moves payouts_clearing but is not a payout" in p for p in problems)
    assert any("holds 10 tokens, open payout requests 0" in p for p in problems)


@pytest.mark.django_db
def test_the_database_refuses_a_paid_payout_without_its_settlement(bob_with_800):
    from django.db import IntegrityError

    manual_account(bob_with_800)
    payout = services.request_payout(user=bob_with_800)
    with pytest.raises(IntegrityError):
        Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.PAID)


@pytest.mark.django_db
def test_the_database_allows_one_open_payout_per_creator(bob_with_800):
    from django.db import IntegrityError

    manual_account(bob_with_800)
    payout = services.request_payout(user=bob_with_800, tokens=400)
    with pytest.raises(IntegrityError):
        Payout.objects.create(
            creator=bob_with_800, method=payout.method, tokens=1, cents_per_token=5, amount_cents=5, currency="usd",
        )


@pytest.mark.django_db
def test_the_amount_is_always_tokens_times_the_rate(bob_with_800):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        Payout.objects.create(creator=bob_with_800, method="manual", tokens=10, cents_per_token=5, amount_cents=51, currency="usd")


def test_stripe_connect_events_are_routed_to_payouts():
    from payments import services as payments

    for event_type in ("account.updated", "transfer.created", "transfer.reversed", "payout.paid", "payout.failed", "payout.canceled"):
        assert payments.EVENT_HANDLERS[event_type] is services.EVENT_HANDLERS[event_type]


@pytest.mark.django_db
def test_an_event_signed_with_the_connect_endpoints_secret_is_accepted(settings, bob):
    from payments.tests.conftest import post_event

    settings.STRIPE_CONNECT_WEBHOOK_SECRET = "whsec_connect_endpoint_secret"
    event = {
        "id": "evt_connect_1", "object": "event", "type": "account.updated", "account": "acct_unknown", "created": 1,
        "data": {"object": {"id": "acct_unknown", "object": "account"}},
    }
    response = post_event(event, secret="whsec_connect_endpoint_secret")
    assert response.status_code == 200 and response.json()["outcome"] == "processed"
    assert post_event({**event, "id": "evt_connect_2"}, secret="whsec_someone_else").status_code == 400

