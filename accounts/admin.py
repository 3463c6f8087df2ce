"""Admin for accounts: users (ban/suspend/unban actions through services), blocks, the audit trail.

The admin requires a verified second factor (django-otp) for everyone who
uses it, and signs in only through /accounts/login/ so the lockout applies.
"""

import secrets
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
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


REASON_HELP = "Kept in the audit log with what changed."


class AuditedUserChangeForm(UserChangeForm):
    change_reason = forms.CharField(max_length=500, label="Reason for this change", help_text=REASON_HELP)
    actor = None  # set per request by DigisUserAdmin.get_form

    def clean(self):
        cleaned = super().clean()
        if "email" in self.changed_data and cleaned.get("email"):
            taken = services._taken_fields(username="", email=cleaned["email"], exclude_pk=self.instance.pk)
            if taken:
                self.add_error("email", taken["email"])
        touched = [name for name in self.changed_data if name != "change_reason"]
        try:
            services._check_may_administer(self.actor, self.instance, ["groups" if n == "user_permissions" else n for n in touched])
        except DomainError as exc:
            raise forms.ValidationError(exc.message)
        return cleaned


class AuditedUserCreationForm(AdminUserCreationForm):
    email = forms.EmailField(label="E-mail")
    change_reason = forms.CharField(max_length=500, label="Reason for adding this account", help_text=REASON_HELP)

    class Meta(AdminUserCreationForm.Meta):
        fields = ("username", "email")

    def clean_email(self):
        email = self.cleaned_data["email"]
        taken = services._taken_fields(username="", email=email)
        if taken:
            raise forms.ValidationError(taken["email"])
        return email


class AuditedPasswordChangeForm(AdminPasswordChangeForm):
    change_reason = forms.CharField(max_length=500, label="Reason for this change", help_text=REASON_HELP)


@admin.register(User)
class DigisUserAdmin(UserAdmin):
    """Users, edited through accounts.services: every change is audited, drops cached cards, and
    a new password, a role or staff change or a deactivation ends the user's sessions and tokens."""

    form = AuditedUserChangeForm
    add_form = AuditedUserCreationForm
    change_password_form = AuditedPasswordChangeForm
    list_display = ["username", "email", "role", "is_staff", "is_active", "banned_at", "banned_until", "deleted_at", "created_at"]
    list_filter = ["role", "is_staff", "is_active", "email_verified"]
    search_fields = ["username", "email", "display_name"]
    ordering = ["-created_at"]
    readonly_fields = ["avatar", "banned_at", "banned_until", "ban_reason", "auth_version", "deleted_at", "created_at", "updated_at", "last_login", "date_joined"]
    fieldsets = UserAdmin.fieldsets + (
        ("Digis", {"fields": ["role", "display_name", "avatar", "email_verified"]}),
        ("Moderation (use the actions)", {"fields": ["banned_at", "banned_until", "ban_reason", "auth_version", "deleted_at"]}),
        ("Audit", {"fields": ["change_reason"]}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "usable_password", "password1", "password2", "change_reason")}),
    )

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None:
            # A class per request carries the actor into clean(); ModelAdmin
            # instances are shared between threads, so never store it on self.
            return type(form.__name__, (form,), {"actor": request.user})
        return form

    def save_model(self, request, obj, form, change):
        reason = form.cleaned_data["change_reason"]
        if not change:
            created = services.create_user_as_admin(
                actor=request.user, username=form.cleaned_data["username"], email=form.cleaned_data["email"],
                # "Password-based authentication: disabled" leaves no password to type:
                # a long random one nobody knows (they can reset it by e-mail).
                password=form.cleaned_data.get("password1") or secrets.token_urlsafe(32),
                reason=reason,
            )
            obj.pk, obj._state.adding, obj._state.db = created.pk, False, created._state.db
            return
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in services.ADMIN_EDITABLE}
        groups = [group.pk for group in form.cleaned_data["groups"]] if "groups" in form.changed_data else None
        permissions = (
            [perm.pk for perm in form.cleaned_data["user_permissions"]] if "user_permissions" in form.changed_data else None
        )
        services.update_user_as_admin(actor=request.user, user=obj, changes=changes, reason=reason, groups=groups, permissions=permissions)

    def save_related(self, request, form, formsets, change):
        # Groups and permissions were applied by the service in save_model.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def user_change_password(self, request, id, form_url=""):
        user = get_object_or_404(User, pk=id)
        if request.method == "POST":
            if not self.has_change_permission(request, user):
                raise PermissionDenied
            form = self.change_password_form(user, request.POST)
            if form.is_valid():
                try:
                    services.set_password_as_admin(
                        actor=request.user, user=user,
                        new_password=form.cleaned_data["password1"] if form.cleaned_data.get("set_usable_password", True) else None,
                        reason=form.cleaned_data["change_reason"],
                    )
                except DomainError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                else:
                    self.message_user(request, "Password changed; the user's sessions and tokens have ended.", messages.SUCCESS)
                    return redirect(reverse(f"{self.admin_site.name}:accounts_user_change", args=[user.pk]))
        # Showing the form, or showing its errors: Django's view, which saves nothing for an invalid form.
        return super().user_change_password(request, id, form_url)

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

    # Deleting goes through the service, which also drops both users' cached
    # block sets (Explore reads them on every signed-in request).
    def delete_model(self, request, obj):
        services.unblock_user(blocker=obj.blocker, blocked=obj.blocked)

    def delete_queryset(self, request, queryset):
        for block in queryset.select_related("blocker", "blocked"):
            services.unblock_user(blocker=block.blocker, blocked=block.blocked)


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
