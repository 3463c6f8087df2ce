"""Reads of the ledger shared by the API, the wallet page and the checks. All exact (from the database)."""

import datetime as dt
from collections import defaultdict

from django.db.models import Q, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from digis.db import db_param, fetch_prepared
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


# A user has at most one account of each kind (ledger_one_account_per_user_kind).
# Written out and prepared (digis.db.fetch_prepared): the nav's balance chip reads it on every
# signed-in page, where building the ORM query cost five times running it (0.94 ms of CPU).
_BALANCE_SQL = f"SELECT balance FROM {Account._meta.db_table} WHERE user_id = %s AND kind = %s"


def _account_balance(user, kind) -> int:
    row = fetch_prepared(_BALANCE_SQL, [db_param(Account, "user", user.pk), str(kind)])
    return int(row[0]) if row else 0


def wallet_balance_of(*, user) -> int:
    """The user's spendable tokens, exact (the nav's balance chip)."""
    return _account_balance(user, AccountKind.WALLET)


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


# --- the wallet's history in people's words -------------------------------------------
#
# The ledger records legs; a person remembers things that happened. One line of
# the history is one thing that happened to the user: all the user's own entries
# (wallet, pending earnings, debt) of
# - a transaction, together with the refunds and reversals that point at it
#   (``original``/``reversal_of``), so a refund is netted into what it refunds;
# - for kinds charged in instalments (a call's minute charges share the
#   reference ``call:<id>``), every transaction of that reference.
# Earnings releases (pending earnings -> wallet, the creator's own money moving
# between their own accounts) are not things that happened to anyone and are
# left out; a line's amount is the net of what is left.
#
# Apps describe their own lines ("Video call with Luna · 1:14") by registering a
# describer for the prefix of their references: the ledger imports no feature app.

INSTALMENT_KINDS = (TransactionKind.CALL_CHARGE,)
INTERNAL_KINDS = (TransactionKind.EARNINGS_RELEASE,)
# What a fan spends on creators: charges and whatever refunds or reverses them.
SPENDING_KINDS = (
    TransactionKind.CALL_CHARGE,
    TransactionKind.MESSAGE_CHARGE,
    TransactionKind.TIP,
    TransactionKind.TICKET,
    TransactionKind.MESSAGE_HOLD,
)
USER_ACCOUNT_KINDS = (AccountKind.WALLET, AccountKind.EARNINGS, AccountKind.RECEIVABLE)

# prefix -> describe(ids: list[str], viewer) -> {id: {"title", "detail", "url"}}
_DESCRIBERS: dict = {}


def register_describer(prefix: str, describe) -> None:
    """Let an app name its own history lines: references ``<prefix>:<id>`` are
    passed to ``describe(ids, viewer)``, which returns ``{id: {"title": ...,
    "detail": ..., "url": ...}}`` for the ids it knows (any key may be absent).
    Called from the app's ``AppConfig.ready()``."""
    _DESCRIBERS[prefix] = describe


def _root(field: str):
    """The transaction a leg belongs with: the one its transaction refunds or
    reverses, else its own (one level: refunds point at the charge)."""
    from django.db.models.functions import Coalesce

    return Coalesce(f"transaction__original__{field}", f"transaction__reversal_of__{field}", f"transaction__{field}")


def _with_roots(entries):
    from django.db.models import CharField, F, Value, When
    from django.db.models import Case as CaseWhen
    from django.db.models.functions import Cast, Coalesce, Concat

    entries = entries.annotate(
        root_id=Coalesce("transaction__original_id", "transaction__reversal_of_id", "transaction_id"),
        root_kind=_root("kind"),
        root_reference=_root("reference"),
    )
    return entries.annotate(
        line=CaseWhen(
            When(Q(root_kind__in=INSTALMENT_KINDS) & ~Q(root_reference=""), then=Concat(Value("r:"), F("root_reference"))),
            default=Concat(Value("t:"), Cast("root_id", CharField())),
            output_field=CharField(),
        )
    )


def _own_entries(user):
    return Entry.objects.filter(account__user_id=user.pk, account__kind__in=USER_ACCOUNT_KINDS).exclude(
        transaction__kind__in=INTERNAL_KINDS
    )


def activity(*, user, before: int | None = None, limit: int = 25) -> tuple[list[dict], int | None]:
    """The user's history, one line per thing that happened, newest first.

    Returns (lines, next_cursor); pass next_cursor as ``before`` for the next
    page. Each line: ``amount`` (the net of the user's own entries: + in, - out),
    ``title``/``detail``/``url`` (in people's words), ``kind`` (the root
    transaction's kind), ``role`` ("earned" when the tokens are the user's
    earnings as a creator), ``counterparty``, ``at`` (when it started),
    ``refunded`` (tokens given back within the line) and ``cursor``.
    """
    from django.db.models import Max, Min

    lines = _with_roots(_own_entries(user)).values("line").annotate(
        net=Sum("amount"),
        last_id=Max("id"),
        started_at=Min("created_at"),
        root_id=Min("root_id"),
        root_kind=Max("root_kind"),
        root_reference=Max("root_reference"),
        earned=Sum("amount", filter=Q(account__kind=AccountKind.EARNINGS)),
        refunded=Sum("amount", filter=~Q(transaction__original_id=None) & Q(amount__gt=0, account__kind=AccountKind.WALLET)),
    )
    if before is not None:
        lines = lines.filter(last_id__lt=before)
    page = list(lines.order_by("-last_id")[: limit + 1])
    next_cursor = page[limit - 1]["last_id"] if len(page) > limit else None
    page = page[:limit]
    _describe(page, user)
    return page, next_cursor


