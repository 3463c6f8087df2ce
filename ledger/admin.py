"""Read-only admin for the ledger, plus two audited actions for admins: adjust a wallet, reverse a transaction.

Nothing here saves a ledger row: the forms call ledger.services, which write
the transaction and the audit row together.
"""

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse

from digis.errors import DomainError
from ledger import services
from ledger.models import Account, AccountKind, Entry, Transaction


def is_ledger_admin(user) -> bool:
    return bool(user.is_active and (user.is_superuser or getattr(user, "role", None) == "admin"))


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is append-only: no add, change or delete, even for superusers."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ("account", "amount", "balance_after", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AdjustForm(forms.Form):
    amount = forms.IntegerField(help_text="Tokens: positive credits the wallet, negative debits it.")
    reason = forms.CharField(widget=forms.Textarea, max_length=500)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("The amount must not be zero.")
        return amount

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


class ReverseForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea, max_length=500)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "user", "system_code", "shard", "balance", "created_at")
    list_filter = ("kind", "system_code")
    search_fields = ("user__username", "user__email")
    readonly_fields = list_display
    actions = ["adjust_balance"]

    def get_urls(self):
        custom = [path("<int:pk>/adjust/", self.admin_site.admin_view(self.adjust_view), name="ledger_account_adjust")]
        return custom + super().get_urls()

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not is_ledger_admin(request.user):
            actions.pop("adjust_balance", None)
        return actions

    @admin.action(description="Adjust the selected wallet's balance…")
    def adjust_balance(self, request, queryset):
        wallets = list(queryset.filter(kind=AccountKind.WALLET)[:2])
        if len(wallets) != 1:
            self.message_user(request, "Select exactly one user wallet to adjust.", messages.ERROR)
            return None
        return redirect(reverse("admin:ledger_account_adjust", args=[wallets[0].pk]))

    def adjust_view(self, request, pk):
        if not is_ledger_admin(request.user):
            raise PermissionDenied
        account = get_object_or_404(Account, pk=pk, kind=AccountKind.WALLET)
        if request.method == "POST":
            form = AdjustForm(request.POST)
            if form.is_valid():
                try:
                    tx = services.adjust_balance(
                        user=account.user, amount=form.cleaned_data["amount"], reason=form.cleaned_data["reason"],
                        idempotency_key=form.cleaned_data["idempotency_key"], actor=request.user,
                    )
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    self.message_user(request, f"Adjustment recorded as transaction {tx.pk}.", messages.SUCCESS)
                    return redirect(reverse("admin:ledger_account_change", args=[account.pk]))
        else:
            # One key per rendered form: a double submit adjusts once.
            form = AdjustForm(initial={"idempotency_key": f"admin-adjust:{uuid.uuid4()}"})
        context = {**self.admin_site.each_context(request), "title": f"Adjust {account}", "form": form, "account": account, "opts": self.model._meta}
        return render(request, "admin/ledger/adjust.html", context)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "reference", "memo", "reversal_of", "created_at")
    list_filter = ("kind",)
    search_fields = ("idempotency_key", "reference")
    readonly_fields = ("id", "kind", "idempotency_key", "fingerprint", "reference", "memo", "original", "reversal_of", "created_at")
    inlines = [EntryInline]

    def get_urls(self):
        custom = [path("<int:pk>/reverse/", self.admin_site.admin_view(self.reverse_view), name="ledger_transaction_reverse")]
        return custom + super().get_urls()

    def reverse_view(self, request, pk):
        if not is_ledger_admin(request.user):
            raise PermissionDenied
        target = get_object_or_404(Transaction, pk=pk)
        if request.method == "POST":
            form = ReverseForm(request.POST)
            if form.is_valid():
                try:
                    tx = services.reverse_transaction(
                        original=target, reason=form.cleaned_data["reason"],
                        idempotency_key=form.cleaned_data["idempotency_key"], actor=request.user,
                    )
                except DomainError as exc:
                    form.add_error(None, exc.message)
                else:
                    self.message_user(request, f"Reversed by transaction {tx.pk}.", messages.SUCCESS)
                    return redirect(reverse("admin:ledger_transaction_change", args=[tx.pk]))
        else:
            form = ReverseForm(initial={"idempotency_key": f"admin-reverse:{target.pk}"})
        context = {**self.admin_site.each_context(request), "title": f"Reverse {target}", "form": form, "account": None, "target": target, "opts": self.model._meta}
        return render(request, "admin/ledger/adjust.html", context)


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "transaction", "account", "amount", "balance_after", "created_at")
    list_filter = ("account__kind",)
    readonly_fields = list_display
    list_select_related = ("transaction", "account")
