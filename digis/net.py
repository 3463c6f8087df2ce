"""Client IP, trusting X-Forwarded-For only as far as settings say."""

from django.conf import settings


def client_ip(request) -> str:
    """The address of whoever is talking to us.

    With TRUSTED_PROXY_COUNT = n > 0 we are behind n proxies that each append
    the address they saw, so the client is the n-th entry from the right;
    anything left of it is whatever the client chose to send and is ignored.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"
    trusted = settings.TRUSTED_PROXY_COUNT
    if trusted <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) >= trusted:
        return forwarded[-trusted]
    return forwarded[0] if forwarded else remote


def client_ip_for_ratelimit(request) -> str:
    # django-ratelimit calls this (RATELIMIT_IP_META_KEY) with the request.
    return client_ip(request)
