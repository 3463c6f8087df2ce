"""Consistency checks an operator (and the hourly job) runs over the whole ledger.

Each returns human-readable problems naming the offending rows; an empty list
means the ledger is consistent.
"""

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from ledger.models import Account, AccountKind, Entry, SystemAccount, Transaction, TransactionKind


def unbalanced_transactions() -> list[str]:
    problems = []
    sums = Entry.objects.values("transaction_id").annotate(total=Sum("amount"), legs=Count("id"))
    for row in sums.filter(~Q(total=0) | Q(legs__lt=2)).order_by("transaction_id")[:1000]:
        problems.append(f"transaction {row['transaction_id']}: entries sum to {row['total']} over {row['legs']} entries")
    for tx_id in Transaction.objects.filter(entries__isnull=True).values_list("id", flat=True)[:1000]:
        problems.append(f"transaction {tx_id}: has no entries")
    return problems


def _with_entry_sums():
    return Account.objects.annotate(entry_sum=Coalesce(Sum("entries__amount"), Value(0)))


def balance_mismatches() -> list[str]:
    problems = []
    cached = _with_entry_sums().exclude(kind=AccountKind.EARNINGS).exclude(balance=F("entry_sum"))
    for account in cached.order_by("pk"):
        problems.append(f"account {account.pk} ({account}): cached balance {account.balance} != entries {account.entry_sum}")
    for account in Account.objects.filter(kind=AccountKind.EARNINGS).exclude(balance=0).order_by("pk"):
        problems.append(f"account {account.pk} ({account}): earnings accounts keep no cached balance, found {account.balance}")
    # The last balance_after of each wallet must equal its balance.
    for account in Account.objects.filter(kind=AccountKind.WALLET).order_by("pk"):
        last = Entry.objects.filter(account=account).order_by("-id").values_list("balance_after", flat=True).first()
        if last is not None and last != account.balance:
            problems.append(f"account {account.pk} ({account}): last balance_after {last} != balance {account.balance}")
    return problems


def negative_wallets() -> list[str]:
    problems = []
    for account in _with_entry_sums().filter(kind=AccountKind.WALLET).filter(Q(balance__lt=0) | Q(entry_sum__lt=0)):
        problems.append(f"account {account.pk} ({account}): negative wallet (balance {account.balance}, entries {account.entry_sum})")
    for account in _with_entry_sums().filter(kind=AccountKind.RECEIVABLE).filter(Q(balance__gt=0) | Q(entry_sum__gt=0)):
        problems.append(f"account {account.pk} ({account}): receivable above zero ({account.entry_sum})")
    return problems


def system_reconciliation() -> list[str]:
    problems = []
    total = Entry.objects.aggregate(t=Sum("amount"))["t"] or 0
    if total != 0:
        problems.append(f"all entries sum to {total}, not 0")
    fees = Entry.objects.filter(account__system_code=SystemAccount.PLATFORM_FEE).aggregate(t=Sum("amount"))["t"] or 0
    if fees < 0:
        problems.append(f"platform fee shards sum to {fees} (< 0)")
    refunds = Entry.objects.filter(account__system_code=SystemAccount.REFUNDS).aggregate(t=Sum("amount"))["t"] or 0
    if refunds < 0:
        problems.append(f"refunds account sums to {refunds} (< 0): more restored than clawed back")
    return problems


def payouts_clearing_reconciles() -> list[str]:
    """payouts_clearing holds exactly the tokens of payout requests not yet paid
    or returned; each request is closed at most once, one way, for its whole
    amount; nothing else touches clearing; payouts_paid never goes below zero."""
    problems = []
    clearing = Entry.objects.filter(account__system_code=SystemAccount.PAYOUTS_CLEARING)
    requests = clearing.filter(transaction__kind=TransactionKind.PAYOUT, amount__gt=0, transaction__original__isnull=True)
    closings = {
        row["transaction__original_id"] or row["transaction__reversal_of_id"]: row
        for row in clearing.filter(amount__lt=0)
        .values("transaction__original_id", "transaction__reversal_of_id")
        .annotate(total=Sum("amount"), closings=Count("transaction_id", distinct=True))
    }
    open_total = 0
    for tx_id, amount in requests.values_list("transaction_id", "amount").order_by("transaction_id"):
        closing = closings.pop(tx_id, None)
        if closing is None:
            open_total += amount
        elif closing["closings"] != 1:
            problems.append(f"payout request {tx_id}: closed {closing['closings']} times")
        elif -closing["total"] != amount:
            problems.append(f"payout request {tx_id}: {amount} tokens held, {-closing['total']} closed")
    # A payout paid *and* returned shows as two closing rows of one request.
    paid_and_returned = Transaction.objects.filter(
        kind=TransactionKind.PAYOUT, original__isnull=True, followups__kind=TransactionKind.PAYOUT, reversals__isnull=False
    ).values_list("pk", flat=True)
    for tx_id in paid_and_returned[:1000]:
        problems.append(f"payout request {tx_id}: both paid and returned")
    for key, row in closings.items():
        problems.append(f"payouts_clearing: {-row['total']} tokens taken out by transactions closing {key}, which is no payout request")
    strays = clearing.exclude(transaction__kind__in=[TransactionKind.PAYOUT, TransactionKind.PAYOUT_RETURN])
    for tx_id in strays.values_list("transaction_id", flat=True)[:1000]:
        problems.append(f"transaction {tx_id}: moves payouts_clearing but is not a payout")
    total = clearing.aggregate(t=Sum("amount"))["t"] or 0
    if total != open_total:
        problems.append(f"payouts_clearing holds {total} tokens, open payout requests {open_total}")
    paid = Entry.objects.filter(account__system_code=SystemAccount.PAYOUTS_PAID).aggregate(t=Sum("amount"))["t"] or 0
    if paid < 0:
        problems.append(f"payouts_paid sums to {paid} (< 0)")
    return problems


