"""Real threads against real PostgreSQL: the invariants hold under concurrency."""

import random

import pytest
from django.db import IntegrityError, InternalError, connection, transaction
from django.db.utils import DatabaseError

from accounts.tests.factories import make_creator, make_user
from digis.testing import run_concurrently
from ledger import selectors, services
from ledger.checks import run_all
from ledger.exceptions import InsufficientFunds
from ledger.models import Account, AccountKind, Entry, Transaction
from ledger.tests.factories import fund

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def assert_consistent():
    problems = {name: found for name, found in run_all().items() if found}
    assert problems == {}


@pytest.mark.slow
def test_bank_race_random_transfers_and_retries_conserve_tokens():
    # given four wallets with 1000 tokens each
    users = [make_user(f"bank{i}") for i in range(4)]
    for user in users:
        fund(user, 1000)
    total_before = sum(services.balance_of(user=u) for u in users)
    rng = random.Random(7)
    # 40 distinct keys, each submitted by two or three threads (retries racing the original)
    plans = []
    for n in range(40):
        source, destination = rng.sample(users, 2)
        plans.append((f"bank:{n}", source, destination, rng.randint(1, 400)))
    calls = []
    for key, source, destination, amount in plans:
        for _ in range(rng.choice([2, 3])):
            calls.append((key, source, destination, amount))
    rng.shuffle(calls)

    def make(key, source, destination, amount):
        def run():
            try:
                return services.transfer(source=source, destination=destination, amount=amount, kind="transfer", idempotency_key=key).pk
            except InsufficientFunds:
                return "insufficient"
        return run

    # when they all run at once (in batches of 20 threads)
    results = []
    for start in range(0, len(calls), 20):
        results += run_concurrently([make(*c) for c in calls[start:start + 20]])

    # then nothing crashed, tokens are conserved, nothing is negative, every key applied at most once
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(services.balance_of(user=u) for u in users) == total_before
    assert all(services.balance_of(user=u) >= 0 for u in users)
    by_key = {}
    for (key, *_), result in zip(calls, results):
        if result != "insufficient":
            by_key.setdefault(key, set()).add(result)
    assert all(len(ids) == 1 for ids in by_key.values())
    for key in by_key:
        tx = Transaction.objects.get(idempotency_key=key)
        assert tx.entries.count() == 2
    assert_consistent()


def test_two_spends_of_the_whole_balance_exactly_one_succeeds():
    alice, bob, carol = make_user("alice"), make_creator("bob"), make_user("carol")
    fund(alice, 100)

    results = run_concurrently([
        lambda: services.charge_with_fee(payer=alice, creator=bob, amount=100, kind="tip", idempotency_key="spend-a"),
        lambda: services.transfer(source=alice, destination=carol, amount=100, kind="transfer", idempotency_key="spend-b"),
    ])

    assert sorted(type(r).__name__ for r in results) == ["InsufficientFunds", "Transaction"]
    assert services.balance_of(user=alice) == 0
    assert_consistent()


def test_tip_storm_to_one_creator_all_land():
    creator = make_creator("star")
    payers = [make_user(f"fan{i}") for i in range(16)]
    for payer in payers:
        fund(payer, 50)

    results = run_concurrently([
        (lambda p=p: services.charge_with_fee(payer=p, creator=creator, amount=10, kind="tip", idempotency_key=f"storm:{p.pk}", fee_bps=2000))
        for p in payers
    ])

    assert not [r for r in results if isinstance(r, BaseException)]
    assert selectors.pending_earnings(user=creator) == 16 * 8
    assert_consistent()


def test_release_racing_new_tips_loses_nothing():
    creator = make_creator("star")
    payers = [make_user(f"fan{i}") for i in range(6)]
    for payer in payers:
        fund(payer, 100)
    services.charge_with_fee(payer=payers[0], creator=creator, amount=10, kind="tip", idempotency_key="first", fee_bps=0)

    funcs = [lambda: services.release_earnings(user=creator) for _ in range(3)]
    funcs += [(lambda p=p: services.charge_with_fee(payer=p, creator=creator, amount=10, kind="tip", idempotency_key=f"t:{p.pk}", fee_bps=0)) for p in payers]
    results = run_concurrently(funcs)

    assert not [r for r in results if isinstance(r, BaseException)]
    assert services.balance_of(user=creator) + selectors.pending_earnings(user=creator) == 70
    assert_consistent()


def test_concurrent_refunds_never_exceed_the_charge():
    alice, bob = make_user("alice"), make_creator("bob")
    fund(alice, 100)
    charge = services.charge_with_fee(payer=alice, creator=bob, amount=100, kind="call_charge", idempotency_key="c")
    results = run_concurrently([
        (lambda n=n: services.refund_charge(original=charge, amount=40, idempotency_key=f"r{n}", reason="x")) for n in range(4)
    ])
    assert sum(1 for r in results if isinstance(r, Transaction)) == 2
    assert services.balance_of(user=alice) == 80
    assert_consistent()


# --- database backstops: bypass Python and PostgreSQL refuses ----------------------


def test_database_refuses_a_negative_wallet():
    alice = make_user("alice")
    fund(alice, 5)
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(user=alice, kind=AccountKind.WALLET).update(balance=-1)


def test_database_refuses_an_unbalanced_transaction():
    alice = make_user("alice")
    wallet = services.open_wallet(user=alice)
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            tx = Transaction.objects.create(kind="adjustment", idempotency_key="raw", fingerprint="x")
            Entry.objects.create(transaction=tx, account=wallet, amount=5)
            Entry.objects.create(transaction=tx, account=services.system_account("promotions"), amount=-4)
    assert not Transaction.objects.filter(idempotency_key="raw").exists()


def test_database_refuses_a_transaction_without_entries():
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            Transaction.objects.create(kind="adjustment", idempotency_key="empty", fingerprint="x")


@pytest.mark.parametrize("operation", ["update_entry", "delete_entry", "update_tx", "delete_tx", "raw_sql"])
def test_database_refuses_changes_to_history(operation):
    alice = make_user("alice")
    tx = fund(alice, 5)
    with pytest.raises(DatabaseError), transaction.atomic():
        if operation == "update_entry":
            Entry.objects.filter(transaction=tx).update(amount=50)
        elif operation == "delete_entry":
            Entry.objects.filter(transaction=tx).delete()
        elif operation == "update_tx":
            Transaction.objects.filter(pk=tx.pk).update(reference="edited")
        elif operation == "delete_tx":
            Transaction.objects.filter(pk=tx.pk).delete()
        else:
            with connection.cursor() as cursor:
                cursor.execute("UPDATE ledger_entry SET amount = amount * 2 WHERE transaction_id = %s", [tx.pk])
    assert sorted(Entry.objects.filter(transaction=tx).values_list("amount", flat=True)) == [-5, 5]
