"""The only place payments rows are locked."""

from payments.models import Purchase


def lock_purchase(purchase_id) -> Purchase:
    """Lock one purchase row for the rest of the transaction (no-key lock: the
    row is only updated, never re-keyed, so FK inserts pointing at it — its
    claw-backs — are not blocked)."""
    return Purchase.objects.select_for_update(of=("self",), no_key=True).get(pk=purchase_id)
