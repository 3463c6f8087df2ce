"""Reads of the ledger shared by the API, the wallet page and the checks. All exact (from the database)."""

import datetime as dt
from collections import defaultdict

from django.db.models import Q, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from ledger.models import Account, AccountKind, Entry, SystemAccount, Transaction, TransactionKind

SYSTEM_LABELS = {
    SystemAccount.STRIPE_CLEARING: "Card payment",
    SystemAccount.PLATFORM_FEE: "Digis fee",
    SystemAccount.PAYOUTS_CLEARING: "Payout",
    SystemAccount.REFUNDS: "Refund / chargeback",
    SystemAccount.PROMOTIONS: "Digis",
    SystemAccount.MESSAGE_ESCROW: "Held for a paid message",
}


def display_name(user) -> str:
    name = getattr(user, "display_name", "") or user.get_full_name()
    return name or user.username


def _account_balance(user, kind) -> int:
    value = Account.objects.filter(user_id=user.pk, kind=kind).values_list("balance", flat=True).first()
    return int(value or 0)


def debt_of(*, user) -> int:
    """Tokens the user owes after a refund/chargeback took more than the wallet held."""
    return -_account_balance(user, AccountKind.RECEIVABLE)


def pending_earnings(*, user) -> int:
    """The creator's earnings not yet released to the wallet (summed from entries)."""
    total = Entry.objects.filter(account__user_id=user.pk, account__kind=AccountKind.EARNINGS).aggregate(t=Sum("amount"))["t"]
    return int(total or 0)


def earnings_available(*, user) -> int:
    """The part of the wallet that came from released earnings and has not been paid out or spent.

    Wallet tokens are fungible; spending is counted against purchased tokens
    last, so this is min(balance, released - paid out).
    """
    sums = Entry.objects.filter(account__user_id=user.pk, account__kind=AccountKind.WALLET).aggregate(
        released=Sum("amount", filter=Q(transaction__kind=TransactionKind.EARNINGS_RELEASE)),
        paid_out=Sum("amount", filter=Q(transaction__kind=TransactionKind.PAYOUT)),
    )
    net = int(sums["released"] or 0) + int(sums["paid_out"] or 0)
    return max(0, min(_account_balance(user, AccountKind.WALLET), net))


def wallet_summary(*, user) -> dict:
    debt = debt_of(user=user)
    summary = {
        "balance": _account_balance(user, AccountKind.WALLET),
        "debt": debt,
        "frozen": debt > 0,
    }
    if getattr(user, "role", None) == "creator" or Account.objects.filter(user_id=user.pk, kind=AccountKind.EARNINGS).exists():
        summary["earnings_available"] = earnings_available(user=user)
        summary["earnings_pending"] = pending_earnings(user=user)
    return summary


def history(*, user, before_id: int | None = None, limit: int = 25) -> tuple[list[dict], int | None]:
    """The user's own entries, newest first, keyset-paginated on entry id.

    Returns (items, next_cursor). Each item names the counterparty: the other
    user in the transaction if there is one, else the system account's label.
    """
    entries = Entry.objects.filter(account__user_id=user.pk).select_related("transaction", "account").order_by("-id")
    if before_id is not None:
        entries = entries.filter(id__lt=before_id)
    page = list(entries[: limit + 1])
    next_cursor = page[limit - 1].id if len(page) > limit else None
    page = page[:limit]

    others: dict[int, list[Entry]] = {}
    for other in (
        Entry.objects.filter(transaction_id__in={e.transaction_id for e in page})
        .exclude(account__user_id=user.pk)
        .select_related("account__user")
        .order_by("id")
    ):
        others.setdefault(other.transaction_id, []).append(other)

    items = []
    for entry in page:
        counterparties = others.get(entry.transaction_id, [])
        people = [o.account.user for o in counterparties if o.account.user_id is not None]
        if people:
            counterparty = display_name(people[0])
        elif counterparties:
            counterparty = SYSTEM_LABELS.get(counterparties[0].account.system_code, "Digis")
        else:
            counterparty = "You"
        tx = entry.transaction
        items.append(
            {
                "id": entry.id,
                "transaction_id": tx.id,
                "kind": tx.kind,
                "kind_label": tx.get_kind_display(),
                "account": entry.account.kind,
                "amount": entry.amount,
                "balance_after": entry.balance_after,
                "counterparty": counterparty,
                "reference": tx.reference,
                "memo": tx.memo,
                "created_at": tx.created_at,
            }
        )
    return items, next_cursor


