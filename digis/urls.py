import re

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from digis import health, views

# Each app owns two URL modules: `urls` (server-rendered pages) and
# `api_urls` (DRF endpoints under /api/).
APPS = ["accounts", "creators", "ledger", "payments", "calls", "streaming", "messaging", "notifications", "payouts", "moderation", "analytics"]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", views.ApiRootView.as_view(), name="api-root"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/auth/browsable/", include("rest_framework.urls")),
]
urlpatterns += [path("api/", include(f"{app}.api_urls")) for app in APPS]
urlpatterns += [path("", include(f"{app}.urls")) for app in APPS]
# Uploaded avatars and covers. On the embedded default Django serves them; in
# production the storage backend (S3, or the proxy in front of MEDIA_ROOT)
# does, and SERVE_MEDIA is off.
if settings.SERVE_MEDIA:
    urlpatterns += [re_path(r"^%s(?P<path>.*)$" % re.escape(settings.MEDIA_URL.lstrip("/")), views.media, name="media")]

handler400 = "digis.views.handler400"
handler403 = "digis.views.handler403"
handler404 = "digis.views.handler404"
handler500 = "digis.views.handler500"
