"""Requesting a payout: hold, minimum, approval, statement, spending, disputes, stops."""

import pytest
from django.utils import timezone

from accounts.models import AuditEntry
from accounts.tests.factories import make_user
from ledger import services as ledger
from ledger.checks import run_all
from ledger.exceptions import ExceedsPayable
from ledger.models import Account, AccountKind, SystemAccount, TransactionKind
from notifications.models import Notification, NotificationKind
from payouts import selectors, services
from payouts.exceptions import (
    BelowMinimum,
    NotACreator,
    PayoutAccountMissing,
    PayoutAccountNotReady,
    PayoutInProgress,
    PayoutNotReviewable,
    PayoutsSuspended,
)
from payouts.models import Payout, PayoutAccount, PayoutMethod, PayoutStatus
from payouts.tests.factories import buy_tokens, earn, manual_account


def assert_books_balance():
    problems = {name: found for name, found in run_all().items() if found}
    assert problems == {}


def system_balance(code) -> int:
    return sum(Account.objects.filter(kind=AccountKind.SYSTEM, system_code=code).values_list("balance", flat=True))


@pytest.fixture
def staff(db):
    return make_user("olivia", is_staff=True, is_superuser=True)


@pytest.fixture(autouse=True)
def no_errors_logged(caplog):
    """The replay's cross-checks log at ERROR when figures do not add up: never in these flows."""
    yield
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


@pytest.mark.django_db
def test_earnings_become_payable_after_the_hold(alice, bob, later):
    buy_tokens(alice, 1000)
    earn(bob, alice, 600)  # 480 to bob after the 20 % fee
    manual_account(bob)

    assert selectors.creator_position(user=bob).payable == 0
    assert selectors.creator_position(user=bob).pending == 480
    with pytest.raises(BelowMinimum):
        services.request_payout(user=bob)

    later(days=7, minutes=1)
    assert selectors.creator_position(user=bob).payable == 480
    payout = services.request_payout(user=bob)

    assert payout.tokens == 480 and payout.amount_cents == 480 * 5 and payout.currency == "usd"
    assert payout.status == PayoutStatus.REQUESTED and payout.needs_review and payout.review_reason == "first payout"
    assert ledger.balance_of(user=bob) == 0
    assert system_balance(SystemAccount.PAYOUTS_CLEARING) == 480
    assert_books_balance()


@pytest.mark.django_db
def test_each_earning_has_its_own_payable_date(alice, bob, later):
    buy_tokens(alice, 2000)
    earn(bob, alice, 500)  # 400 net, day 0
    later(days=3)
    # The ledger's clock is the database's: only what was earned before the
    # travel is in the past. Check the dates the position reports instead.
    position = selectors.creator_position(user=bob)
    (lot,) = position.lots
    assert lot.payable_at == lot.earned_at + timezone.timedelta(days=7)
    days = selectors.pending_by_day(selectors.creator_position(user=bob, now=lot.earned_at))
    assert [(d.tokens, d.earnings) for d in days] == [(400, 1)]


@pytest.mark.django_db
def test_minimum_and_payable_ceiling(alice, bob, later):
    buy_tokens(alice, 1000)
    earn(bob, alice, 498)  # 399 net (fee floored: 99)
    manual_account(bob)
    later(days=8)
    with pytest.raises(BelowMinimum) as below:
        services.request_payout(user=bob)
    assert below.value.extra == {"minimum": 400, "payable": 399}
    earn(bob, alice, 5)  # 4 more, but earned now: not payable for a week
    with pytest.raises(BelowMinimum):
        services.request_payout(user=bob)
    with pytest.raises(ExceedsPayable):
        services.request_payout(user=bob, tokens=403)
    assert Payout.objects.count() == 0 and ledger.balance_of(user=bob) == 403


@pytest.mark.django_db
def test_bought_tokens_are_never_payable_and_spending_uses_them_first(alice, bob, carol, later):
    buy_tokens(alice, 1000)
    earn(bob, alice, 1000)  # 800 net
    buy_tokens(bob, 300)  # bob also buys tokens
    earn(carol, bob, 300)  # ... and spends 300 on carol: the bought ones
    manual_account(bob)
    later(days=8)
    position = selectors.creator_position(user=bob)
    assert position.balance == 800 and position.payable == 800 and position.not_earned == 0
    earn(carol, bob, 100)  # now spending eats the oldest earning
    assert selectors.creator_position(user=bob).payable == 700


