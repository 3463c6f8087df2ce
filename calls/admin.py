"""Calls in the admin: read-only, plus two audited actions through calls.services.

Moderators (and admins) may look at calls and end a live one; only admins may
refund one, since that moves money. Nothing here saves a call: the forms call
``end_call_as_staff`` / ``refund_call_as_staff``, which write the change and the
audit row together.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html

from calls import services
from calls.models import CallPresence, CallSession, CallStatus
from digis.errors import DomainError


def may_end_calls(user) -> bool:
    return bool(user.is_active and user.is_staff and (user.is_superuser or getattr(user, "role", None) in ("moderator", "admin")))


def may_refund_calls(user) -> bool:
    return bool(user.is_active and user.is_staff and (user.is_superuser or getattr(user, "role", None) == "admin"))


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=500, help_text="Kept in the audit trail.")

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


class PresenceInline(admin.TabularInline):
    model = CallPresence
    fields = ("user", "joined_at", "last_seen_at", "left_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CallSession)
class CallSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "fan", "creator", "kind", "status", "end_reason", "requested_at", "active_seconds", "tokens_charged", "tokens_refunded")
    list_filter = ("status", "kind", "end_reason")
    search_fields = ("fan__username", "creator__username", "id")
    list_select_related = ("fan", "creator")
    date_hierarchy = "requested_at"
    inlines = [PresenceInline]
    readonly_fields = [f.name for f in CallSession._meta.fields] + ["staff_actions"]
    actions = ["end_selected", "refund_selected"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return may_end_calls(request.user)

    def has_module_permission(self, request):
        return may_end_calls(request.user)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not may_refund_calls(request.user):
            actions.pop("refund_selected", None)
        return actions

    @admin.display(description="Staff actions")
    def staff_actions(self, call):
        links = []
        if call.status != CallStatus.ENDED:
            links.append(format_html('<a class="button" href="{}">End this call…</a>', reverse("admin:calls_callsession_end", args=[call.pk])))
        elif call.settled_at and call.refunded_by_staff_at is None and call.tokens_refunded < call.tokens_charged:
            links.append(format_html('<a class="button" href="{}">Refund the fan…</a>', reverse("admin:calls_callsession_refund", args=[call.pk])))
        return format_html(" ".join(["{}"] * len(links)), *links) if links else "—"

    def get_urls(self):
        custom = [
            path("<uuid:pk>/end/", self.admin_site.admin_view(self.end_view), name="calls_callsession_end"),
            path("<uuid:pk>/refund/", self.admin_site.admin_view(self.refund_view), name="calls_callsession_refund"),
        ]
        return custom + super().get_urls()

    def _one(self, request, queryset, url_name):
        calls = list(queryset[:2])
        if len(calls) != 1:
            self.message_user(request, "Select exactly one call.", messages.ERROR)
            return None
        return redirect(reverse(f"admin:{url_name}", args=[calls[0].pk]))

    @admin.action(description="End the selected call…")
    def end_selected(self, request, queryset):
        return self._one(request, queryset, "calls_callsession_end")

    @admin.action(description="Refund the selected call's fan…")
    def refund_selected(self, request, queryset):
        return self._one(request, queryset, "calls_callsession_refund")

    def end_view(self, request, pk):
        if not may_end_calls(request.user):
            raise PermissionDenied
        return self._reason_view(
            request, pk, title="End call", service=services.end_call_as_staff,
            explanation="Billing stops now: the fan pays for the time both were present, as when someone hangs up.",
            done="The call was ended.",
        )

    def refund_view(self, request, pk):
        if not may_refund_calls(request.user):
            raise PermissionDenied
        return self._reason_view(
            request, pk, title="Refund call", service=services.refund_call_as_staff,
            explanation="Everything the fan still paid for this call goes back to their wallet; the creator's share and the fee are taken back.",
            done="The fan was refunded.",
        )

    def _reason_view(self, request, pk, *, title, service, explanation, done):
        call = get_object_or_404(CallSession.objects.select_related("fan", "creator"), pk=pk)
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                service(call_id=call.pk, actor=request.user, reason=form.cleaned_data["reason"])
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, done, messages.SUCCESS)
                return redirect(reverse("admin:calls_callsession_change", args=[call.pk]))
        context = {
            **self.admin_site.each_context(request), "title": f"{title}: {call}", "form": form, "call": call,
            "explanation": explanation, "opts": self.model._meta,
        }
        return render(request, "admin/calls/reason.html", context)