def message_escrow() -> list[str]:
    """The message escrow holds exactly the holds not yet settled; each hold is settled
    at most once, by a settlement that moves exactly the held amount out of the
    shard the hold put it in."""
    problems = []
    escrow = Q(account__kind=AccountKind.SYSTEM, account__system_code=SystemAccount.MESSAGE_ESCROW)
    settlement_kinds = [TransactionKind.MESSAGE_RELEASE, TransactionKind.MESSAGE_REFUND]
    settled = Transaction.objects.filter(original_id=OuterRef("transaction_id"), kind__in=settlement_kinds)
    outstanding = (
        Entry.objects.filter(escrow, transaction__kind=TransactionKind.MESSAGE_HOLD, amount__gt=0)
        .filter(~Exists(settled))
        .aggregate(t=Sum("amount"))["t"]
        or 0
    )
    balance = Account.objects.filter(kind=AccountKind.SYSTEM, system_code=SystemAccount.MESSAGE_ESCROW).aggregate(
        t=Sum("balance")
    )["t"] or 0
    if balance != outstanding:
        problems.append(f"message escrow holds {balance}, but unsettled holds add up to {outstanding}")
    for account in Account.objects.filter(kind=AccountKind.SYSTEM, system_code=SystemAccount.MESSAGE_ESCROW, balance__lt=0):
        problems.append(f"account {account.pk} ({account}): message escrow shard below zero ({account.balance})")
    twice = (
        Transaction.objects.filter(kind__in=settlement_kinds)
        .values("original_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    for row in twice[:1000]:
        problems.append(f"hold {row['original_id']}: settled {row['n']} times")
    hold_credit = Entry.objects.filter(escrow, transaction_id=OuterRef("transaction__original_id"), amount__gt=0)
    mismatched = (
        Entry.objects.filter(escrow, transaction__kind__in=settlement_kinds)
        .annotate(
            held=Subquery(hold_credit.values("amount")[:1]),
            held_in=Subquery(hold_credit.values("account_id")[:1]),
            original_kind=F("transaction__original__kind"),
        )
        .filter(
            Q(original_kind__isnull=True)
            | ~Q(original_kind=TransactionKind.MESSAGE_HOLD)
            | Q(held__isnull=True)
            | ~Q(amount=-F("held"))
            | ~Q(account_id=F("held_in"))
        )
    )
    for entry in mismatched.order_by("id")[:1000]:
        problems.append(
            f"transaction {entry.transaction_id}: settles {entry.original_kind or 'nothing'} "
            f"{entry.transaction.original_id} with {entry.amount} on account {entry.account_id}, "
            f"but the hold put {entry.held} on {entry.held_in}"
        )
    return problems


def ticket_refunds() -> list[str]:
    """A live-stream ticket is refunded at most once, in full, and only a ticket is (streaming)."""
    problems = []
    refunds = Transaction.objects.filter(kind=TransactionKind.TICKET_REFUND)
    for refund in refunds.exclude(original__kind=TransactionKind.TICKET).values_list("id", flat=True)[:1000]:
        problems.append(f"transaction {refund}: a ticket refund that does not point at a ticket")
    twice = refunds.values("original_id").annotate(n=Count("id")).filter(n__gt=1)
    for row in twice[:1000]:
        problems.append(f"ticket {row['original_id']}: refunded {row['n']} times")
    # A refund gives the payer back exactly what the ticket took.
    paid = (
        Entry.objects.filter(transaction_id=OuterRef("transaction__original_id"), account__kind=AccountKind.WALLET)
        .values("transaction_id").annotate(t=Sum("amount")).values("t")
    )
    wrong = (
        Entry.objects.filter(transaction__kind=TransactionKind.TICKET_REFUND, account__kind=AccountKind.WALLET)
        .annotate(paid=Subquery(paid)).exclude(amount=F("paid") * -1)
    )
    for entry in wrong.values("transaction_id", "amount", "paid")[:1000]:
        problems.append(f"transaction {entry['transaction_id']}: refunds {entry['amount']} of a ticket that took {entry['paid']}")
    return problems


CHECKS = {
    "balanced transactions": unbalanced_transactions,
    "cached balances": balance_mismatches,
    "no negative wallets": negative_wallets,
    "system accounts reconcile": system_reconciliation,
    "payouts clearing reconciles": payouts_clearing_reconciles,
    "message escrow reconciles": message_escrow,
    "ticket refunds": ticket_refunds,
}


def register(name: str, check) -> None:
    """Add a feature app's invariant over the money it moves (from its AppConfig.ready).

    ``check()`` returns problems as strings, like the checks above. The ledger
    cannot import feature apps, so they bring their own cross-checks (messaging:
    "messages held match the escrow").
    """
    CHECKS[name] = check


def run_all() -> dict[str, list[str]]:
    return {name: check() for name, check in CHECKS.items()}
