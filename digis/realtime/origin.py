"""Which pages may open a /ws/ socket: the site's own origin, scheme and port included.

Channels' AllowedHostsOriginValidator compares only the Origin's host name with
ALLOWED_HOSTS, so a page served from http://digis.example:8080 (or any port on
an allowed host) could open a socket with a visitor's cookies. A socket is the
same-origin API of the page that opens it: the Origin must equal the scheme,
host and port the request came to (as the proxy saw it, when we trust the
proxy's X-Forwarded-Proto like Django does), or be listed in
CSRF_TRUSTED_ORIGINS. Requests without an Origin (not from a browser) are
refused too: every client we have sends one.
"""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import validate_host


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _request_scheme(scope) -> str:
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        header, secure_value = proxy
        forwarded = _header(scope, header.removeprefix("HTTP_").lower().replace("_", "-").encode())
        if forwarded is not None:
            return "https" if forwarded.split(",")[0].strip() == secure_value else "http"
    return "https" if scope.get("scheme") in ("wss", "https") else "http"


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def origin_allowed(scope) -> bool:
    origin = _header(scope, b"origin")
    if not origin:
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    try:
        origin_port = parts.port or _default_port(parts.scheme)
    except ValueError:
        return False
    if origin.rstrip("/") in {trusted.rstrip("/") for trusted in settings.CSRF_TRUSTED_ORIGINS}:
        return True
    if not validate_host(parts.hostname, settings.ALLOWED_HOSTS):
        return False
    host = _header(scope, b"host")
    if host is None:
        # No Host header (an in-process test client): the host check above is all we can do.
        return True
    scheme = _request_scheme(scope)
    host_parts = urlsplit(f"//{host}")
    try:
        host_port = host_parts.port or _default_port(scheme)
    except ValueError:
        return False
    return (parts.scheme, parts.hostname.lower(), origin_port) == (scheme, (host_parts.hostname or "").lower(), host_port)


class SameOriginValidator:
    """ASGI middleware: refuse the handshake (403) unless ``origin_allowed``."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
