"""Password-reset e-mail (Django's token generator: one use, expires after PASSWORD_RESET_TIMEOUT)."""

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from urllib.parse import urlsplit


def send_password_reset(*, email: str) -> None:
    """Mail a reset link if an active account with a usable password has this e-mail.

    Says nothing either way: callers answer the same whether or not it exists.
    """
    form = PasswordResetForm(data={"email": email})
    if not form.is_valid():
        return
    site = urlsplit(settings.SITE_URL)
    form.save(
        domain_override=site.netloc,
        use_https=site.scheme == "https",
        subject_template_name="accounts/email/password_reset_subject.txt",
        email_template_name="accounts/email/password_reset.txt",
    )
