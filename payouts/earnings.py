"""What part of a creator's wallet may be paid out, worked out from the ledger.

A pure function of the creator's ledger rows (``payouts.selectors`` loads them),
so the earnings page, the API, a payout request and the tests all get the same
answer. The rules, as the earnings page states them:

- Every earning (a call, message, tip or ticket: a credit to the creator's
  pending earnings) is a *lot*: its net after the platform fee, less any refund
  of it. It becomes payable ``hold`` after it was earned.
- Tokens the creator spends come first from tokens they did not earn (bought,
  granted), then from their oldest earnings. Bought tokens are never payable.
- A payout takes the oldest payable earnings first; its statement names them
  (``PayoutItem``). A payout that fails or is returned gives them back.
- A refund or dispute of a fan's payment that leaves the fan owing tokens
  (their tokens were already spent) holds back what that fan paid this creator
  in the hold window before it, up to the fan's debt, until the debt is
  settled or the dispute is won. An earning whose hold had ended before the
  dispute, or that was already paid out, is never touched.
- Never more than the wallet holds.
"""

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ledger.models import TransactionKind
from payouts.models import EarningKind

KIND_OF_TRANSACTION = {
    TransactionKind.CALL_CHARGE: EarningKind.CALL,
    TransactionKind.MESSAGE_CHARGE: EarningKind.MESSAGE,
    TransactionKind.MESSAGE_RELEASE: EarningKind.MESSAGE,
    TransactionKind.TIP: EarningKind.TIP,
    TransactionKind.TICKET: EarningKind.TICKET,
}
WALLET = "wallet"
EARNINGS = "earnings"


@dataclass(frozen=True)
class Movement:
    """One entry on the creator's wallet or pending-earnings account."""

    transaction_id: int
    kind: str
    created_at: dt.datetime
    account: str  # WALLET or EARNINGS
    amount: int
    original_id: int | None = None
    reversal_of_id: int | None = None


@dataclass
class Lot:
    """One earning and what became of it."""

    transaction_id: int
    kind: str
    earned_at: dt.datetime
    payable_at: dt.datetime
    credited: int
    payer_id: object = None
    refunded: int = 0
    fee: int = 0
    remaining: int = 0  # neither spent nor in a payout
    spent: int = 0
    in_payouts: int = 0
    covered_deficit: int = 0  # taken by an earlier over-refund (see replay)
    withheld: int = 0  # of remaining: held back for a fan's dispute

    @property
    def net(self) -> int:
        return self.credited - self.refunded

    @property
    def gross(self) -> int:
        return self.net + self.fee

    def is_mature(self, now: dt.datetime) -> bool:
        return self.payable_at <= now

    @property
    def available(self) -> int:
        return max(0, self.remaining - self.withheld)


@dataclass
class Position:
    balance: int
    lots: list[Lot]
    not_earned: int  # wallet tokens that did not come from earnings (never payable)
    payable: int
    now: dt.datetime
    unexplained: list[str] = field(default_factory=list)

    @property
    def pending_lots(self) -> list[Lot]:
        return [lot for lot in self.lots if lot.remaining > 0 and not lot.is_mature(self.now)]

    @property
    def pending(self) -> int:
        return sum(lot.remaining for lot in self.pending_lots)

    @property
    def withheld(self) -> int:
        return sum(lot.withheld for lot in self.lots)

    @property
    def payable_lots(self) -> list[Lot]:
        return [lot for lot in self.lots if lot.available > 0 and lot.is_mature(self.now)]


