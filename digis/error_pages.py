"""Friendly "page not found" answers with DEBUG on (the embedded default, `make run`).

With DEBUG, Django answers every 404 with its technical page (the URL patterns
it tried, the settings module) instead of calling ``handler404``. A newcomer on
`make run` would meet that page at every dead end, so this middleware gives
404s the same answer as production: ``digis.views.handler404`` (the friendly
page, or the JSON error body under /api/). Django's technical page stays for
500s in DEBUG: a traceback is what a developer needs there.

Two ways a 404 arises, both covered:
- a view raises Http404: ``process_exception`` answers before Django's
  technical 404 is built;
- no URL pattern matches: Django builds the technical page inside the
  handler before any view runs (``request.resolver_match`` stays None), so
  the response is replaced on its way out. A view's own 404 response (one it
  returned rather than raised) is left alone.
"""

from django.conf import settings
from django.http import Http404


class FriendlyNotFoundMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.DEBUG and response.status_code == 404 and getattr(request, "resolver_match", None) is None:
            from digis.views import handler404

            return handler404(request)
        return response

    def process_exception(self, request, exception):
        if settings.DEBUG and isinstance(exception, Http404):
            from digis.views import handler404

            return handler404(request, exception)
        return None
