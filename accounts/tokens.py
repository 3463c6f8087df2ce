"""Bearer tokens for the API and the socket (JWT access tokens)."""

from django.contrib.auth import get_user_model
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken


def user_for_access_token(raw: str):
    """Return the active user an access token names, or raise AuthenticationFailed."""
    try:
        token = AccessToken(raw)
    except TokenError:
        raise AuthenticationFailed("The access token is invalid or expired.", code="invalid_token")
    user = get_user_model().objects.filter(pk=token.get("user_id")).first()
    if user is None or not user.is_active:
        raise AuthenticationFailed("This account is not active.", code="account_inactive")
    return user
