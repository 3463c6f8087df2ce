import pytest
from django.test import override_settings

from ledger import selectors, services
from ledger.checks import run_all
from ledger.exceptions import (
    AlreadyReversed,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidTransfer,
    NotReversible,
    RefundExceedsCharge,
    WalletFrozen,
)
from ledger.models import Account, AccountKind, Entry, SystemAccount, Transaction
from ledger.tests.factories import fund

pytestmark = pytest.mark.django_db


def assert_consistent():
    assert run_all() == {name: [] for name in run_all()}


def test_open_wallet_is_idempotent(alice):
    assert services.open_wallet(user=alice) == services.open_wallet(user=alice)
    assert Account.objects.filter(user=alice, kind=AccountKind.WALLET).count() == 1
    assert services.balance_of(user=alice) == 0


def test_purchase_credits_wallet_with_balance_after(alice):
    tx = fund(alice, 500)
    assert services.balance_of(user=alice) == 500
    wallet_entry = tx.entries.get(account__kind=AccountKind.WALLET)
    assert wallet_entry.balance_after == 500
    assert sum(tx.entries.values_list("amount", flat=True)) == 0
    assert_consistent()


def test_transfer_moves_tokens_and_same_key_applies_once(alice, mallory):
    fund(alice, 100)
    first = services.transfer(source=alice, destination=mallory, amount=30, kind="transfer", idempotency_key="k1")
    again = services.transfer(source=alice, destination=mallory, amount=30, kind="transfer", idempotency_key="k1")
    assert again.pk == first.pk
    assert services.balance_of(user=alice) == 70
    assert services.balance_of(user=mallory) == 30
    assert Transaction.objects.filter(idempotency_key="k1").count() == 1


def test_same_key_different_amount_is_a_conflict(alice, mallory):
    fund(alice, 100)
    services.transfer(source=alice, destination=mallory, amount=30, kind="transfer", idempotency_key="k1")
    with pytest.raises(IdempotencyConflict) as info:
        services.transfer(source=alice, destination=mallory, amount=31, kind="transfer", idempotency_key="k1")
    assert info.value.code == "idempotency_conflict"
    assert services.balance_of(user=alice) == 70


def test_insufficient_funds_reports_shortfall_and_changes_nothing(alice, mallory):
    fund(alice, 10)
    with pytest.raises(InsufficientFunds) as info:
        services.transfer(source=alice, destination=mallory, amount=25, kind="transfer", idempotency_key="k")
    assert info.value.shortfall == 15
    assert info.value.code == "insufficient_funds" and info.value.status_code == 402
    assert services.balance_of(user=alice) == 10
    assert not Transaction.objects.filter(idempotency_key="k").exists()


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10", True, None, 10**16])
def test_bad_amounts_are_refused(alice, mallory, amount):
    fund(alice, 100)
    with pytest.raises(InvalidAmount):
        services.transfer(source=alice, destination=mallory, amount=amount, kind="transfer", idempotency_key="k")


def test_transfer_to_self_is_refused(alice):
    fund(alice, 100)
    with pytest.raises(InvalidTransfer):
        services.transfer(source=alice, destination=alice, amount=1, kind="transfer", idempotency_key="k")


@override_settings(PLATFORM_FEE_BPS=2000)
def test_charge_with_fee_splits_and_rounds_in_creators_favour(alice, bob):
    fund(alice, 1000)
    tx = services.charge_with_fee(payer=alice, creator=bob, amount=7, kind="tip", idempotency_key="tip1")
    by_kind = {e.account.kind: e.amount for e in tx.entries.select_related("account")}
    # 20 % of 7 = 1.4 -> the platform takes 1, the creator keeps 6.
    assert by_kind == {AccountKind.WALLET: -7, AccountKind.EARNINGS: 6, AccountKind.SYSTEM: 1}
    assert services.balance_of(user=alice) == 993
    assert selectors.pending_earnings(user=bob) == 6
    assert services.balance_of(user=bob) == 0
    assert_consistent()


def test_fee_shards_are_chosen_by_key(alice, bob):
    fund(alice, 1000)
    for n in range(20):
        services.charge_with_fee(payer=alice, creator=bob, amount=10, kind="tip", idempotency_key=f"tip{n}")
    shards = Account.objects.filter(system_code=SystemAccount.PLATFORM_FEE)
    assert shards.count() > 1
    assert sum(shards.values_list("balance", flat=True)) == 40
    assert_consistent()


