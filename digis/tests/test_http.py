"""Request ids, the error body, security headers, the global rate limit, health probes."""

import json
import logging
import time
import uuid

import pytest
import time_machine
from django.test import override_settings
from django.urls import path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from digis.errors import PaymentRequired
from digis.params import parse_uuid


@api_view(["GET"])
@permission_classes([AllowAny])
def _raises_domain_error(request):
    raise PaymentRequired("You need 30 more tokens.", shortfall=30)


@api_view(["GET"])
@permission_classes([AllowAny])
def _reads_uuid_param(request):
    return Response({"id": str(parse_uuid(request.query_params.get("id"), name="id", required=True))})


@api_view(["GET"])
@permission_classes([AllowAny])
def _crashes(request):
    raise RuntimeError("boom")


urlpatterns = [
    path("api/test/domain-error/", _raises_domain_error),
    path("api/test/uuid/", _reads_uuid_param),
    path("api/test/crash/", _crashes),
]


class TestRequestID:
    def test_incoming_sane_request_id_is_echoed(self, client):
        response = client.get("/healthz", HTTP_X_REQUEST_ID="abc12345-trace")
        assert response["X-Request-ID"] == "abc12345-trace"

    def test_missing_or_insane_request_id_is_replaced(self, client):
        first = client.get("/healthz")["X-Request-ID"]
        injected = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
        assert len(first) == 32 and first != injected
        assert "\n" not in injected and len(injected) == 32

    @pytest.mark.django_db
    def test_request_id_is_in_error_body_and_access_log(self, client, caplog):
        with caplog.at_level(logging.INFO, logger="digis.access"):
            response = client.get(f"/api/users/{uuid.uuid4()}/", HTTP_X_REQUEST_ID="trace-0001-xyz")
        assert response.status_code == 404
        assert response.json()["error"]["request_id"] == "trace-0001-xyz"
        access = [r for r in caplog.records if r.name == "digis.access"]
        assert access and access[-1].request_id == "trace-0001-xyz"
        assert access[-1].status == 404 and access[-1].route == "api/users/<uuid:id>/"

    def test_log_lines_are_json_with_request_id(self):
        from digis.logging import JsonFormatter, RequestIDFilter
        from digis.request_context import reset_request_id, set_request_id

        token = set_request_id("req-123456789")
        try:
            record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
            record.duration_ms = 12.5
            RequestIDFilter().filter(record)
            line = json.loads(JsonFormatter().format(record))
        finally:
            reset_request_id(token)
        assert line["message"] == "hello world"
        assert line["request_id"] == "req-123456789" and line["duration_ms"] == 12.5


@pytest.mark.urls("digis.tests.test_http")
class TestErrorBody:
    def test_domain_error_has_stable_shape(self, client):
        body = client.get("/api/test/domain-error/").json()
        assert set(body["error"]) >= {"code", "message", "fields", "request_id"}
        assert body["error"]["code"] == "payment_required" and body["error"]["shortfall"] == 30

    def test_malformed_uuid_query_param_is_400(self, client):
        response = client.get("/api/test/uuid/?id=not-a-uuid")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid_id" and "id" in error["fields"]

    def test_unhandled_error_under_api_is_json_500(self):
        from django.test import Client

        response = Client(raise_request_exception=False).get("/api/test/crash/")
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "server_error"


@pytest.mark.django_db
class TestNotFound:
    def test_malformed_uuid_in_path_is_json_404(self, client):
        response = client.get("/api/users/not-a-uuid/")
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "not_found"

    def test_unknown_page_outside_api_is_html(self, client):
        response = client.get("/no-such-page/")
        assert response.status_code == 404
        assert "text/html" in response["Content-Type"]

    def test_unauthenticated_api_call_uses_error_body(self, client):
        response = client.get("/api/schema/")  # public
        assert response.status_code == 200
        response = client.post("/api/users/%s/" % uuid.uuid4())
        assert response.status_code in (401, 403, 405)
        assert "error" in response.json()


