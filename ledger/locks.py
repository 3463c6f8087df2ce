"""The only place ledger rows are locked.

Rows are always locked in primary-key order, so two transactions touching the
same accounts can never wait on each other in a cycle. FOR NO KEY UPDATE does
not conflict with the FOR KEY SHARE lock an Entry insert takes on its account,
so credits that only insert entries (pending earnings) never wait on a lock.
"""

from collections.abc import Iterable

from ledger.models import Account


def lock_accounts(account_ids: Iterable[int]) -> dict[int, Account]:
    """Lock the accounts (in pk order) and return them with their current balances."""
    ids = sorted({int(pk) for pk in account_ids})
    if not ids:
        return {}
    rows = Account.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
    locked = {account.pk: account for account in rows}
    for account in locked.values():
        account._ledger_locked = True
    return locked
