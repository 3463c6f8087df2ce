"""Abuse limits for sign-in, sign-up and password reset (django-ratelimit counters).

Counters live in the default cache (Redis in production), so they hold
across every process. Sign-in counts only *failed* attempts, per account and
per client IP; the account key is derived the same way whether or not the
account exists, so a 429 reveals nothing about existence.
"""

from dataclasses import dataclass

from django.conf import settings
from django_ratelimit.core import _split_rate, get_usage

from accounts.exceptions import TooManyAttempts
from digis.net import client_ip


@dataclass(frozen=True)
class Limit:
    group: str
    rate: str

    @property
    def allowed(self) -> int:
        return _split_rate(self.rate)[0]


def _usage(request, limit: Limit, value: str, *, increment: bool):
    return get_usage(request, group=limit.group, key=lambda group, req: value, rate=limit.rate, increment=increment)


def login_limits() -> list[Limit]:
    return [
        Limit("accounts.login.account", settings.ACCOUNTS_LOGIN_FAILURES_PER_ACCOUNT),
        Limit("accounts.login.ip", settings.ACCOUNTS_LOGIN_FAILURES_PER_IP),
    ]


def _login_keys(request, account_key: str) -> list[tuple[Limit, str]]:
    account_limit, ip_limit = login_limits()
    return [(account_limit, account_key), (ip_limit, client_ip(request))]


def check_login_allowed(request, *, account_key: str) -> None:
    """Raise TooManyAttempts (with retry_after seconds) once either budget is spent."""
    for limit, value in _login_keys(request, account_key):
        usage = _usage(request, limit, value, increment=False)
        if usage and usage["count"] >= limit.allowed:
            raise TooManyAttempts(retry_after=max(1, int(usage["time_left"])))


def record_login_failure(request, *, account_key: str) -> None:
    for limit, value in _login_keys(request, account_key):
        _usage(request, limit, value, increment=True)


def consume(request, *, group: str, rate: str, value: str) -> None:
    """Count one attempt at a limited action (sign-up, reset); raise once over the limit."""
    usage = _usage(request, Limit(group, rate), value, increment=True)
    if usage and usage["should_limit"]:
        raise TooManyAttempts(
            "Too many requests. Try again later.", retry_after=max(1, int(usage["time_left"]))
        )


def consume_signup(request) -> None:
    consume(request, group="accounts.signup.ip", rate=settings.ACCOUNTS_SIGNUP_RATE_PER_IP, value=client_ip(request))


def consume_password_reset(request, *, email: str) -> None:
    consume(request, group="accounts.reset.ip", rate=settings.ACCOUNTS_RESET_RATE_PER_IP, value=client_ip(request))
    consume(request, group="accounts.reset.email", rate=settings.ACCOUNTS_RESET_RATE_PER_EMAIL, value=email.strip().lower())
