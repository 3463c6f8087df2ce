"""Real threads on PostgreSQL: the invariants hold whoever wins."""

import pytest

from accounts.tests.factories import make_user
from digis.testing import run_concurrently
from ledger import services as ledger
from ledger.checks import run_all
from ledger.exceptions import ExceedsPayable, InsufficientFunds
from ledger.models import TransactionKind
from payouts import services
from payouts.exceptions import PayoutInProgress, PayoutNotReviewable
from payouts.models import Payout, PayoutStatus
from payouts.tests.factories import buy_tokens, earn, manual_account

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_hold(settings):
    settings.PAYOUT_HOLD_DAYS = 0


def assert_books_balance():
    problems = {name: found for name, found in run_all().items() if found}
    assert problems == {}


def test_concurrent_requests_make_one_payout(alice, bob):
    buy_tokens(alice, 2000)
    earn(bob, alice, 2000)
    manual_account(bob)

    results = run_concurrently([lambda: services.request_payout(user=bob) for _ in range(6)])

    payouts = [r for r in results if isinstance(r, Payout)]
    assert len(payouts) == 1, results
    assert all(isinstance(r, PayoutInProgress) for r in results if not isinstance(r, Payout)), results
    assert Payout.objects.count() == 1 and ledger.balance_of(user=bob) == 0
    assert_books_balance()


def test_a_payout_and_a_spend_at_once_never_overdraw_or_pay_bought_tokens(alice, bob, carol):
    buy_tokens(alice, 5000)
    earn(bob, alice, 1000)  # 800 earned
    buy_tokens(bob, 100)  # 100 bought: never payable
    manual_account(bob)

    def spend():
        return ledger.charge_with_fee(payer=bob, creator=carol, amount=500, kind=TransactionKind.TIP, idempotency_key="race-spend")

    results = run_concurrently([lambda: services.request_payout(user=bob, tokens=800), spend])

    payout, spent = results
    if isinstance(payout, Payout):
        # The payout took the 800 earned; the spend found 100 left and failed.
        assert isinstance(spent, InsufficientFunds), results
        assert ledger.balance_of(user=bob) == 100
    else:
        # The spend went first (bought tokens first, then 400 earned): 400 were payable.
        assert isinstance(payout, (ExceedsPayable, InsufficientFunds)), results
        assert ledger.balance_of(user=bob) == 400
    assert_books_balance()


def test_approve_and_reject_at_once_one_wins(alice, bob):
    staff = make_user("olivia", is_staff=True, is_superuser=True)
    buy_tokens(alice, 2000)
    earn(bob, alice, 1000)
    manual_account(bob)
    payout = services.request_payout(user=bob)

    results = run_concurrently([
        lambda: services.approve_payout(payout_id=payout.pk, actor=staff),
        lambda: services.reject_payout(payout_id=payout.pk, actor=staff, reason="duplicate account"),
    ])

    payout.refresh_from_db()
    losers = [r for r in results if isinstance(r, Exception)]
    if payout.status == PayoutStatus.REJECTED:
        assert ledger.balance_of(user=bob) == 800  # rejected after or instead of approval: tokens back
        assert not losers or isinstance(losers[0], PayoutNotReviewable)
    else:
        assert payout.status == PayoutStatus.APPROVED and len(losers) == 1 and isinstance(losers[0], PayoutNotReviewable)
        assert ledger.balance_of(user=bob) == 0
    assert_books_balance()


def test_paid_and_reversed_at_once_close_the_payout_one_way(alice, bob, connect, localstripe):
    import stripe

    from payments.tests.conftest import event_for, post_event

    staff = make_user("olivia", is_staff=True, is_superuser=True)
    connect(bob)
    buy_tokens(alice, 1000)
    earn(bob, alice, 1000)
    payout = services.request_payout(user=bob)
    services.approve_payout(payout_id=payout.pk, actor=staff)
    services.send_payout(payout_id=payout.pk)
    payout.refresh_from_db()
    bank = stripe.Payout.retrieve(payout.stripe_payout_id, stripe_account=payout.destination).to_dict()
    paid = event_for(bank, "payout.paid")
    paid["account"] = payout.destination
    transfer = stripe.Transfer.retrieve(payout.stripe_transfer_id).to_dict()
    transfer.update(amount_reversed=transfer["amount"], reversed=True)
    reversed_ = event_for(transfer, "transfer.reversed")

    from django.test import Client

    run_concurrently([lambda: post_event(paid, client=Client()), lambda: post_event(reversed_, client=Client())])

    payout.refresh_from_db()
    assert payout.status in (PayoutStatus.PAID, PayoutStatus.RETURNED)
    assert ledger.balance_of(user=bob) == (800 if payout.status == PayoutStatus.RETURNED else 0)
    assert_books_balance()