@pytest.mark.django_db
def test_review_for_the_first_payout_and_above_the_threshold(alice, bob, staff, later, settings):
    settings.PAYOUT_REVIEW_ABOVE_TOKENS = 1000
    buy_tokens(alice, 5000)
    earn(bob, alice, 1000)
    manual_account(bob)
    later(days=8)

    first = services.request_payout(user=bob)
    assert first.status == PayoutStatus.REQUESTED and first.review_reason == "first payout"
    services.approve_payout(payout_id=first.pk, actor=staff, note="ID checked")
    services.mark_manual_sent(payout_id=first.pk, actor=staff, reference="SEPA-1")
    services.mark_manual_paid(payout_id=first.pk, actor=staff, reference="SEPA-1")

    earn(bob, alice, 600)  # 480
    later(days=8)
    second = services.request_payout(user=bob)
    assert second.status == PayoutStatus.APPROVED and not second.needs_review
    services.mark_manual_paid(payout_id=second.pk, actor=staff, reference="SEPA-2")

    earn(bob, alice, 2000)  # 1600 > 1000
    later(days=8)
    third = services.request_payout(user=bob)
    assert third.status == PayoutStatus.REQUESTED and third.review_reason == "above 1,000 tokens"
    actions = list(AuditEntry.objects.filter(target_type="payouts.payout").values_list("action", flat=True).order_by("id"))
    assert actions == ["payout.approve", "payout.mark_sent", "payout.mark_paid", "payout.mark_paid"]
    assert system_balance(SystemAccount.PAYOUTS_PAID) == 800 + 480
    assert system_balance(SystemAccount.PAYOUTS_CLEARING) == 1600
    assert_books_balance()


@pytest.mark.django_db
def test_rejection_returns_the_tokens_and_says_why(alice, bob, staff, later):
    buy_tokens(alice, 1000)
    earn(bob, alice, 1000)
    manual_account(bob)
    later(days=8)
    payout = services.request_payout(user=bob)

    services.reject_payout(payout_id=payout.pk, actor=staff, reason="The bank account holder does not match.")

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.REJECTED and payout.return_transaction_id
    assert ledger.balance_of(user=bob) == 800
    assert selectors.creator_position(user=bob).payable == 800  # payable again
    note = Notification.objects.get(recipient=bob, kind=NotificationKind.PAYOUT_STATUS, data__status="rejected")
    assert "does not match" in note.text and note.url == f"/earnings/payouts/{payout.pk}/"
    with pytest.raises(PayoutNotReviewable):
        services.reject_payout(payout_id=payout.pk, actor=staff, reason="again")
    with pytest.raises(PayoutNotReviewable):
        services.approve_payout(payout_id=payout.pk, actor=staff)
    assert AuditEntry.objects.filter(action="payout.reject").count() == 1
    assert_books_balance()


@pytest.mark.django_db
def test_only_staff_review(alice, bob, later, mallory):
    buy_tokens(alice, 1000)
    earn(bob, alice, 1000)
    manual_account(bob)
    later(days=8)
    payout = services.request_payout(user=bob)
    for actor in (bob, mallory):
        with pytest.raises(PayoutNotReviewable):
            services.approve_payout(payout_id=payout.pk, actor=actor)
        with pytest.raises(PayoutNotReviewable):
            services.mark_manual_paid(payout_id=payout.pk, actor=actor, reference="x")
    assert Payout.objects.get(pk=payout.pk).status == PayoutStatus.REQUESTED


@pytest.mark.django_db
def test_failed_manual_transfer_returns_tokens(alice, bob, staff, later):
    buy_tokens(alice, 1000)
    earn(bob, alice, 1000)
    manual_account(bob)
    later(days=8)
    payout = services.request_payout(user=bob)
    services.approve_payout(payout_id=payout.pk, actor=staff)

    services.mark_manual_failed(payout_id=payout.pk, actor=staff, reason="The bank returned it: account closed.")

    assert Payout.objects.get(pk=payout.pk).status == PayoutStatus.FAILED
    assert ledger.balance_of(user=bob) == 800
    assert system_balance(SystemAccount.PAYOUTS_CLEARING) == 0
    assert_books_balance()


@pytest.mark.django_db
def test_statement_sums_to_the_payout_and_matches_the_ledger(alice, dave, bob, later):
    buy_tokens(alice, 5000)
    buy_tokens(dave, 5000)
    earn(bob, alice, 100, kind=TransactionKind.TIP)
    earn(bob, dave, 250, kind=TransactionKind.CALL_CHARGE)
    earn(bob, alice, 33, kind=TransactionKind.MESSAGE_CHARGE)
    earn(bob, dave, 500, kind=TransactionKind.TICKET)
    manual_account(bob)
    later(days=8)

    payout = services.request_payout(user=bob, tokens=600)

    items = list(payout.items.order_by("earned_at", "id"))
    assert sum(i.tokens for i in items) == payout.tokens == 600
    assert [(i.kind, i.gross, i.fee, i.net) for i in items] == [
        ("tip", 100, 20, 80), ("call", 250, 50, 200), ("message", 33, 6, 27), ("ticket", 500, 100, 400),
    ]
    assert [i.tokens for i in items] == [80, 200, 27, 293]  # oldest first; the last one split
    # What is left of the split earning is payable next time.
    assert selectors.creator_position(user=bob).payable == 107
    assert_books_balance()


