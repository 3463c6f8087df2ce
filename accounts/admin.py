"""Admin for accounts: users (ban/suspend/unban actions through services), blocks, the audit trail.

The admin requires a verified second factor (django-otp) for everyone who
uses it, and signs in only through /accounts/login/ so the lockout applies.
"""

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.contrib.auth.admin import UserAdmin
from django.shortcuts import redirect, render
from django.urls import reverse
from django_otp.admin import OTPAdminSite

from accounts import services
from accounts.models import AuditEntry, Block, User
from digis.errors import DomainError


class DigisAdminSite(OTPAdminSite):
    """Staff must have passed TOTP (or a backup code) in this session."""

    def has_permission(self, request):
        if not settings.ACCOUNTS_ADMIN_REQUIRES_OTP:
            return AdminSite.has_permission(self, request)
        return super().has_permission(request)

    def login(self, request, extra_context=None):
        from django_otp import user_has_device

        user = request.user
        if user.is_authenticated and user.is_staff and not user_has_device(user):
            messages.warning(request, "Turn on two-factor sign-in before using the admin.")
            return redirect("accounts:settings-2fa")
        next_url = request.GET.get("next") or reverse("admin:index")
        if user.is_authenticated and user.is_staff:
            messages.info(request, "Sign in again with your authenticator code to use the admin.")
        return redirect(f"{reverse('accounts:login')}?{urlencode({'next': next_url})}")


# django-otp's documented way to switch the default site in place, so every
# app's admin.register(...) keeps working.
admin.site.__class__ = DigisAdminSite


class BanForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=500)
    until = forms.DateTimeField(required=False, help_text="Leave empty for unban/permanent ban. UTC, e.g. 2026-12-31 18:00.")


def _moderation_action(modeladmin, request, queryset, *, action: str, title: str):
    if "apply" in request.POST:
        form = BanForm(request.POST)
        if form.is_valid():
            done = 0
            for user in queryset:
                try:
                    if action == "unban":
                        services.unban_user(actor=request.user, user=user, reason=form.cleaned_data["reason"])
                    else:
                        until = form.cleaned_data["until"] if action == "suspend" else None
                        if action == "suspend" and until is None:
                            form.add_error("until", "A suspension needs an end date.")
                            break
                        services.ban_user(actor=request.user, user=user, reason=form.cleaned_data["reason"], until=until)
                    done += 1
                except DomainError as exc:
                    modeladmin.message_user(request, f"{user}: {exc.message}", messages.ERROR)
            if not form.errors:
                modeladmin.message_user(request, f"{title}: {done} user(s).", messages.SUCCESS)
                return None
    else:
        form = BanForm()
    return render(request, "accounts/admin/moderate.html", {
        **modeladmin.admin_site.each_context(request),
        "title": title, "users": queryset, "form": form, "action": request.POST.get("action"),
        "show_until": action == "suspend", "opts": modeladmin.model._meta,
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
    })


@admin.register(User)
class DigisUserAdmin(UserAdmin):
    list_display = ["username", "email", "role", "is_staff", "is_active", "banned_at", "banned_until", "deleted_at", "created_at"]
    list_filter = ["role", "is_staff", "is_active", "email_verified"]
    search_fields = ["username", "email", "display_name"]
    ordering = ["-created_at"]
    readonly_fields = ["banned_at", "banned_until", "ban_reason", "auth_version", "deleted_at", "created_at", "updated_at", "last_login", "date_joined"]
    fieldsets = UserAdmin.fieldsets + (
        ("Digis", {"fields": ["role", "display_name", "avatar", "email_verified"]}),
        ("Moderation (use the actions)", {"fields": ["banned_at", "banned_until", "ban_reason", "auth_version", "deleted_at"]}),
    )
    actions = ["ban", "suspend", "unban"]

    def has_ban_permission(self, request):
        return request.user.has_perm("accounts.ban_user")

    @admin.action(description="Ban selected users", permissions=["ban"])
    def ban(self, request, queryset):
        return _moderation_action(self, request, queryset, action="ban", title="Ban users")

    @admin.action(description="Suspend selected users until a date", permissions=["ban"])
    def suspend(self, request, queryset):
        return _moderation_action(self, request, queryset, action="suspend", title="Suspend users")

    @admin.action(description="Unban selected users", permissions=["ban"])
    def unban(self, request, queryset):
        return _moderation_action(self, request, queryset, action="unban", title="Unban users")

    def has_delete_permission(self, request, obj=None):
        # Users are never deleted (ledger rows point at them): use delete_account.
        return False


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ["blocker", "blocked", "created_at"]
    raw_id_fields = ["blocker", "blocked"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only for everyone: the trail is append-only."""

    list_display = ["created_at", "actor", "action", "target_type", "target_id", "reason"]
    list_filter = ["action", "target_type"]
    search_fields = ["target_id", "reason", "actor__username"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
