"""Cross-cutting HTTP middleware: request ids, access log, global rate limit, CSP."""

import http.client
import logging
import time

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as _DjangoCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection
from django_ratelimit.core import get_usage

from digis.api import api_error_response
from digis.request_context import make_request_id, reset_request_id, set_request_id

access_logger = logging.getLogger("digis.access")
slow_query_logger = logging.getLogger("digis.slow_query")

# Called after every request as observer(request, response, duration_ms). A
# feature app registers here from its AppConfig.ready (analytics: per-route
# latency and active users); an observer must be cheap and must never raise.
request_observers: list = []


class RequestIDMiddleware:
    """Adopt a sane incoming X-Request-ID or make one; echo it on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = make_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response["X-Request-ID"] = request_id
        return response


class _SlowQueryLogger:
    """connection.execute_wrapper that logs queries slower than SLOW_QUERY_MS."""

    def __init__(self, threshold_ms: int):
        self.threshold_ms = threshold_ms

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            if elapsed_ms >= self.threshold_ms:
                slow_query_logger.warning(
                    "slow query", extra={"duration_ms": round(elapsed_ms, 1), "sql": sql[:2000]}
                )


class AccessLogMiddleware:
    """One structured line per request: method, route, status, duration, user, request id."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.slow_query_logger = _SlowQueryLogger(settings.SLOW_QUERY_MS)

    def __call__(self, request):
        started = time.perf_counter()
        with connection.execute_wrapper(self.slow_query_logger):
            response = self.get_response(request)
        duration_ms = (time.perf_counter() - started) * 1000
        match = getattr(request, "resolver_match", None)
        user = getattr(request, "user", None)
        access_logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "route": match.route if match else None,
                "status": response.status_code,
                "duration_ms": round(duration_ms, 1),
                "user_id": str(user.pk) if user is not None and user.is_authenticated else None,
            },
        )
        for observe in request_observers:
            observe(request, response, duration_ms)
        return response


class RejectNullCharactersMiddleware:
    """A NUL character in the path or the query string is a 400, before any view runs.

    PostgreSQL refuses U+0000 in text, so a NUL that reached a query (a search
    term, a username in the path) raised DataError: a 500. Form fields and DRF
    fields refuse NUL themselves; JSON bodies are checked by digis.parsers.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            message = "The address may not contain NUL characters."
            if request.path.startswith("/api/"):
                return api_error_response(code="null_character", message=message, status_code=400)
            from django.shortcuts import render

            return render(request, "400.html", {"message": message}, status=400)
        return self.get_response(request)


class BackingServiceUnavailableMiddleware:
    """A database that is down or out of connections is a 503 with Retry-After, not a 500.

    PostgreSQL restarting, a failover, or a pool that found no connection in
    DB_POOL_TIMEOUT_S: the request could not be served now and can be retried.
    """

    RETRY_AFTER_S = 5

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.db import InterfaceError, OperationalError
        from psycopg_pool import PoolTimeout

        if not isinstance(exception, (OperationalError, InterfaceError, PoolTimeout)):
            return None
        logger = logging.getLogger("digis.unavailable")
        logger.warning("database unavailable: %s", exception.__class__.__name__, exc_info=True)
        message = "The service is briefly unavailable. Please try again in a few seconds."
        headers = {"Retry-After": str(self.RETRY_AFTER_S)}
        if request.path.startswith("/api/"):
            return api_error_response(code="service_unavailable", message=message, status_code=503, headers=headers)
        from django.shortcuts import render

        response = render(request, "503.html", {"message": message}, status=503)
        response["Retry-After"] = headers["Retry-After"]
        return response


class GlobalRateLimitMiddleware:
    """A per-IP ceiling on all traffic (GLOBAL_RATE_LIMIT, default 300/min).

    Counters live in the default cache, so with REDIS_URL they hold across
    every web process. Exempt: health probes (a load balancer must always be
    able to ask) and the Stripe and Agora webhooks (each arrives from a handful of
    addresses; it is authenticated by signature, and a 429 would only delay
    credits).
    """

    EXEMPT_PREFIXES = ("/healthz", "/readyz", "/static/", "/api/payments/stripe/webhook/", "/api/calls/agora/events/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.RATELIMIT_ENABLE and not request.path.startswith(self.EXEMPT_PREFIXES):
            usage = get_usage(request, group="global", key="ip", rate=settings.GLOBAL_RATE_LIMIT, increment=True)
            if usage and usage["should_limit"]:
                retry_after = max(1, int(usage["time_left"]))
                return api_error_response(
                    code="rate_limited",
                    message="Too many requests. Slow down and try again shortly.",
                    status_code=429,
                    headers={"Retry-After": str(retry_after)},
                )
        return self.get_response(request)


class PermissionsPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


class CSPMiddleware(_DjangoCSPMiddleware):
    """django-csp 4.0's middleware, with the site-wide policy built once per process.

    django-csp builds both headers (enforced and report-only) from settings on
    every response, about a tenth of a minimal view's CPU. A response whose view
    set no policy of its own (the ``csp.decorators``) to a request that used no
    nonce always gets the same two strings: those are built once (again after
    a settings change, as tests make). Everything else goes to django-csp.
    """

    PER_VIEW = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")
    _site_policy: tuple[str, str] | None = None

    @classmethod
    def site_policy(cls) -> tuple[str, str]:
        if cls._site_policy is None:
            cls._site_policy = (build_policy(), build_policy(report_only=True))
        return cls._site_policy

    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or any(hasattr(response, name) for name in self.PER_VIEW):
            return super().process_response(request, response)
        # What django-csp's process_response does when there is no nonce and no per-view policy.
        if settings.DEBUG and response.status_code in (http.client.INTERNAL_SERVER_ERROR, http.client.NOT_FOUND):
            return response
        csp, csp_ro = self.site_policy()
        for header, value, exempt, setting in (
            (HEADER, csp, "_csp_exempt", "CONTENT_SECURITY_POLICY"),
            (HEADER_REPORT_ONLY, csp_ro, "_csp_exempt_ro", "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
        ):
            if not value or header in response or getattr(response, exempt, False) is not False:
                continue
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES", None) or ()
            if not request.path_info.startswith(tuple(prefixes)):
                response[header] = value
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response


def _forget_site_policy(*, setting, **kwargs):
    if setting in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY"):
        CSPMiddleware._site_policy = None


setting_changed.connect(_forget_site_policy)
