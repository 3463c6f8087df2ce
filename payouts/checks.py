"""Payouts reconciled to the ledger (run by `manage.py ledger_check` and the hourly job,
registered in payouts.apps). Each returns problems naming the offending rows."""

from django.db.models import F, Sum
from django.db.models.functions import Coalesce

from ledger.models import AccountKind, Entry, SystemAccount
from ledger.services import payout_key
from payouts.models import IN_TRANSIT_STATUSES, RETURNED_STATUSES, Payout, PayoutItem, PayoutStatus


def _values(statuses) -> list[str]:
    return [s.value for s in statuses]


def payouts_match_ledger() -> list[str]:
    problems: list[str] = []
    # Statements sum exactly to their payout.
    mismatched = (
        Payout.objects.annotate(itemized=Coalesce(Sum("items__tokens"), 0)).exclude(itemized=F("tokens")).values_list("pk", "tokens", "itemized")
    )
    for pk, tokens, itemized in mismatched[:1000]:
        problems.append(f"payout {pk}: statement sums to {itemized}, payout is {tokens} tokens")
    # Each statement line is an earning of that creator's.
    earnings_of_creator = PayoutItem.objects.filter(
        earning__entries__account__user_id=F("payout__creator_id"), earning__entries__account__kind=AccountKind.EARNINGS,
        earning__entries__amount__gt=0,
    ).values("pk")
    foreign = PayoutItem.objects.exclude(pk__in=earnings_of_creator).values_list("payout_id", "earning_id")
    for payout_id, earning_id in foreign[:1000]:
        problems.append(f"payout {payout_id}: statement names transaction {earning_id}, which is not an earning of this creator")

    # Each payout's ledger: held for its tokens from its wallet; closed as its status says.
    keys = {}
    rows = Payout.objects.values_list("pk", "status", "tokens", "request_transaction_id", "settle_transaction_id", "return_transaction_id")
    for pk, status, tokens, request_id, settle_id, return_id in rows.iterator():
        keys[payout_key(pk, "request")] = (pk, "request", tokens)
        keys[payout_key(pk, "paid")] = (pk, "paid", tokens)
        keys[payout_key(pk, "return")] = (pk, "return", tokens)
        if request_id is None:
            problems.append(f"payout {pk} ({status}): no ledger request transaction")
        if (status == PayoutStatus.PAID) != (settle_id is not None):
            problems.append(f"payout {pk} ({status}): settlement transaction {settle_id}")
        if (status in RETURNED_STATUSES) != (return_id is not None):
            problems.append(f"payout {pk} ({status}): return transaction {return_id}")
    found = {}
    for key, amount in Entry.objects.filter(
        account__system_code=SystemAccount.PAYOUTS_CLEARING, transaction__idempotency_key__startswith="payout:"
    ).values_list("transaction__idempotency_key", "amount").iterator():
        found[key] = found.get(key, 0) + amount
    status_of = dict(Payout.objects.values_list("pk", "status"))
    for key, amount in found.items():
        if key not in keys:
            problems.append(f"ledger transaction {key}: no such payout")
            continue
        pk, step, tokens = keys[key]
        expected = tokens if step == "request" else -tokens
        if amount != expected:
            problems.append(f"payout {pk}: {step} moved {amount} tokens through clearing, expected {expected}")
        if step == "paid" and status_of[pk] != PayoutStatus.PAID:
            problems.append(f"payout {pk} ({status_of[pk]}): the ledger says it was paid")
        if step == "return" and status_of[pk] not in RETURNED_STATUSES:
            problems.append(f"payout {pk} ({status_of[pk]}): the ledger says its tokens were returned")
    for key, (pk, step, _tokens) in keys.items():
        if step == "request" and key not in found:
            problems.append(f"payout {pk}: its tokens were never set aside in the ledger")
    # Clearing holds exactly the payouts on their way.
    in_transit = Payout.objects.filter(status__in=_values(IN_TRANSIT_STATUSES)).aggregate(t=Sum("tokens"))["t"] or 0
    clearing = Entry.objects.filter(account__system_code=SystemAccount.PAYOUTS_CLEARING).aggregate(t=Sum("amount"))["t"] or 0
    if clearing != in_transit:
        problems.append(f"payouts_clearing holds {clearing} tokens, payouts on their way {in_transit}")
    paid = Payout.objects.filter(status=PayoutStatus.PAID).aggregate(t=Sum("tokens"))["t"] or 0
    paid_account = Entry.objects.filter(account__system_code=SystemAccount.PAYOUTS_PAID).aggregate(t=Sum("amount"))["t"] or 0
    if paid != paid_account:
        problems.append(f"payouts_paid holds {paid_account} tokens, paid payouts {paid}")
    return problems
