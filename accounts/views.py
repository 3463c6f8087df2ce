"""Server-rendered account pages: sign-up, sign-in, verification, reset, settings.

Views parse forms and call services; every write happens in accounts.services
(or accounts.otp for the authenticator set-up).
"""

from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import limits, otp, selectors, services
from accounts.exceptions import TooManyAttempts
from accounts.forms import (
    AvatarForm,
    ChangeEmailForm,
    ChangePasswordForm,
    DeleteAccountForm,
    LoginForm,
    OTPConfirmForm,
    PasswordResetRequestForm,
    ProfileForm,
    ServiceSetPasswordForm,
    SignupForm,
)
from accounts.models import User
from digis.errors import DomainError

BACKEND = "django.contrib.auth.backends.ModelBackend"


def _apply_error(form, exc: DomainError) -> None:
    """Show a domain error on the form: per field where we can, else on top."""
    placed = False
    for field, errors in (exc.fields or {}).items():
        for error in errors if isinstance(errors, list) else [errors]:
            form.add_error(field if field in form.fields else None, str(error))
            placed = True
    if not placed:
        form.add_error(None, exc.message)


def _render_limited(request, template, context, exc: TooManyAttempts):
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(exc.extra.get("retry_after", 60))
    return response


def _safe_next(request, default="/"):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def signup(request):
    if request.user.is_authenticated:
        return redirect("accounts:settings")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            limits.consume_signup(request)
            user = services.register_user(**form.cleaned_data)
        except TooManyAttempts as exc:
            form.add_error(None, exc.message)
            return _render_limited(request, "accounts/signup.html", {"form": form}, exc)
        except DomainError as exc:
            _apply_error(form, exc)
        else:
            login(request, user, backend=BACKEND)
            messages.success(request, f"Welcome to Digis! We sent a link to {user.email} to confirm your e-mail.")
            return redirect("accounts:settings")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


def login_view(request):
    form = LoginForm(request.POST or None)
    next_url = _safe_next(request)
    if request.method == "POST" and form.is_valid():
        try:
            user, device = services.authenticate_user(
                request=request,
                identifier=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                otp_token=form.cleaned_data.get("otp_token") or None,
            )
        except TooManyAttempts as exc:
            form.add_error(None, exc.message)
            return _render_limited(request, "accounts/login.html", {"form": form, "next": next_url}, exc)
        except DomainError as exc:
            _apply_error(form, exc)
        else:
            login(request, user, backend=BACKEND)
            if device is not None:
                from django_otp import login as otp_login

                otp_login(request, device)
            response = redirect(next_url)
            # This browser is trusted for this account from now on: strangers
            # locking the account out do not lock its owner out (accounts/limits.py).
            limits.remember_device(response, user)
            return response
    status = 400 if form.errors else 200
    return render(request, "accounts/login.html", {"form": form, "next": next_url}, status=status)


def logout_view(request):
    if request.method == "POST":
        logout(request)
        messages.info(request, "You are signed out.")
        return redirect("home")
    return render(request, "accounts/logout.html")


def verify(request, token):
    try:
        user = services.verify_email(token=token)
    except DomainError as exc:
        return render(request, "accounts/verify.html", {"error": exc.message}, status=400)
    return render(request, "accounts/verify.html", {"verified_user": user})


def password_reset(request):
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            limits.consume_password_reset(request, email=form.cleaned_data["email"])
        except TooManyAttempts as exc:
            form.add_error(None, exc.message)
            return _render_limited(request, "accounts/password_reset.html", {"form": form}, exc)
        services.request_password_reset(email=form.cleaned_data["email"])
        return redirect("accounts:password-reset-done")
    return render(request, "accounts/password_reset.html", {"form": form})


def password_reset_done(request):
    return render(request, "accounts/password_reset_done.html")


class PasswordResetConfirm(auth_views.PasswordResetConfirmView):
    form_class = ServiceSetPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password-reset-complete")

    def form_valid(self, form):
        # Whoever opened the reset link controls the account's mailbox: trust
        # this browser, so a lockout by strangers does not keep them out.
        response = super().form_valid(form)
        limits.remember_device(response, form.user)
        return response


def password_reset_complete(request):
    return render(request, "accounts/password_reset_complete.html")


# --- settings -------------------------------------------------------------------

