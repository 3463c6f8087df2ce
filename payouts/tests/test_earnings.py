"""The replay that works out payable earnings, as a pure function (no database)."""

import datetime as dt

from ledger.models import TransactionKind as K
from payouts.earnings import EARNINGS, WALLET, Movement, Position, allocate, payable_now, replay, withhold_for_disputes

T0 = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)
HOLD = dt.timedelta(days=7)


def at(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


def earning(tx, amount, day, kind=K.TIP):
    return Movement(transaction_id=tx, kind=kind, created_at=at(day), account=EARNINGS, amount=amount)


def wallet(tx, amount, day, kind, **kwargs):
    return Movement(transaction_id=tx, kind=kind, created_at=at(day), account=WALLET, amount=amount, **kwargs)


def run(movements, *, in_payouts=None, paid_out=0):
    lots, not_earned, unexplained = replay(movements, hold=HOLD, in_payouts=in_payouts or {}, paid_out=paid_out)
    assert unexplained == []
    return lots, not_earned


def test_spending_uses_bought_tokens_first_then_the_oldest_earnings():
    lots, not_earned = run([
        earning(1, 100, 0), earning(2, 50, 1),
        wallet(3, 30, 1, K.PURCHASE),
        wallet(4, -60, 2, K.TIP),  # 30 bought, then 30 of earning 1
    ])
    assert not_earned == 0
    assert (lots[1].remaining, lots[1].spent, lots[2].remaining) == (70, 30, 50)


def test_a_refund_of_an_earning_reduces_it_and_one_beyond_what_is_left_is_covered_by_later_earnings():
    lots, _ = run([
        earning(1, 100, 0),
        wallet(2, -100, 1, K.TIP),  # all of it spent
        Movement(transaction_id=3, kind=K.CALL_REFUND, created_at=at(1), account=EARNINGS, amount=-40, original_id=1),
        earning(4, 100, 2),
    ])
    assert lots[1].net == 60 and lots[1].remaining == 0
    assert lots[4].remaining == 60 and lots[4].covered_deficit == 40


def test_earnings_in_a_payout_are_set_aside_even_before_the_request_in_id_order():
    # A spend whose id is older than the request but that committed after it.
    lots, _ = run(
        [earning(1, 100, 0), earning(2, 100, 1), wallet(3, 30, 2, K.PURCHASE), wallet(4, -50, 9, K.TIP), wallet(5, -100, 9, K.PAYOUT)],
        in_payouts={1: 100}, paid_out=100,
    )
    assert (lots[1].remaining, lots[1].in_payouts, lots[1].spent) == (0, 100, 0)
    assert (lots[2].remaining, lots[2].spent) == (80, 20)


def test_payable_needs_the_hold_and_the_wallet():
    lots, _ = run([earning(1, 100, 0), earning(2, 100, 6)])
    values = list(lots.values())
    assert payable_now(values, balance=200, now=at(7)) == 100
    assert payable_now(values, balance=200, now=at(13)) == 200
    assert payable_now(values, balance=150, now=at(13)) == 150  # never more than the wallet holds


def test_disputes_hold_back_a_fans_earnings_inside_the_window_newest_first_up_to_the_debt():
    lots, _ = run([earning(1, 100, 0), earning(2, 80, 3), earning(3, 50, 5)])
    lots[1].payer_id = lots[2].payer_id = "alice"
    lots[3].payer_id = "dave"
    withhold_for_disputes(lots.values(), debts={"alice": 120}, debt_times={"alice": [at(6)]}, hold=HOLD)
    assert (lots[1].withheld, lots[2].withheld, lots[3].withheld) == (40, 80, 0)
    # A dispute after an earning's hold ended does not touch it.
    withhold_for_disputes(lots.values(), debts={"alice": 120}, debt_times={"alice": [at(8)]}, hold=HOLD)
    assert (lots[1].withheld, lots[2].withheld) == (0, 80)


def test_allocation_takes_the_oldest_payable_earnings_and_splits_the_last():
    lots, _ = run([earning(1, 100, 0), earning(2, 100, 1), earning(3, 100, 20)])
    position = Position(balance=300, lots=list(lots.values()), not_earned=0, payable=200, now=at(10))
    items = allocate(position, 150)
    assert [(lot.transaction_id, tokens) for lot, tokens in items] == [(1, 100), (2, 50)]


def test_what_does_not_add_up_is_reported():
    lots, _, unexplained = replay([earning(1, 100, 0), wallet(2, -100, 1, K.PAYOUT)], hold=HOLD, in_payouts={}, paid_out=100)
    assert unexplained and "statements say 0" in unexplained[0]
