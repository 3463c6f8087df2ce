"""Site-wide pages and error handlers."""

from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.urls import reverse
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from digis.api import api_error_response
from digis.request_context import current_request_id


def home(request):
    from creators import selectors

    # Online creators first, then the most followed (cached cards; blocks hidden).
    creators = selectors.featured(viewer=request.user, limit=12)
    return render(request, "home.html", {"creators": creators})


def media(request, path):
    """Uploaded files, on the embedded default only (settings.SERVE_MEDIA)."""
    from django.conf import settings
    from django.views.static import serve

    return serve(request, path, document_root=settings.MEDIA_ROOT)


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def handler404(request, exception=None):
    if _wants_json(request):
        return api_error_response(code="not_found", message="Not found.", status_code=404)
    return render(request, "404.html", status=404)


def handler500(request):
    if _wants_json(request):
        return api_error_response(code="server_error", message="Something went wrong on our side.", status_code=500)
    # No request context: whatever broke (the database, the session) must not
    # break the page that says so. 500.html stands alone.
    return HttpResponseServerError(loader.get_template("500.html").render({"request_id": current_request_id()}))


def handler403(request, exception=None):
    if _wants_json(request):
        return api_error_response(code="forbidden", message="You may not do that.", status_code=403)
    return render(request, "403.html", status=403)


def handler400(request, exception=None):
    if _wants_json(request):
        return api_error_response(code="bad_request", message="Bad request.", status_code=400)
    return render(request, "400.html", status=400)


class ApiRootView(APIView):
    """The API's front door: where each part of Digis lives. Errors everywhere share one body:
    `{"error": {"code", "message", "fields", "request_id"}}`."""

    permission_classes = [AllowAny]
    schema = None

    SECTIONS = {
        "schema": "api-schema",
        "docs": "api-docs",
    }
    LINKS = {
        "auth": "/api/auth/token/",
        "me": "/api/me/",
        "categories": "/api/categories/",
        "creators": "/api/creators/",
        "wallet": "/api/wallet/",
        "wallet_transactions": "/api/wallet/transactions/",
        "token_packages": "/api/payments/packages/",
        "purchases": "/api/payments/purchases/",
        "calls": "/api/calls/",
    }

    def get(self, request):
        links = {name: request.build_absolute_uri(reverse(url_name)) for name, url_name in self.SECTIONS.items()}
        links.update({name: request.build_absolute_uri(path) for name, path in self.LINKS.items()})
        return Response(links)
