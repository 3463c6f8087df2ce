"""ledger_post(): the hot writes in one round trip on PostgreSQL, same contract as the Python path."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import make_user
from ledger import services
from ledger.checks import run_all
from ledger.exceptions import InsufficientFunds, InvalidTransfer
from ledger.models import Account, AccountKind, Entry, SystemAccount, Transaction
from ledger.tests.factories import fund

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def assert_consistent():
    assert {name: found for name, found in run_all().items() if found} == {}


@pytest.mark.parametrize("ledger_write_path", ["in_database"], indirect=True)
def test_hot_writes_are_one_statement_each(alice, bob, mallory):
    with CaptureQueriesContext(connection) as purchase:
        fund(alice, 100)
    with CaptureQueriesContext(connection) as moved:
        services.transfer(source=alice, destination=mallory, amount=10, kind="transfer", idempotency_key="t1")
    with CaptureQueriesContext(connection) as charged:
        services.charge_with_fee(payer=alice, creator=bob, amount=20, kind="tip", idempotency_key="c1")
    # No savepoint, no lookups: one call of the function each.
    assert [len(purchase), len(moved), len(charged)] == [1, 1, 1]
    assert "ledger_post" in moved[0]["sql"]
    assert services.balance_of(user=alice) == 70
    assert_consistent()


@pytest.mark.parametrize("ledger_write_path", ["in_database"], indirect=True)
def test_returned_transaction_is_the_stored_row(alice, mallory):
    fund(alice, 50)
    tx = services.transfer(source=alice, destination=mallory, amount=5, kind="transfer", idempotency_key="t", reference="r", memo="m")
    stored = Transaction.objects.get(pk=tx.pk)
    assert (tx.kind, tx.idempotency_key, tx.fingerprint, tx.reference, tx.memo, tx.created_at) == (
        stored.kind, stored.idempotency_key, stored.fingerprint, stored.reference, stored.memo, stored.created_at,
    )
    assert tx.created_now is True
    again = services.transfer(source=alice, destination=mallory, amount=5, kind="transfer", idempotency_key="t", reference="r", memo="m")
    assert again.pk == tx.pk and not getattr(again, "created_now", False)
    wallet_entry = stored.entries.get(account__user=alice)
    assert (wallet_entry.amount, wallet_entry.balance_after) == (-5, 45)


@pytest.mark.parametrize("ledger_write_path", ["in_database"], indirect=True)
def test_missing_accounts_are_created_once(alice, bob):
    # given a creator with no earnings account and a fee shard never used
    Account.objects.filter(user=bob, kind=AccountKind.EARNINGS).delete()
    fund(alice, 100)
    shard = services.fee_shard_for("first-tip")
    Account.objects.filter(system_code=SystemAccount.PLATFORM_FEE, shard=shard).delete()
    # when alice tips twice
    services.charge_with_fee(payer=alice, creator=bob, amount=10, kind="tip", idempotency_key="first-tip")
    services.charge_with_fee(payer=alice, creator=bob, amount=10, kind="tip", idempotency_key="second-tip")
    # then each account exists exactly once
    assert Account.objects.filter(user=bob, kind=AccountKind.EARNINGS).count() == 1
    assert Account.objects.filter(system_code=SystemAccount.PLATFORM_FEE, shard=shard).count() == 1
    assert_consistent()


@pytest.mark.parametrize("ledger_write_path", ["in_database"], indirect=True)
def test_a_refusal_leaves_the_callers_transaction_usable(alice, mallory):
    fund(alice, 10)
    with transaction.atomic():
        with pytest.raises(InsufficientFunds) as info:
            services.transfer(source=alice, destination=mallory, amount=11, kind="transfer", idempotency_key="too-much")
        assert info.value.shortfall == 1
        # the same database transaction goes on (no aborted transaction, no savepoint needed)
        services.transfer(source=alice, destination=mallory, amount=10, kind="transfer", idempotency_key="all")
    assert services.balance_of(user=alice) == 0
    assert not Transaction.objects.filter(idempotency_key="too-much").exists()


@pytest.mark.parametrize("ledger_write_path", ["in_database"], indirect=True)
def test_a_user_and_their_own_wallet_are_the_same_account(alice):
    fund(alice, 10)
    wallet = services.open_wallet(user=alice)
    with pytest.raises(InvalidTransfer):
        services.transfer(source=alice, destination=wallet, amount=1, kind="transfer", idempotency_key="self")
    assert not Transaction.objects.filter(idempotency_key="self").exists()


@pytest.mark.parametrize("ledger_write_path", ["python"], indirect=True)  # switches paths itself
def test_both_paths_write_the_same_rows(alice, bob, mallory, settings):
    """The same operations through each path leave identical balances, entries and fingerprints."""
    outcomes = []
    for path, prefix in ((True, "db"), (False, "py")):
        settings.LEDGER_POST_IN_DATABASE = path
        fan, creator, other = make_user(f"{prefix}fan"), make_user(f"{prefix}creator"), make_user(f"{prefix}other")
        fund(fan, 100)
        services.claw_back(user=fan, tokens=130, idempotency_key=f"{prefix}cb", reference="ch", kind="chargeback")
        fund(fan, 50)  # pays the 30 debt first
        services.transfer(source=fan, destination=other, amount=15, kind="transfer", idempotency_key=f"{prefix}t")
        services.charge_with_fee(payer=fan, creator=creator, amount=5, kind="tip", idempotency_key=f"{prefix}c", fee_bps=2000)
        outcomes.append(
            [
                (e.transaction.kind, e.account.kind, e.account.system_code, e.amount, e.balance_after)
                for e in Entry.objects.filter(account__user__in=[fan, creator, other])
                .select_related("transaction", "account").order_by("id")
            ]
        )
    assert outcomes[0] == outcomes[1]
    assert ("purchase", "receivable", "", 30, None) in outcomes[0]  # the debt was paid first
    assert ("tip", "wallet", "", -5, 0) in outcomes[0] and ("tip", "earnings", "", 4, None) in outcomes[0]
    assert_consistent()


@pytest.mark.parametrize("ledger_write_path", ["in_database"], indirect=True)
def test_a_purchase_reports_the_wallet_balance_it_left(alice, mallory):
    first = fund(alice, 100)
    assert first.wallet_balance_after == 100
    services.claw_back(user=alice, tokens=130, idempotency_key="cb", reference="ch", kind="chargeback")
    paid_debt_only = fund(alice, 20)  # all of it pays debt
    assert paid_debt_only.wallet_balance_after == 0
    assert fund(alice, 50).wallet_balance_after == 40 == services.balance_of(user=alice)
    # a replay wrote nothing and reports nothing: callers read balance_of
    again = services.credit_purchase(user=alice, tokens=100, idempotency_key=first.idempotency_key, reference="test")
    assert again.pk == first.pk and not hasattr(again, "wallet_balance_after")


@pytest.mark.parametrize("fee_bps, entries", [(0, 2), (10_000, 2), (2000, 3)])
def test_a_zero_share_writes_no_entry(alice, bob, fee_bps, entries):
    fund(alice, 50)
    tx = services.charge_with_fee(payer=alice, creator=bob, amount=10, kind="tip", idempotency_key="t", fee_bps=fee_bps)
    assert tx.entries.count() == entries
    assert 0 not in tx.entries.values_list("amount", flat=True)
    assert services.balance_of(user=alice) == 40
    assert_consistent()


# --- ledger_post() checks its own legs; the deferred triggers check everyone else ---------


def _setting(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [name])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ledger_write_path", ["in_database"], indirect=True)
def test_a_row_added_later_to_a_posted_transaction_is_still_checked(alice, mallory):
    """The triggers skip only the rows ledger_post() writes while it vouches for them."""
    fund(alice, 50)
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            tx = services.transfer(source=alice, destination=mallory, amount=5, kind="transfer", idempotency_key="t")
            assert _setting("ledger.vouched_tx") == ""  # cleared before the function returned
            Entry.objects.create(transaction=tx, account=services.open_wallet(user=mallory), amount=7)
    # the whole database transaction was refused at COMMIT, the transfer with it
    assert not Transaction.objects.filter(idempotency_key="t").exists()
    assert services.balance_of(user=alice) == 50
    assert_consistent()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ledger_write_path", ["in_database"], indirect=True)
def test_ledger_post_refuses_unbalanced_legs_itself(alice, mallory):
    """Called past Python's own check, the function refuses legs that do not balance, at once."""
    fund(alice, 50)
    legs = [services._user_leg(alice, AccountKind.WALLET, -5), services._user_leg(mallory, AccountKind.WALLET, 4)]
    columns = [services._array_literal(column) for column in zip(*legs)]
    for bad in (columns, [*columns[:-1], "{-5,0}"]):  # unbalanced; a single non-zero leg
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(services._POST_SQL, ["transfer", "raw-post", "fp", "", "", *bad, 1, 0])
    assert not Transaction.objects.filter(idempotency_key="raw-post").exists()
    assert services.balance_of(user=alice) == 50


@pytest.mark.django_db(transaction=True)
def test_other_writers_are_still_checked_when_a_vouch_is_open(alice):
    """A vouch names one transaction id; rows of any other transaction are checked as before."""
    wallet = services.open_wallet(user=alice)
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('ledger.vouched_tx', '-1', true)")
            tx = Transaction.objects.create(kind="adjustment", idempotency_key="raw", fingerprint="x")
            Entry.objects.create(transaction=tx, account=wallet, amount=5)
    assert not Transaction.objects.filter(idempotency_key="raw").exists()
