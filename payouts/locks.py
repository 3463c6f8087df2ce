"""The only place payout rows are locked. Ledger rows are locked by the ledger,
always after these, never before: no lock cycle."""

from payouts.models import Payout, PayoutAccount


def lock_payout_account(account_id) -> PayoutAccount:
    return PayoutAccount.objects.select_for_update(of=("self",), no_key=True).select_related("user").get(pk=account_id)


def lock_payout(payout_id) -> Payout | None:
    return Payout.objects.select_for_update(of=("self",), no_key=True).select_related("creator").filter(pk=payout_id).first()
