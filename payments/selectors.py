"""Reads the payments API and pages share."""

from django.db.models import QuerySet

from payments.models import CREDITED_STATES, Purchase, PurchaseStatus, StripeEvent, TokenPackage


def packages_on_sale() -> QuerySet[TokenPackage]:
    return TokenPackage.objects.filter(active=True).order_by("sort_order", "price_cents", "id")


def purchases_of(user) -> QuerySet[Purchase]:
    """A user's own purchases, newest first. Nobody else's, ever."""
    return Purchase.objects.filter(user=user).select_related("package").order_by("-created_at")


def purchase_history_of(user) -> QuerySet[Purchase]:
    """What the person's purchase history shows: purchases that took money
    (credited, refunded, disputed, or refused for a mismatch). Attempts that
    are open, were declined or expired moved no money and are not listed."""
    return purchases_of(user).filter(status__in=[*CREDITED_STATES, PurchaseStatus.REFUSED])


def purchase_of(user, purchase_id) -> Purchase | None:
    return purchases_of(user).filter(pk=purchase_id).first()


def failed_events() -> QuerySet[StripeEvent]:
    return StripeEvent.objects.filter(status="failed").order_by("received_at")


def wallet_lines(ids: list[str], viewer) -> dict[str, dict]:
    """How the wallet's history names purchases (ledger references
    ``purchase:<id>``): the package, what was paid, a link to the receipt.
    Registered with ``ledger.selectors.register_describer`` in PaymentsConfig.ready()."""
    import uuid

    valid = []
    for ident in ids:
        try:
            valid.append(uuid.UUID(ident))
        except ValueError:
            continue
    return {
        str(purchase.pk): {"detail": f"{purchase.package.name} · {purchase.amount_display}", "url": f"/wallet/purchases/{purchase.pk}/"}
        for purchase in purchases_of(viewer).filter(pk__in=valid)
    }


# --- for the operations console (analytics rollups) ------------------------------


def card_purchases_between(start, end):
    """Credited card purchases whose payment succeeded in [start, end):
    (succeeded_at, currency, amount_cents, tokens) rows, for analytics' rollups."""
    from payments.models import CREDITED_STATES

    return (
        Purchase.objects.filter(succeeded_at__gte=start, succeeded_at__lt=end, status__in=[s.value for s in CREDITED_STATES])
        .values_list("succeeded_at", "currency", "amount_cents", "tokens")
        .order_by()
    )
