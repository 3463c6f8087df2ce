"""Pages: /earnings/ (a creator's earnings, payouts, payout account and the rules),
a payout's statement, and the Stripe onboarding return/refresh pages.

Plain forms that work without JavaScript; ``payouts/earnings.js`` only saves
the click through to Stripe and reloads when a payout moves. Anyone who is not
a creator gets a 404, as in the API.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from digis.errors import DomainError
from payouts import api, selectors, services
from payouts.models import BankScheme, PayoutMethod, PayoutSchedule


def _creator_or_404(request):
    if not selectors.is_creator(request.user):
        raise Http404("Earnings are for creators.")
    return request.user


class RequestForm(forms.Form):
    tokens = forms.IntegerField(required=False, min_value=1, max_value=10**12)
    # What the page said "all" was: an empty amount pays out exactly that, not
    # whatever became payable between rendering the page and the click.
    shown = forms.IntegerField(required=False, min_value=1, max_value=10**12, widget=forms.HiddenInput)


class BankForm(forms.Form):
    scheme = forms.ChoiceField(choices=BankScheme.choices)
    holder = forms.CharField(max_length=140)
    iban = forms.CharField(required=False, max_length=64)
    routing_number = forms.CharField(required=False, max_length=32)
    account_number = forms.CharField(required=False, max_length=32)
    sort_code = forms.CharField(required=False, max_length=16)


class StripeForm(forms.Form):
    country = forms.RegexField(r"^[A-Za-z]{2}$", required=False)


class ScheduleForm(forms.Form):
    schedule = forms.ChoiceField(choices=PayoutSchedule.choices)


COUNTRIES = [("US", "United States"), ("GB", "United Kingdom"), ("DE", "Germany"), ("FR", "France"), ("ES", "Spain"),
             ("IT", "Italy"), ("NL", "Netherlands"), ("IE", "Ireland"), ("CA", "Canada"), ("AU", "Australia")]


def _page(request, *, bank_form=None, status=200):
    user = _creator_or_404(request)
    summary = api.earnings_summary(user)
    account = selectors.payout_account_of(user)
    payouts = list(selectors.payouts_of(user)[:50])
    context = {
        "summary": summary,
        "rules": summary["rules"],
        "account": account,
        "payouts": payouts,
        "stop_reason": services.stop_reason(user),
        "open_payout": next((p for p in payouts if p.is_open), None),
        "bank_form": bank_form or BankForm(initial={"scheme": account.bank_scheme if account and account.bank_scheme else BankScheme.IBAN,
                                                     "holder": account.bank_holder if account else ""}),
        "methods": summary["rules"]["methods"],
        "countries": COUNTRIES,
        "money": selectors.money,
        "payable_money": selectors.money(summary["payable"]),
        "pending_money": selectors.money(summary["pending"]),
        "in_transit_money": selectors.money(summary["in_transit"]),
        "withheld_money": selectors.money(summary["withheld"]),
        "paid_money": selectors.format_cents(summary["paid_cents"], summary["currency"]),
        "schedules": PayoutSchedule.choices,
        "schemes": BankScheme.choices,
    }
    return render(request, "payouts/earnings.html", context, status=status)


@login_required
@require_GET
def earnings(request):
    return _page(request)


def _say(request, exc: DomainError) -> None:
    messages.error(request, exc.message)


@login_required
@require_POST
def request_payout(request):
    user = _creator_or_404(request)
    form = RequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter a whole number of tokens, or leave it empty for everything payable.")
        return redirect("payouts:earnings")
    try:
        tokens = form.cleaned_data.get("tokens") or form.cleaned_data.get("shown")
        payout = services.request_payout(user=user, tokens=tokens)
    except DomainError as exc:
        _say(request, exc)
        return redirect("payouts:earnings")
    if payout.needs_review:
        messages.success(request, f"Payout of {payout.tokens:,} tokens requested. It is checked by our team before it is sent ({payout.review_reason}).")
    else:
        messages.success(request, f"Payout of {payout.tokens:,} tokens ({payout.amount_display}) requested and on its way.")
    return redirect("payouts:payout", payout_id=payout.pk)


@login_required
@require_POST
def set_up_account(request):
    _creator_or_404(request)
    method = request.POST.get("method")
    if method == PayoutMethod.STRIPE:
        form = StripeForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose the country of your bank.")
            return redirect("payouts:earnings")
        try:
            _, url = api.set_up_account(request, {"method": method, "country": form.cleaned_data.get("country") or "US"})
        except DomainError as exc:
            _say(request, exc)
            return redirect("payouts:earnings")
        # A page with a link, not a redirect: the site's CSP (form-action 'self')
        # would stop a form's redirect to Stripe. earnings.js skips this page.
        return render(request, "payouts/connect_continue.html", {"url": url})
    if method == PayoutMethod.MANUAL:
        form = BankForm(request.POST)
        if not form.is_valid():
            return _page(request, bank_form=form, status=400)
        try:
            api.set_up_account(request, {"method": method, **form.cleaned_data})
        except DomainError as exc:
            for field, problems in (exc.fields or {}).items():
                form.add_error(field if field in form.fields else None, problems)
            if not exc.fields:
                form.add_error(None, exc.message)
            return _page(request, bank_form=form, status=400)
        messages.success(request, "Bank details saved. Only a masked reference is kept; Digis pays it by bank transfer.")
        return redirect("payouts:earnings")
    if method == "use_stripe":
        try:
            services.use_stripe_method(user=request.user)
        except DomainError as exc:
            _say(request, exc)
        return redirect("payouts:earnings")
    messages.error(request, "Choose how you want to be paid.")
    return redirect("payouts:earnings")


@login_required
@require_POST
def set_schedule(request):
    user = _creator_or_404(request)
    form = ScheduleForm(request.POST)
    if form.is_valid():
        services.set_schedule(user=user, schedule=form.cleaned_data["schedule"])
        messages.success(request, "Payout schedule saved.")
    else:
        messages.error(request, "Choose weekly or on request.")
    return redirect("payouts:earnings")


@login_required
@require_GET
def connect_return(request):
    """Stripe sends the creator back here when they finish (or leave) onboarding."""
    user = _creator_or_404(request)
    account = services.sync_stripe_account(user=user)
    if account is not None and account.stripe_ready:
        messages.success(request, "Your Stripe account is connected: payouts will be sent to it.")
    elif account is not None and account.stripe_account_id:
        messages.warning(request, "Stripe still needs some details before it can pay you. Continue the setup when you are ready.")
    return redirect("payouts:earnings")


@login_required
@require_GET
def connect_refresh(request):
    """Stripe sends the creator here when their onboarding link expired: make a new one."""
    user = _creator_or_404(request)
    account = selectors.payout_account_of(user)
    if account is None or not account.stripe_account_id:
        return redirect("payouts:earnings")
    try:
        _, url = api.set_up_account(request, {"method": PayoutMethod.STRIPE, "country": "US"})
    except DomainError as exc:
        _say(request, exc)
        return redirect("payouts:earnings")
    return redirect(url)


@login_required
@require_GET
def payout_detail(request, payout_id):
    user = _creator_or_404(request)
    payout = selectors.payout_of(user, payout_id)
    if payout is None:
        raise Http404("No such payout.")
    items = selectors.statement(payout)
    references = selectors.statement_references(payout)
    lines = [
        {"item": item, "reference": references.get(item.earning_id, ""), "money": selectors.format_cents(item.tokens * payout.cents_per_token, payout.currency)}
        for item in items
    ]
    return render(
        request,
        "payouts/payout.html",
        {
            "payout": payout,
            "lines": lines,
            "total_tokens": sum(item.tokens for item in items),
            "csv_url": reverse("payouts-statement-csv", args=[payout.pk]),
        },
    )