def test_release_moves_pending_to_wallet_once(alice, bob):
    fund(alice, 100)
    services.charge_with_fee(payer=alice, creator=bob, amount=50, kind="call_charge", idempotency_key="c1", fee_bps=2000)
    released = services.release_earnings(user=bob)
    assert released is not None
    assert services.balance_of(user=bob) == 40
    assert selectors.pending_earnings(user=bob) == 0
    assert selectors.earnings_available(user=bob) == 40
    assert services.release_earnings(user=bob) is None
    assert services.release_earnings(user=bob, idempotency_key=released.idempotency_key).pk == released.pk
    assert_consistent()


def test_refund_takes_creator_share_and_fee_back_in_proportion(alice, bob):
    fund(alice, 1000)
    charge = services.charge_with_fee(payer=alice, creator=bob, amount=100, kind="call_charge", idempotency_key="c", fee_bps=2000)
    services.refund_charge(original=charge, amount=33, idempotency_key="r1", reason="dropped")
    services.refund_charge(original=charge, amount=67, idempotency_key="r2", reason="dropped")
    assert services.balance_of(user=alice) == 1000
    assert selectors.pending_earnings(user=bob) == 0
    fees = Entry.objects.filter(account__system_code=SystemAccount.PLATFORM_FEE)
    assert sum(fees.values_list("amount", flat=True)) == 0
    with pytest.raises(RefundExceedsCharge) as info:
        services.refund_charge(original=charge, amount=1, idempotency_key="r3", reason="more")
    assert info.value.refundable == 0
    assert_consistent()


@pytest.mark.parametrize(
    ("charged", "refunds", "creator_keeps", "fee_keeps"),
    [
        (20, [14], 5, 1),  # 6 tokens stay paid: fee floor(1.2) = 1, creator 5
        (20, [7, 7], 5, 1),  # the same refund in two parts ends in the same split
        (10, [3], 6, 1),  # 7 stay paid: fee floor(1.4) = 1
        (100, [1], 80, 19),  # 99 stay paid: fee floor(19.8) = 19
    ],
)
def test_partial_refund_rounds_the_remaining_fee_in_the_creators_favour(alice, bob, charged, refunds, creator_keeps, fee_keeps):
    fund(alice, 1000)
    charge = services.charge_with_fee(payer=alice, creator=bob, amount=charged, kind="call_charge", idempotency_key="c", fee_bps=2000)
    for n, amount in enumerate(refunds):
        services.refund_charge(original=charge, amount=amount, idempotency_key=f"r{n}", reason="unused part")
    fees = Entry.objects.filter(account__system_code=SystemAccount.PLATFORM_FEE)
    assert selectors.pending_earnings(user=bob) == creator_keeps
    assert sum(fees.values_list("amount", flat=True)) == fee_keeps
    assert_consistent()


def test_refund_never_fails_when_creator_spent_released_earnings(alice, bob, mallory):
    fund(alice, 100)
    charge = services.charge_with_fee(payer=alice, creator=bob, amount=100, kind="tip", idempotency_key="t", fee_bps=2000)
    services.release_earnings(user=bob)
    services.transfer(source=bob, destination=mallory, amount=80, kind="transfer", idempotency_key="spent")
    services.refund_charge(original=charge, amount=100, idempotency_key="r", reason="fraud")
    assert services.balance_of(user=alice) == 100
    # The creator's share is recovered from future earnings.
    assert selectors.pending_earnings(user=bob) == -80
    assert_consistent()


def test_claw_back_takes_wallet_then_records_debt_and_freezes(alice, mallory):
    fund(alice, 100)
    services.transfer(source=alice, destination=mallory, amount=70, kind="transfer", idempotency_key="spend")
    services.claw_back(user=alice, tokens=100, idempotency_key="cb", reference="ch_1", kind="chargeback")
    assert services.balance_of(user=alice) == 0
    assert selectors.debt_of(user=alice) == 70
    fund(alice, 50)
    assert services.balance_of(user=alice) == 0 and selectors.debt_of(user=alice) == 20
    fund(alice, 50)
    assert services.balance_of(user=alice) == 30 and selectors.debt_of(user=alice) == 0
    services.transfer(source=alice, destination=mallory, amount=30, kind="transfer", idempotency_key="after")
    assert_consistent()


def test_frozen_wallet_cannot_spend(alice, bob):
    fund(alice, 10)
    services.claw_back(user=alice, tokens=20, idempotency_key="cb", reference="ch", kind="refund")
    assert selectors.wallet_summary(user=alice)["frozen"] is True
    with pytest.raises(WalletFrozen) as info:
        services.charge_with_fee(payer=alice, creator=bob, amount=1, kind="tip", idempotency_key="t")
    assert info.value.debt == 10


