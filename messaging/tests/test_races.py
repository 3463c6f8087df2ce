"""Real threads against real PostgreSQL: resends, reply-vs-expiry, block-vs-send settle exactly once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import block_user
from accounts.tests.factories import make_creator, make_user
from digis.testing import run_concurrently
from ledger.models import Transaction
from ledger.selectors import pending_earnings
from ledger.services import balance_of, message_escrow_balance
from messaging import services
from messaging.models import EscrowState, Message
from messaging.tests.conftest import assert_ledger_consistent
from messaging.tests.factories import fund, make_messaging_creator, new_id, open_between, send

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(autouse=True)
def _generous_rate_limit(settings):
    settings.MESSAGE_RATE_PER_MINUTE = 10_000


def _pair(price=10, tokens=1000, name="race"):
    fan = make_user(f"{name}-fan")
    creator = make_creator(f"{name}-creator")
    make_messaging_creator(creator, price=price)
    fund(fan, tokens)
    return fan, creator, open_between(fan, creator)


def test_five_concurrent_resends_of_one_paid_message_store_and_charge_once():
    fan, creator, conversation = _pair()
    client_id = new_id()

    def resend():
        message, created = services.send_message(sender=fan, conversation_id=conversation.pk, client_message_id=client_id, text="hi")
        return message.pk, created

    results = run_concurrently([resend] * 5)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len({pk for pk, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, False, True]
    assert Message.objects.count() == 1
    assert Transaction.objects.filter(kind="message_hold").count() == 1
    assert balance_of(user=fan) == 990 and message_escrow_balance() == 10
    assert_ledger_consistent()


@pytest.mark.parametrize("round_no", range(4))
def test_reply_racing_the_expiry_job_settles_each_message_once(round_no):
    # given three held messages whose reply window has just passed
    fan, creator, conversation = _pair(name=f"expiry{round_no}")
    held = [send(fan, conversation, f"m{n}") for n in range(3)]
    Message.objects.filter(pk__in=[m.pk for m in held]).update(reply_by=timezone.now() - timedelta(seconds=1))

    # when the creator's reply and two expiry jobs run at the same instant
    def reply():
        return send(creator, conversation, "here I am").pk

    results = run_concurrently([reply, services.refund_due_messages, services.refund_due_messages])
    assert not [r for r in results if isinstance(r, BaseException)], results

    # then every message is either answered or refunded, once, and the money agrees
    states = {m.pk: m.escrow_state for m in Message.objects.filter(pk__in=[m.pk for m in held])}
    assert set(states.values()) <= {EscrowState.RELEASED, EscrowState.REFUNDED}
    released = [pk for pk, state in states.items() if state == EscrowState.RELEASED]
    refunded = [pk for pk, state in states.items() if state == EscrowState.REFUNDED]
    assert len(released) + len(refunded) == 3
    assert results[1] + results[2] == len(refunded)  # the jobs' counts: each refund counted once
    for message in Message.objects.filter(pk__in=[m.pk for m in held]):
        settlements = Transaction.objects.filter(original_id=message.hold_transaction_id)
        assert settlements.count() == 1 and settlements.get().pk == message.settle_transaction_id
    assert balance_of(user=fan) == 1000 - 10 * len(released)
    assert pending_earnings(user=creator) == 8 * len(released)
    assert message_escrow_balance() == 0
    assert_ledger_consistent()


def test_a_block_racing_a_paid_send_leaves_nothing_held():
    fan, creator, conversation = _pair(name="blockrace")
    send(fan, conversation, "before")

    def paid():
        try:
            return send(fan, conversation, "during").pk
        except Exception as exc:  # refused: the block won
            return type(exc).__name__

    results = run_concurrently([paid, lambda: block_user(blocker=creator, blocked=fan).pk])
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert not Message.objects.filter(escrow_state=EscrowState.HELD).exists()
    assert balance_of(user=fan) == 1000
    assert_ledger_consistent()


def test_many_fans_writing_while_the_creator_answers_them_all_never_deadlocks():
    creator = make_creator("busy")
    make_messaging_creator(creator, price=5)
    fans = []
    for n in range(6):
        fan = make_user(f"busy-fan{n}")
        fund(fan, 100)
        fans.append((fan, open_between(fan, creator)))
    for fan, conversation in fans:
        send(fan, conversation, "first")

    jobs = []
    for fan, conversation in fans:
        jobs.append(lambda fan=fan, conversation=conversation: send(fan, conversation, "second").pk)
        jobs.append(lambda conversation=conversation: send(creator, conversation, "answer").pk)
    results = run_concurrently(jobs)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert Message.objects.filter(escrow_state=EscrowState.RELEASED).count() >= len(fans)
    assert_ledger_consistent()
