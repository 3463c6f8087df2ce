"""Socket authentication: the session cookie, or a bearer token.

Browsers cannot set headers on a WebSocket, so a token travels as a
subprotocol pair: ``new WebSocket(url, ["digis.bearer", token])``. Other
clients may send ``Authorization: Bearer <token>``. Tokens never go in the
query string, where proxies would log them.
"""

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils.module_loading import import_string
from rest_framework.exceptions import AuthenticationFailed

BEARER_SUBPROTOCOL = "digis.bearer"


def _bearer_token(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            parts = value.split()
            if len(parts) == 2 and parts[0].lower() == b"bearer":
                return parts[1].decode("latin-1")
    subprotocols = scope.get("subprotocols") or []
    if BEARER_SUBPROTOCOL in subprotocols:
        index = subprotocols.index(BEARER_SUBPROTOCOL)
        if index + 1 < len(subprotocols):
            return subprotocols[index + 1]
    return None


@database_sync_to_async
def _user_for_token(token: str):
    try:
        return import_string(settings.BEARER_TOKEN_AUTHENTICATOR)(token)
    except AuthenticationFailed:
        return AnonymousUser()


class BearerTokenMiddleware(BaseMiddleware):
    """Runs inside the session auth stack; a bearer token, when given, wins."""

    async def __call__(self, scope, receive, send):
        token = _bearer_token(scope)
        if token is not None:
            scope = dict(scope, user=await _user_for_token(token), auth_method="bearer")
        else:
            scope = dict(scope, auth_method="session")
        return await super().__call__(scope, receive, send)


def SocketAuthStack(inner):
    return AuthMiddlewareStack(BearerTokenMiddleware(inner))
