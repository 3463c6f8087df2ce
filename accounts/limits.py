"""Abuse limits for sign-in, sign-up and password reset (django-ratelimit counters).

Counters live in the default cache (Redis in production), so they hold
across every process. Sign-in counts only *failed* attempts, per account and
per client IP; the account key is derived the same way whether or not the
account exists, so a 429 reveals nothing about existence.
"""

import hashlib
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache
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


# --- sign-in: reserve an attempt before checking the password -----------------
#
# Checking the budget and recording a failure as two steps let 20 concurrent
# wrong passwords all through (each checked before any was recorded). Now each
# attempt first takes one unit of every budget it draws on (one atomic INCR
# each); an attempt that finds a budget overdrawn gives its units back and is
# refused; a successful sign-in gives its units back afterwards. So at most
# `allowed` failures ever get as far as the password check in a window.
#
# And a locked account must not lock out its owner: anyone who knows a
# username could otherwise keep it locked. A browser or app that has signed in
# to an account before carries a signed device cookie for it (OWASP's "device
# cookies"); its attempts draw on a budget of their own, per device, instead of
# the account's and the address's. Strangers still lock out after 5 failures.

DEVICE_COOKIE = "digis_device"
DEVICE_SALT = "accounts.login-device"
DEVICE_MAX_AGE_S = 365 * 24 * 3600


def _window(limit: Limit, value: str) -> tuple[str, int, int]:
    """(cache key, period seconds, seconds left) of the fixed window ``value`` is in now."""
    allowed, period = _split_rate(limit.rate)
    now = time.time()
    window = int(now // period)
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    return f"signin:{limit.group}:{digest}:{window}", period, max(1, int((window + 1) * period - now))


def _take(key: str, period: int) -> int:
    cache.add(key, 0, period + 5)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, period + 5)
        return 1


def _give_back(key: str) -> None:
    try:
        cache.decr(key)
    except ValueError:  # the window has passed meanwhile
        pass


@dataclass
class LoginAttempt:
    """The budget units one sign-in attempt holds; give them back if it succeeds."""

    keys: list[str]

    def succeeded(self) -> None:
        for key in self.keys:
            _give_back(key)


def device_token_for(user) -> str:
    return signing.dumps({"u": str(user.pk), "d": secrets.token_urlsafe(12)}, salt=DEVICE_SALT, compress=True)


def trusted_device(request, user) -> str | None:
    """The id of this client's device cookie if it was issued for ``user``, else None."""
    raw = request.COOKIES.get(DEVICE_COOKIE) if request is not None else None
    if not raw or user is None:
        return None
    try:
        data = signing.loads(raw, salt=DEVICE_SALT, max_age=DEVICE_MAX_AGE_S)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("u") != str(user.pk) or not isinstance(data.get("d"), str):
        return None
    return data["d"]


def remember_device(response, user) -> None:
    """Mark the browser or app that just signed in as one of ``user``'s devices."""
    response.set_cookie(
        DEVICE_COOKIE,
        device_token_for(user),
        max_age=DEVICE_MAX_AGE_S,
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )


def start_login_attempt(request, *, account_key: str, device: str | None = None) -> LoginAttempt:
    """Take one unit of each sign-in budget this attempt draws on; raise TooManyAttempts if one is spent.

    Strangers draw on the account's budget and their address's; a trusted
    device (``device``, from ``trusted_device``) only on its own.
    """
    account_limit, ip_limit = login_limits()
    if device is not None:
        budgets = [(account_limit, f"device:{device}")]
    else:
        budgets = [(account_limit, account_key), (ip_limit, client_ip(request))]
    taken, refused_for = [], 0
    for limit, value in budgets:
        key, period, left = _window(limit, value)
        count = _take(key, period)
        taken.append(key)
        if count > limit.allowed:
            refused_for = max(refused_for, left)
    if refused_for:
        for key in taken:
            _give_back(key)
        raise TooManyAttempts(retry_after=refused_for)
    return LoginAttempt(taken)


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
