from django.urls import path

from notifications import views

app_name = "notifications"
urlpatterns = [
    path("notifications/", views.notification_list, name="list"),
    path("notifications/read-all/", views.mark_all_read, name="read-all"),
    path("notifications/<uuid:id>/read/", views.mark_read, name="read"),
    path("notifications/<uuid:id>/open/", views.open_notification, name="open"),
    path("settings/notifications/", views.notification_settings, name="settings"),
    path("settings/notifications/push/<uuid:id>/remove/", views.remove_push_subscription, name="push-remove"),
    # The installable app: served from the root (the worker's scope is its own path's folder).
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="service-worker"),
    path("offline/", views.offline, name="offline"),
]
