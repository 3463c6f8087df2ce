from django.urls import path

from notifications import api

# Ids are <str:...> and parsed by the view (digis.params.parse_uuid): a
# malformed id is a 400 invalid_id, not a 404 from the URL resolver.
urlpatterns = [
    path("notifications/", api.NotificationListView.as_view(), name="notifications-api-list"),
    path("notifications/read-all/", api.MarkAllReadView.as_view(), name="notifications-api-read-all"),
    path("notifications/preferences/", api.PreferencesView.as_view(), name="notifications-api-preferences"),
    path("notifications/push/", api.PushStatusView.as_view(), name="notifications-api-push"),
    path("notifications/push/subscriptions/", api.PushSubscriptionListView.as_view(), name="notifications-api-push-subscribe"),
    path("notifications/push/unsubscribe/", api.PushUnsubscribeView.as_view(), name="notifications-api-push-unsubscribe"),
    path(
        "notifications/push/subscriptions/<str:id>/",
        api.PushSubscriptionDetailView.as_view(),
        name="notifications-api-push-subscription",
    ),
    path("notifications/<str:id>/read/", api.MarkReadView.as_view(), name="notifications-api-read"),
]