def _describe(lines: list[dict], user) -> None:
    from ledger.models import Transaction

    roots = {
        tx.pk: tx
        for tx in Transaction.objects.filter(pk__in={line["root_id"] for line in lines}).only("id", "kind", "reference", "memo")
    }
    others: dict[int, object] = {}
    system: dict[int, str] = {}
    for entry in (
        Entry.objects.filter(transaction_id__in=roots)
        .exclude(account__user_id=user.pk)
        .select_related("account__user")
        .order_by("id")
    ):
        if entry.account.user_id is not None:
            others.setdefault(entry.transaction_id, entry.account.user)
        else:
            system.setdefault(entry.transaction_id, entry.account.system_code)

    by_prefix: dict[str, set[str]] = {}
    for line in lines:
        prefix, _, ident = (line["root_reference"] or "").partition(":")
        if ident and prefix in _DESCRIBERS:
            by_prefix.setdefault(prefix, set()).add(ident)
    described: dict[str, dict] = {}
    for prefix, ids in by_prefix.items():
        for ident, text in (_DESCRIBERS[prefix](sorted(ids), user) or {}).items():
            described[f"{prefix}:{ident}"] = text

    for line in lines:
        root = roots.get(line["root_id"])
        other = others.get(line["root_id"])
        line["amount"] = int(line.pop("net") or 0)
        line["earned"] = int(line["earned"] or 0)
        line["refunded"] = int(line["refunded"] or 0)
        line["kind"] = line.pop("root_kind")
        line["role"] = "earned" if line["earned"] else ("in" if line["amount"] > 0 else "out")
        line["counterparty"] = display_name(other) if other is not None else SYSTEM_LABELS.get(system.get(line["root_id"]), "Digis")
        line["cursor"] = line.pop("last_id")
        line["at"] = line.pop("started_at")
        text = {"title": _fallback_title(line, root, other), "detail": "", "url": ""}
        text.update({k: v for k, v in described.get(line["root_reference"], {}).items() if v})
        if not text["detail"] and root is not None and root.memo and line["kind"] in (
            TransactionKind.PROMOTION, TransactionKind.ADJUSTMENT, TransactionKind.REVERSAL,
        ):
            text["detail"] = root.memo
        line.update(text)
        line.pop("line", None)


def _fallback_title(line: dict, root, other) -> str:
    """A line's title from its kind, when no app described it."""
    name = display_name(other) if other is not None else ""
    kind = line["kind"]
    incoming = line["role"] in ("earned", "in")
    with_whom = {
        TransactionKind.CALL_CHARGE: ("Call from {}", "Call with {}"),
        TransactionKind.TIP: ("Tip from {}", "Tip to {}"),
        TransactionKind.MESSAGE_CHARGE: ("Paid message from {}", "Paid message to {}"),
        TransactionKind.MESSAGE_HOLD: ("Paid message from {}", "Paid message to {}"),
        TransactionKind.MESSAGE_RELEASE: ("Paid message from {}", "Paid message to {}"),
        TransactionKind.TICKET: ("Live stream ticket from {}", "Live stream ticket for {}"),
        TransactionKind.TRANSFER: ("Tokens from {}", "Tokens to {}"),
    }
    if kind in with_whom and name:
        return with_whom[kind][0 if incoming else 1].format(name)
    return {
        TransactionKind.PURCHASE: "Card purchase",
        TransactionKind.REFUND: "Card purchase refunded",
        TransactionKind.CHARGEBACK: "Card payment disputed" + (" (dispute won)" if line["amount"] == 0 else ""),
        TransactionKind.CLAWBACK_RESTORE: "Dispute won",
        TransactionKind.PROMOTION: "Gift from Digis",
        TransactionKind.ADJUSTMENT: "Correction by Digis",
        TransactionKind.REVERSAL: "Reversed by Digis",
        TransactionKind.PAYOUT: "Payout to your bank",
        TransactionKind.PAYOUT_RETURN: "Payout returned",
    }.get(kind, TransactionKind(kind).label if kind in TransactionKind.values else "Tokens")


def period_totals(*, user, days: int = 30) -> list[dict]:
    """Per day over the last ``days``: what the user spent on creators and what
    they earned as one, each net of refunds, exactly as the ledger has it.

    spent: minus the user's wallet entries of charges (calls, messages, tips,
    tickets) and of everything refunding or reversing one. earned: the user's
    pending-earnings entries, refunds included, releases excluded (a release
    moves earnings, it earns nothing)."""
    from django.db.models.functions import TruncDate

    today = timezone.localdate()
    start = today - dt.timedelta(days=days - 1)
    start_at = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    rows = (
        _with_roots(_own_entries(user).filter(created_at__gte=start_at))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            spent=Sum("amount", filter=Q(account__kind=AccountKind.WALLET, root_kind__in=SPENDING_KINDS)),
            earned=Sum("amount", filter=Q(account__kind=AccountKind.EARNINGS)),
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