@pytest.mark.django_db
def test_one_payout_in_progress_at_a_time(alice, bob, later):
    buy_tokens(alice, 3000)
    earn(bob, alice, 2000)
    manual_account(bob)
    later(days=8)
    services.request_payout(user=bob, tokens=500)
    with pytest.raises(PayoutInProgress):
        services.request_payout(user=bob, tokens=500)


@pytest.mark.django_db
def test_fans_have_no_payouts(alice, mallory):
    for user in (alice, mallory):
        with pytest.raises(NotACreator):
            services.request_payout(user=user)


@pytest.mark.django_db
def test_a_payout_account_is_needed(alice, bob, later):
    buy_tokens(alice, 1000)
    earn(bob, alice, 1000)
    later(days=8)
    with pytest.raises(PayoutAccountMissing):
        services.request_payout(user=bob)
    PayoutAccount.objects.create(user=bob, method=PayoutMethod.STRIPE)
    with pytest.raises(PayoutAccountNotReady):
        services.request_payout(user=bob)


@pytest.mark.django_db
def test_banned_or_indebted_creators_payouts_stop(alice, bob, staff, later):
    from accounts.services import ban_user, unban_user

    buy_tokens(alice, 1000)
    earn(bob, alice, 1000)
    manual_account(bob)
    later(days=8)
    ban_user(actor=staff, user=bob, reason="fraud review")
    bob.refresh_from_db()
    with pytest.raises(PayoutsSuspended):
        services.request_payout(user=bob)
    unban_user(actor=staff, user=bob, reason="cleared")
    bob.refresh_from_db()
    # A chargeback of bob's own purchase leaves him owing tokens: frozen.
    ledger.claw_back(user=bob, tokens=900, idempotency_key="test-chargeback-bob", reference="test", kind="chargeback")
    with pytest.raises(PayoutsSuspended):
        services.request_payout(user=bob)
    assert Payout.objects.count() == 0


@pytest.mark.django_db
def test_a_dispute_inside_the_hold_window_reduces_what_is_payable(alice, dave, bob, later):
    buy_tokens(alice, 500)
    buy_tokens(dave, 1000)
    earn(bob, alice, 500)  # alice spends all she bought on bob: 400 net
    earn(bob, dave, 1000)  # 800 net from dave
    manual_account(bob)
    # Two days later alice's card payment is disputed; her tokens are spent, so she owes 500.
    later(days=2)
    ledger.claw_back(user=alice, tokens=500, idempotency_key="test-dispute-alice", reference="test", kind="chargeback")

    later(days=6)  # both earnings are past their hold now
    position = selectors.creator_position(user=bob)
    assert position.withheld == 400
    assert position.payable == 800
    payout = services.request_payout(user=bob)
    assert payout.tokens == 800
    assert {item.earning.entries.filter(account__kind="wallet").first().account.user_id for item in payout.items.all()} == {dave.pk}

    # alice settles her debt by buying again: what she paid bob is payable.
    buy_tokens(alice, 500)
    assert selectors.creator_position(user=bob).payable == 400
    assert_books_balance()


@pytest.mark.django_db
def test_a_dispute_after_the_hold_or_the_payout_takes_nothing_back(alice, dave, bob, later, staff):
    buy_tokens(alice, 500)
    earn(bob, alice, 500)
    manual_account(bob)
    later(days=8)
    payout = services.request_payout(user=bob)
    services.approve_payout(payout_id=payout.pk, actor=staff)
    services.mark_manual_paid(payout_id=payout.pk, actor=staff, reference="SEPA-9")

    ledger.claw_back(user=alice, tokens=500, idempotency_key="test-late-dispute", reference="test", kind="chargeback")

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID and payout.tokens == 400
    assert system_balance(SystemAccount.PAYOUTS_PAID) == 400
    assert_books_balance()


@pytest.mark.django_db
def test_a_refunded_earning_is_paid_net_of_its_refund(alice, bob, later):
    buy_tokens(alice, 2000)
    charge = earn(bob, alice, 1000, kind=TransactionKind.CALL_CHARGE)  # 800 net, fee 200
    ledger.refund_charge(original=charge, amount=200, idempotency_key="test-refund-unused", reason="unused minutes")
    manual_account(bob)
    later(days=8)
    payout = services.request_payout(user=bob)
    (item,) = payout.items.all()
    assert (item.gross, item.fee, item.net, item.tokens) == (800, 160, 640, 640)
    assert payout.tokens == 640
    assert_books_balance()
