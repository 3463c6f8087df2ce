"""The wallet's history in people's words: one line per thing that happened, refunds
netted, internal moves left out, and 30-day totals that match the ledger exactly."""

import datetime as dt
import uuid

import pytest
import time_machine
from django.db.models import Sum
from django.utils import timezone

from ledger import selectors, services
from ledger.models import AccountKind, Entry, TransactionKind

pytestmark = pytest.mark.django_db


def _fund(user, tokens, key="fund"):
    return services.credit_purchase(user=user, tokens=tokens, idempotency_key=f"{key}:{user.pk}", reference=f"purchase:{uuid.uuid4()}")


def _call(alice, bob, *, minutes: int, refund_last: int = 0, rate: int = 10):
    """A call as calls.services books it: one charge per minute under the call's
    reference, then the unused part of the last minute refunded."""
    reference = f"call:{uuid.uuid4()}"
    charges = [
        services.charge_with_fee(payer=alice, creator=bob, amount=rate, kind=TransactionKind.CALL_CHARGE,
                                 idempotency_key=f"{reference}:minute:{m}", reference=reference)
        for m in range(1, minutes + 1)
    ]
    if refund_last:
        services.refund_charge(original=charges[-1], amount=refund_last, idempotency_key=f"{reference}:refund", reason="call_unused_time")
    return reference


def test_a_call_is_one_line_net_of_its_refund_for_both_parties(alice, bob):
    _fund(alice, 500)
    _call(alice, bob, minutes=3, refund_last=4)  # paid 26

    fan_lines, _ = selectors.activity(user=alice)
    creator_lines, _ = selectors.activity(user=bob)

    call = fan_lines[0]
    assert (call["kind"], call["amount"], call["refunded"], call["role"]) == ("call_charge", -26, 4, "out")
    assert call["title"] == f"Call with {bob.username}"
    earned = Entry.objects.filter(account__user=bob, account__kind=AccountKind.EARNINGS).aggregate(s=Sum("amount"))["s"]
    assert [(line["amount"], line["role"]) for line in creator_lines] == [(earned, "earned")]
    assert creator_lines[0]["title"] == f"Call from {alice.username}"
    assert "call_unused_time" not in str(fan_lines) + str(creator_lines)


def test_releasing_earnings_is_not_a_line_and_changes_no_line(alice, bob):
    _fund(alice, 500)
    _call(alice, bob, minutes=2)
    before, _ = selectors.activity(user=bob)
    services.release_earnings(user=bob)
    after, _ = selectors.activity(user=bob)
    assert after == before
    assert len(after) == 1 and after[0]["amount"] == 16  # 80 % of 20


def test_purchase_tip_promotion_and_a_refunded_purchase_are_lines_of_their_own(alice, bob):
    purchase = _fund(alice, 500)
    services.grant_promotion(user=alice, tokens=50, idempotency_key="promo", memo="Welcome gift")
    tip = services.charge_with_fee(payer=alice, creator=bob, amount=30, kind=TransactionKind.TIP, idempotency_key="tip-1", reference="tip:1")
    services.refund_charge(original=tip, amount=30, idempotency_key="tip-1-refund", reason="streamer left")
    services.claw_back(user=alice, tokens=100, idempotency_key="refund-1", reference=purchase.reference, kind=TransactionKind.REFUND)

    lines, cursor = selectors.activity(user=alice)

    assert cursor is None
    assert [(line["title"], line["amount"]) for line in lines] == [
        ("Card purchase refunded", -100),
        (f"Tip to {bob.username}", 0),
        ("Gift from Digis", 50),
        ("Card purchase", 500),
    ]
    assert lines[2]["detail"] == "Welcome gift"
    assert lines[1]["refunded"] == 30


def test_lines_page_by_cursor_without_gaps_or_repeats(alice, bob):
    _fund(alice, 10_000)
    references = [_call(alice, bob, minutes=2, refund_last=3) for _ in range(7)]
    seen, cursor = [], None
    while True:
        page, cursor = selectors.activity(user=alice, before=cursor, limit=3)
        seen += page
        if cursor is None:
            break
    assert len(seen) == 8  # seven calls and the purchase
    assert [line["root_reference"] for line in seen[:7]] == references[::-1]
    assert all(line["amount"] == -17 for line in seen[:7])


def test_nobody_sees_anyone_elses_lines(alice, bob, mallory):
    _fund(alice, 100)
    _call(alice, bob, minutes=1)
    assert selectors.activity(user=mallory) == ([], None)


def test_thirty_day_totals_are_net_of_refunds_and_match_the_ledger(alice, bob, ledger_write_path):
    if ledger_write_path == "in_database":
        pytest.skip("ledger_post() stamps rows with the database's clock, which time-machine cannot move")
    now = timezone.now()
    with time_machine.travel(now - dt.timedelta(days=40), tick=False):  # outside the window
        _fund(alice, 5000)
        _call(alice, bob, minutes=5)
    with time_machine.travel(now - dt.timedelta(days=3), tick=False):
        _call(alice, bob, minutes=4, refund_last=7)  # 33
        tip = services.charge_with_fee(payer=alice, creator=bob, amount=50, kind=TransactionKind.TIP, idempotency_key="tip", reference="tip:x")
        services.refund_charge(original=tip, amount=20, idempotency_key="tip-r", reason="x")  # 30
    with time_machine.travel(now, tick=False):
        _call(alice, bob, minutes=10, refund_last=10)  # 90
        services.release_earnings(user=bob)
        services.grant_promotion(user=alice, tokens=10, idempotency_key="p")  # not spending

        fan_days = selectors.period_totals(user=alice, days=30)
        creator_days = selectors.period_totals(user=bob, days=30)

    assert sum(d["spent"] for d in fan_days) == 33 + 30 + 90
    assert sum(d["earned"] for d in fan_days) == 0
    window_start = timezone.make_aware(dt.datetime.combine(fan_days[0]["day"], dt.time.min))
    earned_in_ledger = Entry.objects.filter(
        account__user=bob, account__kind=AccountKind.EARNINGS, created_at__gte=window_start
    ).exclude(transaction__kind=TransactionKind.EARNINGS_RELEASE).aggregate(s=Sum("amount"))["s"]
    assert sum(d["earned"] for d in creator_days) == earned_in_ledger
    assert sum(d["spent"] for d in creator_days) == 0
    # The creator's share of 153 tokens paid, fees floored per charge in the creator's favour.
    assert earned_in_ledger >= 153 * 8 // 10