def test_restore_clawback_cancels_open_debt_and_returns_the_rest(alice, mallory):
    fund(alice, 100)
    services.transfer(source=alice, destination=mallory, amount=60, kind="transfer", idempotency_key="spend")
    cb = services.claw_back(user=alice, tokens=100, idempotency_key="cb", reference="dp", kind="chargeback")
    fund(alice, 25)  # pays 25 of the 60 debt
    services.restore_clawback(original=cb, idempotency_key="won", reference="dp")
    assert selectors.debt_of(user=alice) == 0
    assert services.balance_of(user=alice) == 40 + 25
    with pytest.raises(AlreadyReversed):
        services.restore_clawback(original=cb, idempotency_key="won-again", reference="dp")
    assert_consistent()


def test_reverse_transaction_once(alice, mallory):
    fund(alice, 100)
    tx = services.transfer(source=alice, destination=mallory, amount=40, kind="transfer", idempotency_key="t")
    rev = services.reverse_transaction(original=tx, idempotency_key="rev", reason="mistake")
    assert rev.reversal_of_id == tx.pk
    assert services.balance_of(user=alice) == 100 and services.balance_of(user=mallory) == 0
    assert services.reverse_transaction(original=tx, idempotency_key="rev", reason="mistake").pk == rev.pk
    with pytest.raises(AlreadyReversed):
        services.reverse_transaction(original=tx, idempotency_key="rev2", reason="again")
    with pytest.raises(NotReversible):
        services.reverse_transaction(original=rev, idempotency_key="rev3", reason="undo undo")
    assert_consistent()


def test_reversal_needs_the_funds(alice, mallory):
    fund(alice, 100)
    tx = services.transfer(source=alice, destination=mallory, amount=40, kind="transfer", idempotency_key="t")
    services.transfer(source=mallory, destination=alice, amount=30, kind="transfer", idempotency_key="back")
    with pytest.raises(InsufficientFunds):
        services.reverse_transaction(original=tx, idempotency_key="rev", reason="mistake")


def test_adjust_balance_writes_an_audit_row(alice, db):
    from accounts.models import AuditEntry
    from accounts.tests.factories import make_user

    admin = make_user("root", role="admin", is_staff=True, is_superuser=True)
    services.adjust_balance(user=alice, amount=25, idempotency_key="adj", reason="goodwill", actor=admin)
    services.adjust_balance(user=alice, amount=25, idempotency_key="adj", reason="goodwill", actor=admin)
    assert services.balance_of(user=alice) == 25
    audit = AuditEntry.objects.get(action="ledger.adjust")
    assert audit.actor == admin and audit.reason == "goodwill"
    assert audit.before == {"balance": 0} and audit.after["balance"] == 25
    assert_consistent()


def test_release_all_earnings(alice, bob):
    fund(alice, 100)
    services.charge_with_fee(payer=alice, creator=bob, amount=10, kind="tip", idempotency_key="t1", fee_bps=0)
    assert services.release_all_earnings() == 1
    assert services.balance_of(user=bob) == 10


def test_promotion_grant_is_idempotent(alice):
    services.grant_promotion(user=alice, tokens=5, idempotency_key="promo")
    services.grant_promotion(user=alice, tokens=5, idempotency_key="promo")
    assert services.balance_of(user=alice) == 5


def test_admin_reversal_writes_one_audit_row(alice, mallory):
    from accounts.models import AuditEntry
    from accounts.tests.factories import make_user

    admin = make_user("root", role="admin", is_staff=True, is_superuser=True)
    fund(alice, 100)
    tx = services.transfer(source=alice, destination=mallory, amount=40, kind="transfer", idempotency_key="t")
    services.reverse_transaction(original=tx, idempotency_key="rev", reason="sent by mistake", actor=admin)
    services.reverse_transaction(original=tx, idempotency_key="rev", reason="sent by mistake", actor=admin)
    audit = AuditEntry.objects.get(action="ledger.reverse")
    assert audit.actor == admin and audit.reason == "sent by mistake" and audit.target_id == str(tx.pk)


def test_reverse_needs_a_reason(alice, mallory):
    fund(alice, 100)
    tx = services.transfer(source=alice, destination=mallory, amount=40, kind="transfer", idempotency_key="t")
    with pytest.raises(Exception) as info:
        services.reverse_transaction(original=tx, idempotency_key="rev", reason="  ")
    assert info.value.code == "reason_required"
    assert services.balance_of(user=mallory) == 40
