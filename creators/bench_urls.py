"""URLconf for bench/explore.py only (CREATORS_BENCH_URLS=1): the site plus a
minimal view that runs through the same middleware, as the throughput baseline."""

from django.http import HttpResponse
from django.urls import include, path


def minimal(request):
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("bench/minimal/", minimal),
    path("", include("digis.urls")),
]
handler400 = "digis.views.handler400"
handler403 = "digis.views.handler403"
handler404 = "digis.views.handler404"
handler500 = "digis.views.handler500"