def daily_totals(*, user, days: int = 30) -> list[dict]:
    """Per day over the last `days`: tokens spent from the wallet and gross earnings credited."""
    today = timezone.localdate()
    start = today - dt.timedelta(days=days - 1)
    start_at = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    rows = (
        Entry.objects.filter(account__user_id=user.pk, created_at__gte=start_at)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            spent=Sum("amount", filter=Q(account__kind=AccountKind.WALLET, amount__lt=0)),
            earned=Sum("amount", filter=Q(account__kind=AccountKind.EARNINGS, amount__gt=0)),
        )
    )
    by_day = {row["day"]: row for row in rows}
    out = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        row = by_day.get(day, {})
        out.append({"day": day, "spent": -int(row.get("spent") or 0), "earned": int(row.get("earned") or 0)})
    return out


# --- what fans have spent with a creator (messaging's spend-gated rules) ------------

_PAID_TO_CREATOR_KINDS = (
    TransactionKind.CALL_CHARGE, TransactionKind.MESSAGE_CHARGE, TransactionKind.TIP, TransactionKind.TICKET,
)
_REFUNDS_OF_PAID = (TransactionKind.REFUND, TransactionKind.CALL_REFUND, TransactionKind.TICKET_REFUND)


def spent_with_creator(*, creator, fan_ids=None) -> dict:
    """Tokens each fan has paid ``creator`` (user id -> tokens, only fans with a net spend > 0).

    Counts what the fan's wallet paid in charges whose earnings went to the
    creator (calls, tips, tickets), minus refunds of those charges, plus paid
    messages the creator answered (holds released to the creator). Held and
    refunded messages do not count. ``fan_ids`` narrows it to those fans.
    Exact, from the ledger; three aggregate queries keyed by the creator's
    earnings entries.
    """
    earnings = Account.objects.filter(user_id=creator.pk, kind=AccountKind.EARNINGS).values_list("pk", flat=True).first()
    if earnings is None:
        return {}
    to_creator = Entry.objects.filter(account_id=earnings, amount__gt=0)
    charges = to_creator.filter(transaction__kind__in=_PAID_TO_CREATOR_KINDS).values("transaction_id")
    released_holds = Transaction.objects.filter(
        kind=TransactionKind.MESSAGE_RELEASE, id__in=Subquery(to_creator.values("transaction_id"))
    ).values("original_id")
    wallets = Entry.objects.filter(account__kind=AccountKind.WALLET)
    if fan_ids is not None:
        wallets = wallets.filter(account__user_id__in=list(fan_ids))
    totals: dict = defaultdict(int)
    for queryset, sign in (
        (wallets.filter(amount__lt=0, transaction_id__in=Subquery(charges)), -1),
        (wallets.filter(amount__gt=0, transaction__kind__in=_REFUNDS_OF_PAID, transaction__original_id__in=Subquery(charges)), -1),
        (wallets.filter(amount__lt=0, transaction__kind=TransactionKind.MESSAGE_HOLD, transaction_id__in=Subquery(released_holds)), -1),
    ):
        for user_id, total in queryset.values("account__user_id").annotate(total=Sum("amount")).values_list("account__user_id", "total"):
            totals[user_id] += sign * int(total or 0)
    return {user_id: total for user_id, total in totals.items() if total > 0}
