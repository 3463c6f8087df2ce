"""Hypothesis stateful test: random sequences of ledger operations keep the books exact."""

import itertools

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from accounts.tests.factories import make_creator, make_user
from ledger import selectors, services
from ledger.checks import run_all
from ledger.exceptions import DomainError
from ledger.models import Entry, Transaction

_run = itertools.count()


class LedgerMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        # Each example runs in its own savepoint, rolled back at teardown, so
        # examples never see each other's rows.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        run = next(_run)
        self.fans = [make_user(f"p{run}f{i}") for i in range(3)]
        self.creator = make_creator(f"p{run}c")
        self.people = self.fans + [self.creator]
        self.keys = {}  # key -> (tx pk, args) of successful writes
        self.issued = 0
        self.n = 0

    def teardown(self):
        if hasattr(self, "_atomic"):
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)

    def _key(self):
        self.n += 1
        return f"{id(self)}:{self.n}"

    def _remember(self, key, tx, args):
        self.keys[key] = (tx.pk, args)

    @rule(who=st.integers(0, 3), tokens=st.integers(1, 500))
    def purchase(self, who, tokens):
        key = self._key()
        tx = services.credit_purchase(user=self.people[who], tokens=tokens, idempotency_key=key, reference="p")
        self._remember(key, tx, ("purchase", who, tokens))
        self.issued += tokens

    @rule(a=st.integers(0, 3), b=st.integers(0, 3), amount=st.integers(1, 600))
    def transfer(self, a, b, amount):
        if a == b:
            return
        key = self._key()
        try:
            tx = services.transfer(source=self.people[a], destination=self.people[b], amount=amount, kind="transfer", idempotency_key=key)
        except DomainError:
            return
        self._remember(key, tx, ("transfer", a, b, amount))

    @rule(fan=st.integers(0, 2), amount=st.integers(1, 300), bps=st.integers(0, 10_000))
    def charge(self, fan, amount, bps):
        key = self._key()
        try:
            tx = services.charge_with_fee(payer=self.fans[fan], creator=self.creator, amount=amount, kind="tip", idempotency_key=key, fee_bps=bps)
        except DomainError:
            return
        self._remember(key, tx, ("charge", fan, amount, bps))

    @rule()
    def release(self):
        services.release_earnings(user=self.creator)

    @rule(data=st.data())
    def refund_some(self, data):
        charges = [pk for pk, args in self.keys.values() if args[0] == "charge"]
        if not charges:
            return
        charge = Transaction.objects.get(pk=data.draw(st.sampled_from(charges)))
        try:
            services.refund_charge(original=charge, amount=data.draw(st.integers(1, 300)), idempotency_key=self._key(), reason="t")
        except DomainError:
            pass

    @rule(who=st.integers(0, 2), tokens=st.integers(1, 300))
    def claw_back(self, who, tokens):
        services.claw_back(user=self.fans[who], tokens=tokens, idempotency_key=self._key(), reference="cb", kind="chargeback")

    @rule(data=st.data())
    def retry_a_key(self, data):
        if not self.keys:
            return
        key = data.draw(st.sampled_from(sorted(self.keys)))
        pk, args = self.keys[key]
        before = Entry.objects.count()
        if args[0] == "purchase":
            tx = services.credit_purchase(user=self.people[args[1]], tokens=args[2], idempotency_key=key, reference="p")
        elif args[0] == "transfer":
            tx = services.transfer(source=self.people[args[1]], destination=self.people[args[2]], amount=args[3], kind="transfer", idempotency_key=key)
        else:
            tx = services.charge_with_fee(payer=self.fans[args[1]], creator=self.creator, amount=args[2], kind="tip", idempotency_key=key, fee_bps=args[3])
        assert tx.pk == pk
        assert Entry.objects.count() == before

    @invariant()
    def books_are_exact(self):
        if not hasattr(self, "people"):
            return
        assert all(not problems for problems in run_all().values()), run_all()
        for person in self.people:
            assert services.balance_of(user=person) >= 0
            total = sum(Entry.objects.filter(account__user=person, account__kind="wallet").values_list("amount", flat=True))
            assert total == services.balance_of(user=person)

    @invariant()
    def tokens_are_conserved(self):
        if not hasattr(self, "people"):
            return
        # Everything users hold (wallets + pending - debt) plus platform fees equals
        # what was bought minus what was clawed back.
        held = sum(services.balance_of(user=p) - selectors.debt_of(user=p) for p in self.people)
        held += selectors.pending_earnings(user=self.creator)
        fees = sum(Entry.objects.filter(account__system_code="platform_fee").values_list("amount", flat=True))
        clawed = sum(Entry.objects.filter(account__system_code="refunds").values_list("amount", flat=True))
        assert held + fees == self.issued - clawed


LedgerMachine.TestCase.settings = settings(
    max_examples=15, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.slow
@pytest.mark.django_db
def test_ledger_state_machine():
    state = LedgerMachine.TestCase("runTest")
    state.runTest()
