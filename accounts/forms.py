"""Page forms. They parse and validate input; the services do the writes."""

from django import forms
from django.contrib.auth.forms import SetPasswordForm

from accounts import services


class SignupForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}))
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    display_name = forms.CharField(max_length=80, required=False)
    password = forms.CharField(max_length=4096, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))


class LoginForm(forms.Form):
    username = forms.CharField(label="Username or e-mail", max_length=254, widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}))
    password = forms.CharField(max_length=4096, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    otp_token = forms.CharField(
        label="Authenticator code", max_length=16, required=False,
        help_text="Staff accounts always need one; others only if they turned on two-factor sign-in.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class ProfileForm(forms.Form):
    display_name = forms.CharField(max_length=80, required=False)


class AvatarForm(forms.Form):
    avatar = forms.FileField()


class ChangeEmailForm(forms.Form):
    email = forms.EmailField(label="New e-mail", max_length=254)
    password = forms.CharField(label="Current password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class ChangePasswordForm(forms.Form):
    current_password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    new_password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class OTPConfirmForm(forms.Form):
    otp_token = forms.CharField(label="Code from your authenticator app", max_length=16,
                                widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}))


class DeleteAccountForm(forms.Form):
    password = forms.CharField(label="Your password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    confirm = forms.BooleanField(label="I understand this cannot be undone.")


class ServiceSetPasswordForm(SetPasswordForm):
    """Django's reset-confirm form, saving through accounts.services (sessions and tokens end)."""

    def save(self, commit=True):
        return services.set_new_password(user=self.user, new_password=self.cleaned_data["new_password1"])
