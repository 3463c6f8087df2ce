from django.urls import path

from messaging import converters, views  # noqa: F401  (converters registers <message_id:>)

app_name = "messaging"
urlpatterns = [
    path("messages/", views.inbox, name="inbox"),
    path("messages/settings/", views.messaging_settings, name="settings"),
    path("messages/broadcasts/", views.broadcasts, name="broadcasts"),
    path("messages/to/<str:username>/", views.start, name="start"),
    path("messages/image/<message_id:message_id>/", views.image, name="image"),
    path("messages/<uuid:conversation_id>/", views.thread, name="thread"),
    path("messages/<uuid:conversation_id>/send/", views.send, name="send"),
    path("messages/<uuid:conversation_id>/delete/<message_id:message_id>/", views.delete, name="delete"),
    path("messages/<uuid:conversation_id>/report/<message_id:message_id>/", views.report, name="report"),
]
