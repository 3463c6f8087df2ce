"""Pages: buy tokens (/wallet/buy/) and a purchase receipt."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from payments import selectors


def _balance(user) -> int:
    from ledger.services import balance_of

    return balance_of(user=user)


@login_required
def buy_tokens(request):
    return render(
        request,
        "payments/buy.html",
        {
            "packages": selectors.packages_on_sale(),
            "purchases": selectors.purchase_history_of(request.user)[:20],
            "balance": _balance(request.user),
            "stripe_js_url": settings.STRIPE_JS_URL,
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            # Test keys: say which cards work (Stripe's test mode, or localstripe).
            "test_mode": settings.STRIPE_PUBLISHABLE_KEY.startswith("pk_test_"),
        },
    )


@login_required
def purchase_receipt(request, purchase_id):
    purchase = selectors.purchase_of(request.user, purchase_id)
    if purchase is None:
        raise Http404("No such purchase.")
    return render(request, "payments/receipt.html", {"purchase": purchase, "balance": _balance(request.user)})