def replay(
    movements: Iterable[Movement],
    *,
    hold: dt.timedelta,
    in_payouts: Mapping[int, int],
    paid_out: int,
    fees: Mapping[int, int] | None = None,
    payers: Mapping[int, object] | None = None,
) -> tuple[dict[int, Lot], int, list[str]]:
    """Walk the creator's entries in order. Returns (lots by transaction id,
    tokens in the wallet not from earnings, anything that did not add up).

    ``in_payouts``: earning transaction id -> tokens of it in payouts that were
    not returned (their statements); ``paid_out``: what the wallet's payout
    entries say those payouts took (requests less returns), to cross-check.

    A payout's earnings are set aside from the start of the walk, not at the
    request: a spend whose transaction id is older than a request but which
    committed after it (ids are taken at insert, not at commit) must not be
    placed on earnings the payout's statement already names. Which earnings
    a spend used is bookkeeping; the totals are the same either way.
    """
    fees = fees or {}
    payers = payers or {}
    lots: dict[int, Lot] = {}
    not_earned = 0
    # Refunds of earnings beyond what was left of them (already spent or paid
    # out): the ledger takes them from pending earnings, which later earnings
    # cover before anything more is released, so later lots cover them here too.
    deficit = 0
    wallet_payouts = 0
    unexplained: list[str] = []

    def consume_oldest(tokens: int) -> int:
        for lot in lots.values():
            if tokens <= 0:
                break
            take = min(lot.remaining, tokens)
            if take > 0:
                lot.remaining -= take
                lot.spent += take
                tokens -= take
        return tokens

    for m in movements:
        if m.kind == TransactionKind.EARNINGS_RELEASE:
            continue  # pending -> wallet: the lots are counted where they were earned
        if m.account == EARNINGS:
            if m.amount > 0 and m.transaction_id not in lots:
                reserved = in_payouts.get(m.transaction_id, 0)
                lot = Lot(
                    transaction_id=m.transaction_id,
                    kind=KIND_OF_TRANSACTION.get(m.kind, EarningKind.OTHER),
                    earned_at=m.created_at,
                    payable_at=m.created_at + hold,
                    credited=m.amount,
                    remaining=m.amount - reserved,
                    in_payouts=reserved,
                    fee=fees.get(m.transaction_id, 0),
                    payer_id=payers.get(m.transaction_id),
                )
                if lot.remaining < 0:
                    unexplained.append(f"earning {m.transaction_id} is in payouts for more than it earned")
                covered = max(0, min(deficit, lot.remaining))
                lot.remaining -= covered
                lot.covered_deficit = covered
                deficit -= covered
                lots[m.transaction_id] = lot
            elif m.amount < 0:
                refunded = -m.amount
                lot = lots.get(m.original_id or m.reversal_of_id)
                if lot is None:
                    deficit += refunded
                    continue
                lot.refunded += refunded
                take = max(0, min(lot.remaining, refunded))
                lot.remaining -= take
                deficit += refunded - take
            continue

        # The wallet.
        if m.kind in (TransactionKind.PAYOUT, TransactionKind.PAYOUT_RETURN):
            wallet_payouts -= m.amount  # set aside above, from the statements
        elif m.amount > 0:
            not_earned += m.amount
        else:
            spend = -m.amount
            from_not_earned = min(not_earned, spend)
            not_earned -= from_not_earned
            left = consume_oldest(spend - from_not_earned)
            if left:
                unexplained.append(f"transaction {m.transaction_id} spent {left} tokens the replay cannot place")
    missing = set(in_payouts) - set(lots)
    if missing:
        unexplained.append(f"payout statements name earnings that are not this creator's: {sorted(missing)[:10]}")
    if wallet_payouts != paid_out or sum(in_payouts.values()) != paid_out:
        unexplained.append(
            f"payouts took {wallet_payouts} tokens from the wallet, their statements say {sum(in_payouts.values())}, "
            f"the payouts {paid_out}"
        )
    return lots, not_earned, unexplained


def withhold_for_disputes(
    lots: Iterable[Lot], *, debts: Mapping[object, int], debt_times: Mapping[object, Sequence[dt.datetime]], hold: dt.timedelta
) -> None:
    """Mark, per fan who owes tokens after a refund or dispute, what they paid
    this creator in the hold window before it, newest first, up to the debt."""
    by_payer: dict[object, list[Lot]] = {}
    for lot in lots:
        lot.withheld = 0
        if lot.remaining > 0 and debts.get(lot.payer_id, 0) > 0:
            times = debt_times.get(lot.payer_id, ())
            if any(lot.earned_at <= when < lot.earned_at + hold for when in times):
                by_payer.setdefault(lot.payer_id, []).append(lot)
    for payer_id, at_risk in by_payer.items():
        budget = debts[payer_id]
        for lot in sorted(at_risk, key=lambda lot: (lot.earned_at, lot.transaction_id), reverse=True):
            if budget <= 0:
                break
            lot.withheld = min(lot.remaining, budget)
            budget -= lot.withheld


def payable_now(lots: Iterable[Lot], *, balance: int, now: dt.datetime) -> int:
    matured = sum(lot.available for lot in lots if lot.is_mature(now))
    return max(0, min(balance, matured))


def allocate(position: Position, tokens: int) -> list[tuple[Lot, int]]:
    """The oldest payable earnings that make up a payout of ``tokens`` (a statement)."""
    if tokens > position.payable:
        raise ValueError(f"{tokens} tokens asked, {position.payable} payable")
    items = []
    left = tokens
    for lot in sorted(position.payable_lots, key=lambda lot: (lot.earned_at, lot.transaction_id)):
        if left <= 0:
            break
        take = min(lot.available, left)
        items.append((lot, take))
        left -= take
    return items