class TestSecurityHeaders:
    @pytest.mark.django_db
    def test_baseline_headers_on_pages(self, client):
        response = client.get("/")
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "camera=(self)" in response["Permissions-Policy"]
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp

    def test_cors_allows_only_listed_origins(self, client, settings):
        settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
        allowed = client.options("/api/schema/", HTTP_ORIGIN="https://app.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
        denied = client.options("/api/schema/", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
        assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert "Access-Control-Allow-Origin" not in denied


class TestRateLimit:
    @pytest.fixture(autouse=True)
    def _one_window(self):
        # A limit counts in fixed windows (django-ratelimit); on a slow machine a
        # few 2-second schema requests could straddle a window's end and start
        # counting again. Frozen, the requests all fall in one window.
        with time_machine.travel(time.time(), tick=False):
            yield

    @override_settings(GLOBAL_RATE_LIMIT="5/m")
    def test_429_with_retry_after_after_the_ip_limit(self, client):
        statuses = [client.get("/api/schema/").status_code for _ in range(5)]
        limited = client.get("/api/schema/")
        assert statuses == [200] * 5
        assert limited.status_code == 429
        assert 1 <= int(limited["Retry-After"]) <= 60
        assert limited.json()["error"]["code"] == "rate_limited"

    @override_settings(GLOBAL_RATE_LIMIT="2/m")
    def test_health_probes_are_never_limited(self, client):
        assert all(client.get("/healthz").status_code == 200 for _ in range(10))

    @override_settings(GLOBAL_RATE_LIMIT="2/m")
    @pytest.mark.django_db
    def test_stripe_webhook_is_not_ip_limited(self, client):
        # Unsigned posts are refused by the signature check (400), never by the IP limit.
        codes = {client.post("/api/payments/stripe/webhook/", data="{}", content_type="application/json").status_code for _ in range(5)}
        assert codes == {400}

    @override_settings(GLOBAL_RATE_LIMIT="2/m", TRUSTED_PROXY_COUNT=0)
    def test_spoofed_forwarded_for_does_not_escape_the_limit(self, client):
        codes = [client.get("/api/schema/", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code for i in range(3)]
        assert codes == [200, 200, 429]

    @override_settings(GLOBAL_RATE_LIMIT="2/m", TRUSTED_PROXY_COUNT=1)
    def test_behind_a_trusted_proxy_each_client_has_its_own_budget(self, client):
        codes = [client.get("/api/schema/", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code for i in range(4)]
        assert codes == [200] * 4


class TestHealth:
    def test_healthz(self, client):
        assert client.get("/healthz").json() == {"status": "ok"}

    @pytest.mark.django_db
    def test_readyz_all_pass(self, client):
        response = client.get("/readyz")
        body = response.json()
        assert response.status_code == 200, body
        assert body["failed"] == [] and set(body["checks"]) == {"database", "cache", "channel_layer", "broker"}
        assert body["beat_last_run"] is None  # no beat ran in this test

    @pytest.mark.django_db
    def test_readyz_reports_when_beat_last_ran(self, client):
        from digis.tasks import beat_heartbeat

        beat_heartbeat.apply()
        assert client.get("/readyz").json()["beat_last_run"] is not None

    @pytest.mark.django_db
    def test_readyz_503_names_dead_redis(self, client, settings):
        """Point cache, channel layer and broker at a port where no Redis listens."""
        if not settings.REDIS_URL:
            pytest.skip("needs REDIS_URL: run `make test`")
        from channels.layers import channel_layers

        from digis.celery import app

        dead = "redis://127.0.0.1:1/0"
        settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": dead}}
        settings.CHANNEL_LAYERS = {"default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": {**settings.CHANNEL_LAYERS["default"]["CONFIG"], "hosts": [dead]}}}
        old_broker = app.conf.broker_url
        app.conf.broker_url = dead
        channel_layers.backends.clear()
        try:
            response = client.get("/readyz")
        finally:
            app.conf.broker_url = old_broker
            channel_layers.backends.clear()
        body = response.json()
        assert response.status_code == 503
        assert body["failed"] == ["broker", "cache", "channel_layer"]
        assert body["checks"]["database"]["ok"] is True

handler500 = "digis.views.handler500"


def test_api_root_lists_every_link_and_each_resolves(client):
    from django.urls import resolve

    links = client.get("/api/", HTTP_ACCEPT="application/json").json()
    assert {"schema", "docs", "creators", "wallet", "calls", "purchases"} <= set(links)
    for url in links.values():
        resolve(url.removeprefix("http://testserver"))  # raises Resolver404 if a link is dead


def test_uploaded_media_is_served_in_development(client, settings, tmp_path):
    (tmp_path / "avatars").mkdir()
    (tmp_path / "avatars" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    settings.MEDIA_ROOT = tmp_path
    response = client.get("/media/avatars/a.png")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


# --- CSP: the site-wide policy is built once, and headers are django-csp's ---


@pytest.mark.parametrize(
    "view_policy",
    [
        None,
        ("_csp_update", {"img-src": ["https://cdn.example"]}),
        ("_csp_replace", {"script-src": ["'self'", "https://js.example"]}),
        ("_csp_config_ro", {"default-src": ["'self'"]}),
        ("_csp_exempt", True),
    ],
)
@pytest.mark.parametrize("nonce", [False, True])
@pytest.mark.parametrize("path", ["/explore/", "/admin-ish/"])
def test_csp_headers_are_django_csps(settings, view_policy, nonce, path):
    from csp.middleware import CSPMiddleware as DjangoCSP
    from django.http import HttpResponse
    from django.test import RequestFactory

    from digis.middleware import CSPMiddleware

    settings.CONTENT_SECURITY_POLICY = {
        **settings.CONTENT_SECURITY_POLICY,
        "EXCLUDE_URL_PREFIXES": ["/admin-ish/"],
    }
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'self'"], "report-uri": "/csp/"}}

    def answer(middleware_class):
        request = RequestFactory().get(path)

        def view(request):
            if nonce:
                str(request.csp_nonce)
            response = HttpResponse("ok")
            if view_policy is not None:
                setattr(response, *view_policy)
            return response

        middleware = middleware_class(view)
        response = middleware(request)
        return request, {name: value.replace(request.__dict__.get("_csp_nonce") or "-", "NONCE") for name, value in response.items()}

    ours_request, ours = answer(CSPMiddleware)
    theirs_request, theirs = answer(DjangoCSP)
    assert ours == theirs
    # and the nonce may not be read after the header is written, as with django-csp
    if not nonce:
        with pytest.raises(Exception):
            str(ours_request.csp_nonce)


@pytest.mark.django_db
def test_a_csp_settings_change_rebuilds_the_site_policy(client, settings):
    before = client.get("/healthz")["Content-Security-Policy"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    after = client.get("/healthz")["Content-Security-Policy"]
    assert "form-action" in before and after == "default-src 'none'"
