"""messaging's invariant over the money it holds, run by ``manage.py ledger_check`` (ledger.checks.register).

The ledger proves its escrow holds exactly the unsettled holds; this proves
those are exactly the messages still shown as held, and that every settled
message names a settlement of its own hold.
"""

from django.db.models import F, OuterRef, Q, Subquery, Sum

from messaging.models import EscrowState, Message


def held_messages_match_escrow() -> list[str]:
    from ledger.models import Entry, SystemAccount, Transaction, TransactionKind
    from ledger.services import message_escrow_balance

    problems = []
    held = Message.objects.filter(escrow_state=EscrowState.HELD).aggregate(t=Sum("price"))["t"] or 0
    escrow = message_escrow_balance()
    if held != escrow:
        problems.append(f"messages held add up to {held} tokens, the message escrow holds {escrow}")
    settlement_kinds = [TransactionKind.MESSAGE_RELEASE, TransactionKind.MESSAGE_REFUND]
    settled_holds = Transaction.objects.filter(kind__in=settlement_kinds).values("original_id")
    for message_id in (
        Message.objects.filter(escrow_state=EscrowState.HELD, hold_transaction_id__in=settled_holds)
        .values_list("id", flat=True)[:1000]
    ):
        problems.append(f"message {message_id}: shown as held, but its hold was settled")
    expected_kind = {EscrowState.RELEASED: TransactionKind.MESSAGE_RELEASE, EscrowState.REFUNDED: TransactionKind.MESSAGE_REFUND}
    for state, kind in expected_kind.items():
        wrong = Message.objects.filter(escrow_state=state).exclude(
            Q(settle_transaction__kind=kind) & Q(settle_transaction__original_id=F("hold_transaction_id"))
        )
        for message_id in wrong.values_list("id", flat=True)[:1000]:
            problems.append(f"message {message_id}: {state}, but its settlement is not a {kind} of its own hold")
    wrong_hold = Message.objects.exclude(escrow_state=EscrowState.FREE).exclude(
        Q(hold_transaction__kind=TransactionKind.MESSAGE_HOLD)
    )
    for message_id in wrong_hold.values_list("id", flat=True)[:1000]:
        problems.append(f"message {message_id}: paid, but its hold is not a message_hold transaction")
    held_amount = Entry.objects.filter(
        transaction_id=OuterRef("hold_transaction_id"), amount__gt=0, account__system_code=SystemAccount.MESSAGE_ESCROW
    ).values("amount")[:1]
    mispriced = (
        Message.objects.exclude(escrow_state=EscrowState.FREE)
        .annotate(held=Subquery(held_amount))
        .exclude(held=F("price"))
    )
    for message_id, price, held_tokens in mispriced.values_list("id", "price", "held")[:1000]:
        problems.append(f"message {message_id}: costs {price} tokens, but its hold put {held_tokens} in escrow")
    return problems
