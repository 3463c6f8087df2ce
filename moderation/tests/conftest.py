"""Moderation fixtures: moderators, a creator worth reporting, and a stand-in
for the messaging app's target hooks (it is built in parallel)."""

import itertools

import pytest
from django.contrib.auth.models import Group

from accounts.models import Role
from accounts.tests.factories import make_creator, make_user


@pytest.fixture
def other_moderator(db):
    user = make_user("mod2", role=Role.MODERATOR)
    user.groups.add(Group.objects.get(name="moderators"))
    return user


@pytest.fixture
def creator(db):
    """Carol, a creator listed on Explore."""
    from creators.tests.factories import make_creator_profile

    user = make_creator("carol")
    make_creator_profile(user, bio="Totally legit giveaway: send your card number")
    return user


@pytest.fixture
def reporters(db):
    return [make_user(f"reporter{i}") for i in range(5)]


@pytest.fixture
def registry():
    """Restores the target registry after a test registers its own hooks."""
    from moderation import services

    saved = {kind: services.TargetHooks(**vars(hooks)) for kind, hooks in services._targets.items()}
    listeners = list(services._payout_freeze_listeners)
    yield services
    services._targets.clear()
    services._targets.update(saved)
    services._payout_freeze_listeners[:] = listeners


@pytest.fixture
def paid_messages(registry):
    """'message' targets as the messaging app would register them: a message is
    a paid message charge in the ledger; hiding it is remembered, refunding it
    gives the payer their tokens back through the ledger (once per key)."""
    from accounts.models import User
    from ledger import services as ledger
    from ledger.models import Entry, Transaction
    from moderation.exceptions import UnknownTarget

    hidden = set()

    def owner_of(message_id):
        tx = Transaction.objects.filter(pk=message_id, kind="message_charge").first() if str(message_id).isdigit() else None
        if tx is None:
            raise UnknownTarget()
        earnings = Entry.objects.select_related("account").get(transaction=tx, account__kind="earnings")
        return User.objects.get(pk=earnings.account.user_id), tx

    def resolve(target_id, reporter):
        owner, tx = owner_of(target_id)
        return owner, str(tx.pk)

    def describe(target_id):
        owner, tx = owner_of(target_id)
        return {"title": f"Paid message by @{owner.username}", "text": "Buy my course!!!", "hidden": target_id in hidden}

    def hide(*, target_id, actor, reason):
        hidden.add(target_id)

    def unhide(*, target_id, actor, reason):
        hidden.discard(target_id)

    def refund(*, target_id, actor, reason, idempotency_key):
        owner, tx = owner_of(target_id)
        amount = -Entry.objects.get(transaction=tx, account__kind="wallet").amount
        ledger.refund_charge(original=tx, amount=amount, idempotency_key=idempotency_key, reason=reason)
        return {"refunds": 1, "tokens": amount}

    registry.register_target("message", resolve, describe=describe, hide=hide, unhide=unhide, refund=refund)
    return hidden


_keys = itertools.count(1)


def send_paid_message(payer, creator, amount=50):
    """A paid message: tokens bought, then charged to the payer (the ledger transaction is the message's id here)."""
    from ledger import services as ledger

    ledger.credit_purchase(user=payer, tokens=amount, idempotency_key=f"msg-fund:{next(_keys)}", reference="test")
    return ledger.charge_with_fee(payer=payer, creator=creator, amount=amount, kind="message_charge", idempotency_key=f"msg:{next(_keys)}")