def _settings_context(request, **forms):
    from django_otp import user_has_device

    user = request.user
    context = {
        "profile_form": ProfileForm(initial={"display_name": user.display_name}),
        "avatar_form": AvatarForm(),
        "email_form": ChangeEmailForm(),
        "password_form": ChangePasswordForm(),
        "delete_form": DeleteAccountForm(),
        "otp_form": OTPConfirmForm(),
        "has_2fa": user_has_device(user, confirmed=True),
        "blocks": selectors.blocks_made_by(user),
    }
    context.update(forms)
    return context


@login_required
def settings_page(request):
    return render(request, "accounts/settings.html", _settings_context(request))


def _settings_post(request, form_name, form, action, success):
    """Run one settings form: valid -> service -> redirect; invalid -> the page with errors (400)."""
    if form.is_valid():
        try:
            action(form.cleaned_data)
        except DomainError as exc:
            _apply_error(form, exc)
        else:
            messages.success(request, success)
            return redirect("accounts:settings")
    return render(request, "accounts/settings.html", _settings_context(request, **{form_name: form}), status=400)


@login_required
@require_POST
def settings_profile(request):
    return _settings_post(
        request, "profile_form", ProfileForm(request.POST),
        lambda data: services.update_profile(user=request.user, display_name=data["display_name"]), "Profile saved.",
    )


@login_required
@require_POST
def settings_avatar(request):
    if request.POST.get("remove"):
        services.remove_avatar(user=request.user)
        messages.success(request, "Avatar removed.")
        return redirect("accounts:settings")
    return _settings_post(
        request, "avatar_form", AvatarForm(request.POST, request.FILES),
        lambda data: services.set_avatar(user=request.user, upload=data["avatar"]), "Avatar updated.",
    )


@login_required
@require_POST
def settings_email(request):
    return _settings_post(
        request, "email_form", ChangeEmailForm(request.POST),
        lambda data: services.change_email(user=request.user, password=data["password"], new_email=data["email"]),
        "E-mail changed. Check your inbox to confirm the new address.",
    )


@login_required
@require_POST
def settings_password(request):
    def change(data):
        user = services.change_password(user=request.user, **data)
        # Keep this session; every other session and token ended.
        update_session_auth_hash(request, user)

    return _settings_post(request, "password_form", ChangePasswordForm(request.POST), change, "Password changed. Other sessions were signed out.")


@login_required
def settings_2fa(request):
    """GET: show the QR code of a pending authenticator; POST: confirm it with a code."""
    if request.method == "POST":
        form = OTPConfirmForm(request.POST)
        if form.is_valid():
            try:
                device = otp.confirm_device(user=request.user, token=form.cleaned_data["otp_token"])
            except DomainError as exc:
                _apply_error(form, exc)
            else:
                from django_otp import login as otp_login

                otp_login(request, device)
                messages.success(request, "Two-factor sign-in is on.")
                return redirect("accounts:settings")
    else:
        form = OTPConfirmForm()
    device = otp.pending_device(request.user)
    return render(request, "accounts/otp_setup.html", {"form": form, "qr_svg": otp.qr_svg(device), "config_url": device.config_url},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def settings_2fa_disable(request):
    return _settings_post(
        request, "otp_form", OTPConfirmForm(request.POST),
        lambda data: otp.disable(user=request.user, token=data["otp_token"]), "Two-factor sign-in is off.",
    )


@login_required
@require_POST
def settings_unblock(request, id):
    other = get_object_or_404(User, pk=id)
    services.unblock_user(blocker=request.user, blocked=other)
    messages.success(request, f"You unblocked {other.public_name}.")
    return redirect("accounts:settings")


@login_required
@require_POST
def block(request, id):
    other = get_object_or_404(User, pk=id, is_active=True)
    try:
        services.block_user(blocker=request.user, blocked=other)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"You blocked {other.public_name}.")
    return redirect(_safe_next(request, default=reverse("accounts:settings")))


@login_required
@require_POST
def settings_become_creator(request):
    try:
        services.become_creator(user=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("accounts:settings")
    messages.success(request, "You are a creator now. Set your rates in the creator studio.")
    return redirect("/settings/creator/")


@login_required
@require_POST
def settings_delete(request):
    form = DeleteAccountForm(request.POST)

    def delete(data):
        services.delete_account_with_password(user=request.user, password=data["password"])

    response = _settings_post(request, "delete_form", form, delete, "Your account was deleted.")
    if response.status_code == 302:
        logout(request)
        return redirect("home")
    return response
