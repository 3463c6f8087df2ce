"""The only place ledger rows are locked.

Rows are always locked in primary-key order, so two transactions touching the
same accounts can never wait on each other in a cycle. FOR NO KEY UPDATE does
not conflict with the FOR KEY SHARE lock an Entry insert takes on its account,
so credits that only insert entries (pending earnings) never wait on a lock.
"""

from collections.abc import Iterable

from django.db.models import OuterRef, Subquery

from ledger.models import Account, AccountKind


def lock_accounts(account_ids: Iterable[int], *, with_debt: bool = False) -> dict[int, Account]:
    """Lock the accounts (in pk order) and return them with their current balances.

    with_debt also reads each owner's receivable balance in the same query
    (as `receivable_balance`), for the frozen-wallet check after the lock.
    """
    ids = sorted({int(pk) for pk in account_ids})
    if not ids:
        return {}
    rows = Account.objects.select_for_update(no_key=True, of=("self",)).filter(pk__in=ids).order_by("pk")
    if with_debt:
        receivable = Account.objects.filter(user_id=OuterRef("user_id"), kind=AccountKind.RECEIVABLE)
        rows = rows.annotate(receivable_balance=Subquery(receivable.values("balance")[:1]))
    locked = {account.pk: account for account in rows}
    for account in locked.values():
        account._ledger_locked = True
    return locked
