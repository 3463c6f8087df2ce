"""Bearer tokens for the API and the socket (JWT access + rotating refresh tokens).

Access tokens are short-lived (SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]) and carry
the user's `auth_version`: a ban, a deletion or a password change bumps it,
so every outstanding access token stops at once. Refresh tokens are recorded
in `accounts.RefreshToken`; each is good for one refresh. A second use of the
same refresh token revokes its whole family (every token descended from the
same sign-in).
"""

import uuid
from datetime import datetime, timezone as dt_timezone

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken
from rest_framework_simplejwt.tokens import RefreshToken as JWTRefreshToken

from accounts.exceptions import AccountBanned, AccountInactive, TokenInvalid, TokenReused
from accounts.models import RefreshToken
from digis.errors import DomainError

AUTH_VERSION_CLAIM = "auth_version"


class AccessTokenRejected(DomainError, AuthenticationFailed):
    """401 with a specific code (invalid_token, token_revoked, account_banned, account_inactive).

    A DomainError so the API's error body keeps the code; an
    AuthenticationFailed so DRF and the socket treat it as a failed sign-in.
    """

    status_code = 401

    def __init__(self, message: str, *, code: str):
        DomainError.__init__(self, message, code=code)
        AuthenticationFailed.__init__(self, message, code=code)
FAMILY_CLAIM = "family"


def _check_user_may_hold_tokens(user) -> None:
    if user is None or not user.is_active or user.is_deleted:
        raise AccountInactive()
    if user.is_banned:
        raise AccountBanned(banned_until=user.banned_until.isoformat() if user.banned_until else None)


def user_for_access_token(raw: str):
    """Return the user an access token names, or raise AuthenticationFailed (401) with a code.

    The API (digis.authentication.BearerAuthentication) and the socket
    (digis.realtime.auth) both call this.
    """
    try:
        token = AccessToken(raw)
    except TokenError:
        raise AccessTokenRejected("The access token is invalid or expired.", code="invalid_token")
    user = get_user_model().objects.filter(pk=token.get("user_id")).first()
    if user is None or not user.is_active:
        raise AccessTokenRejected("This account is not active.", code="account_inactive")
    if user.is_banned:
        raise AccessTokenRejected("This account is banned.", code="account_banned")
    # Tokens minted without the claim (AccessToken.for_user in tests) count
    # as version 0, which every account starts at.
    if token.get(AUTH_VERSION_CLAIM, 0) != user.auth_version:
        raise AccessTokenRejected("This token was revoked. Sign in again.", code="token_revoked")
    return user


def _mint(*, user, family: uuid.UUID) -> dict:
    refresh = JWTRefreshToken.for_user(user)
    refresh[FAMILY_CLAIM] = str(family)
    refresh[AUTH_VERSION_CLAIM] = user.auth_version
    RefreshToken.objects.create(
        jti=refresh["jti"],
        family=family,
        user=user,
        expires_at=datetime.fromtimestamp(refresh["exp"], tz=dt_timezone.utc),
    )
    access = refresh.access_token  # copies user_id, family and auth_version
    return {
        "access": str(access),
        "refresh": str(refresh),
        "access_expires_at": datetime.fromtimestamp(access["exp"], tz=dt_timezone.utc).isoformat(),
        "refresh_expires_at": datetime.fromtimestamp(refresh["exp"], tz=dt_timezone.utc).isoformat(),
    }


def issue_token_pair(*, user) -> dict:
    """A new token family for a fresh sign-in. Call after the credentials were checked."""
    _check_user_may_hold_tokens(user)
    with transaction.atomic():
        return _mint(user=user, family=uuid.uuid4())


def _decode_refresh(raw: str):
    try:
        return JWTRefreshToken(raw, verify=True)
    except TokenError:
        raise TokenInvalid("The refresh token is invalid or expired.")


def rotate_refresh_token(*, raw: str) -> dict:
    """Spend a refresh token for a new pair in the same family.

    Atomic. A token already used (or revoked) is refused; if it had been
    *used*, that is a replay of a stolen token, so the whole family is revoked
    (committed even though the call raises).
    """
    token = _decode_refresh(raw)
    jti = token.get("jti")
    now = timezone.now()
    reused = False
    with transaction.atomic(durable=True):
        record = RefreshToken.objects.select_for_update().select_related("user").filter(jti=jti).first()
        if record is None:
            raise TokenInvalid("The refresh token is not known.")
        if record.used_at is not None:
            reused = True
            RefreshToken.objects.filter(family=record.family, revoked_at__isnull=True).update(revoked_at=now)
        elif record.revoked_at is None:
            user = record.user
            if token.get(AUTH_VERSION_CLAIM, -1) != user.auth_version:
                RefreshToken.objects.filter(family=record.family, revoked_at__isnull=True).update(revoked_at=now)
                raise TokenInvalid("This session was signed out. Sign in again.", code="token_revoked")
            _check_user_may_hold_tokens(user)
            # Compare-and-swap: of two concurrent refreshes only one wins.
            won = RefreshToken.objects.filter(jti=jti, used_at__isnull=True, revoked_at__isnull=True).update(used_at=now)
            if won:
                return _mint(user=user, family=record.family)
            reused = True
    if reused:
        raise TokenReused()
    raise TokenInvalid("This session was signed out. Sign in again.", code="token_revoked")


def revoke_refresh_family(*, raw: str, user=None) -> int:
    """Sign-out of one session (the family the refresh token belongs to). Idempotent."""
    token = _decode_refresh(raw)
    record = RefreshToken.objects.filter(jti=token.get("jti")).first()
    if record is None or (user is not None and record.user_id != user.pk):
        raise TokenInvalid("The refresh token is not known.")
    return RefreshToken.objects.filter(family=record.family, revoked_at__isnull=True).update(revoked_at=timezone.now())


def revoke_all_refresh_tokens(*, user) -> int:
    return RefreshToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
