"""Bearer authentication for DRF (kept apart from digis.api to avoid an import cycle)."""

from django.conf import settings
from django.utils.module_loading import import_string
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header


class BearerAuthentication(BaseAuthentication):
    """`Authorization: Bearer <access token>`; the token format is pluggable.

    settings.BEARER_TOKEN_AUTHENTICATOR names a function token -> user that
    raises ``exceptions.AuthenticationFailed`` (with a code) when the token is
    bad. The WebSocket uses the same function.
    """

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.", code="malformed_token")
        authenticate_token = import_string(settings.BEARER_TOKEN_AUTHENTICATOR)
        user = authenticate_token(parts[1].decode("latin-1"))
        return (user, parts[1])

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
