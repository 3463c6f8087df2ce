"""Payouts in the admin: read-only records, a review queue, a bank-transfer queue,
and one page per payout where staff approve, reject, or (manual method) mark
it sent, paid or failed. Every decision goes through payouts.services, which
writes the audit row (accounts.AuditEntry) in the same transaction.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from digis.errors import DomainError
from payouts import services
from payouts.models import Payout, PayoutAccount, PayoutItem, PayoutMethod, PayoutStatus


class ReviewQueue(Payout):
    class Meta:
        proxy = True
        verbose_name = "payout waiting for review"
        verbose_name_plural = "payouts waiting for review"


class BankTransferQueue(Payout):
    class Meta:
        proxy = True
        verbose_name = "payout to pay by bank transfer"
        verbose_name_plural = "payouts to pay by bank transfer"


ACTIONS = {
    "approve": ("Approve", "A note for the audit log (optional)."),
    "reject": ("Reject: the tokens go back to the creator's wallet", "Why (the creator reads this)."),
    "mark_sent": ("Mark sent: the bank transfer is made", "The bank's reference."),
    "mark_paid": ("Mark paid: the creator's bank received it", "The bank's reference."),
    "mark_failed": ("Mark failed: the tokens go back to the creator's wallet", "Why (the creator reads this)."),
}


def actions_for(payout: Payout) -> list[str]:
    allowed = []
    if payout.status == PayoutStatus.REQUESTED:
        allowed += ["approve", "reject"]
    elif payout.status == PayoutStatus.APPROVED:
        allowed += ["reject"]
    if payout.method == PayoutMethod.MANUAL:
        if payout.status == PayoutStatus.APPROVED:
            allowed += ["mark_sent", "mark_paid", "mark_failed"]
        elif payout.status == PayoutStatus.SENT:
            allowed += ["mark_paid", "mark_failed"]
    return allowed


class DecisionForm(forms.Form):
    action = forms.ChoiceField(choices=[])
    text = forms.CharField(label="Reason or reference", required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, allowed: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [(name, ACTIONS[name][0]) for name in allowed]
        self.fields["action"].widget = forms.RadioSelect(choices=self.fields["action"].choices)

    def clean(self):
        data = super().clean()
        if data.get("action") in ("reject", "mark_failed", "mark_sent") and not (data.get("text") or "").strip():
            self.add_error("text", "Required for this decision.")
        return data


def decide(*, payout: Payout, action: str, text: str, actor) -> Payout:
    text = (text or "").strip()
    if action == "approve":
        return services.approve_payout(payout_id=payout.pk, actor=actor, note=text)
    if action == "reject":
        return services.reject_payout(payout_id=payout.pk, actor=actor, reason=text)
    if action == "mark_sent":
        return services.mark_manual_sent(payout_id=payout.pk, actor=actor, reference=text)
    if action == "mark_paid":
        return services.mark_manual_paid(payout_id=payout.pk, actor=actor, reference=text)
    if action == "mark_failed":
        return services.mark_manual_failed(payout_id=payout.pk, actor=actor, reason=text)
    raise ValueError(action)


class PayoutItemInline(admin.TabularInline):
    model = PayoutItem
    fields = ("earned_at", "kind", "earning", "gross", "fee", "net", "tokens")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PayoutAdmin(admin.ModelAdmin):
    list_display = ("requested_at", "creator", "tokens", "amount", "method", "status", "review_reason", "held_reason")
    list_filter = ("status", "method", "needs_review", "trigger")
    search_fields = ("id", "creator__username", "creator__email", "stripe_transfer_id", "stripe_payout_id", "manual_reference")
    list_select_related = ("creator",)
    ordering = ("-requested_at",)
    inlines = [PayoutItemInline]
    actions = ["approve_selected"]
    readonly_fields = (
        "decide", "id", "creator", "status", "method", "trigger", "tokens", "cents_per_token", "amount", "destination",
        "needs_review", "review_reason", "reviewed_by", "reviewed_at", "review_note", "held_reason", "failure_code",
        "failure_message", "stripe_transfer_id", "stripe_payout_id", "stripe_reversal_id", "manual_reference",
        "request_transaction", "settle_transaction", "return_transaction", "attempts", "last_error", "lease_until",
        "requested_at", "approved_at", "sent_at", "paid_at", "finished_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # decisions go through the decide page, never a saved form

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return bool(request.user.is_active and request.user.is_staff)

    @admin.display(description="Amount")
    def amount(self, obj):
        return obj.amount_display

    @admin.display(description="Decision")
    def decide(self, obj):
        if not obj or not actions_for(obj):
            return "Nothing to decide."
        return format_html('<a class="button" href="{}">Decide…</a>', reverse("admin:payouts_payout_decide", args=[obj.pk]))

    def get_urls(self):
        custom = [path("<uuid:pk>/decide/", self.admin_site.admin_view(self.decide_view), name="payouts_payout_decide")]
        return custom + super().get_urls()

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not services.may_review(request.user):
            actions.pop("approve_selected", None)
        return actions

    @admin.action(description="Approve the selected payouts (audited)")
    def approve_selected(self, request, queryset):
        approved = 0
        for payout in queryset.filter(status=PayoutStatus.REQUESTED):
            try:
                services.approve_payout(payout_id=payout.pk, actor=request.user, note="Approved from the review queue.")
                approved += 1
            except DomainError as exc:
                self.message_user(request, f"{payout}: {exc.message}", messages.ERROR)
        self.message_user(request, f"{approved} payout(s) approved.", messages.SUCCESS)

    def decide_view(self, request, pk):
        if not services.may_review(request.user):
            raise PermissionDenied
        payout = get_object_or_404(Payout.objects.select_related("creator"), pk=pk)
        allowed = actions_for(payout)
        form = DecisionForm(request.POST or None, allowed=allowed)
        if request.method == "POST" and form.is_valid():
            try:
                decide(payout=payout, action=form.cleaned_data["action"], text=form.cleaned_data["text"], actor=request.user)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Recorded: {ACTIONS[form.cleaned_data['action']][0]}.", messages.SUCCESS)
                return redirect(reverse("admin:payouts_payout_change", args=[payout.pk]))
        context = {
            **self.admin_site.each_context(request), "title": f"Decide on {payout}", "payout": payout, "form": form,
            "opts": Payout._meta, "hints": {name: ACTIONS[name][1] for name in allowed},
            "statement": payout.items.order_by("earned_at", "id"),
        }
        return render(request, "admin/payouts/decide.html", context)


admin.site.register(Payout, PayoutAdmin)


@admin.register(ReviewQueue)
class ReviewQueueAdmin(PayoutAdmin):
    list_display = ("requested_at", "creator", "tokens", "amount", "method", "review_reason", "decide")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=PayoutStatus.REQUESTED)


@admin.register(BankTransferQueue)
class BankTransferQueueAdmin(PayoutAdmin):
    list_display = ("approved_at", "creator", "tokens", "amount", "destination", "status", "decide")
    actions = []

    def get_queryset(self, request):
        return super().get_queryset(request).filter(method=PayoutMethod.MANUAL, status__in=[PayoutStatus.APPROVED, PayoutStatus.SENT])


@admin.register(PayoutAccount)
class PayoutAccountAdmin(admin.ModelAdmin):
    list_display = ("user", "method", "schedule", "ready", "stripe_account_id", "bank_masked", "updated_at")
    list_filter = ("method", "schedule", "stripe_payouts_enabled")
    search_fields = ("user__username", "user__email", "stripe_account_id")
    readonly_fields = [f.name for f in PayoutAccount._meta.fields]

    @admin.display(boolean=True)
    def ready(self, obj):
        return obj.ready

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return bool(request.user.is_active and request.user.is_staff)
