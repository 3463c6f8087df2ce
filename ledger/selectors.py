"""Reads of the ledger shared by the API, the wallet page and the checks. All exact (from the database)."""

import datetime as dt

from django.db.models import Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from ledger.models import Account, AccountKind, Entry, SystemAccount, TransactionKind

SYSTEM_LABELS = {
    SystemAccount.STRIPE_CLEARING: "Card payment",
    SystemAccount.PLATFORM_FEE: "Digis fee",
    SystemAccount.PAYOUTS_CLEARING: "Payout",
    SystemAccount.REFUNDS: "Refund / chargeback",
    SystemAccount.PROMOTIONS: "Digis",
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
        # Requests (-) and returned payouts (+): a payout that came back is available again.
        paid_out=Sum("amount", filter=Q(transaction__kind__in=[TransactionKind.PAYOUT, TransactionKind.PAYOUT_RETURN])),
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
