from django.conf import settings


def site(request):
    context = {"SITE_NAME": "Digis", "DEBUG": settings.DEBUG}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        # A callable: templates call it when they draw the nav's balance chip,
        # so a page that does not draw it costs no query. Never cached.
        def wallet_balance() -> str:
            from ledger.selectors import wallet_balance_of

            return f"{wallet_balance_of(user=user):,}"

        context["wallet_balance"] = wallet_balance
    return context
