from django.urls import path

from messaging import api, converters  # noqa: F401  (registers <message_id:>)


urlpatterns = [
    path("conversations/", api.ConversationListView.as_view(), name="messaging-conversations"),
    path("conversations/unread/", api.UnreadView.as_view(), name="messaging-unread"),
    path("conversations/<uuid:conversation_id>/", api.ConversationDetailView.as_view(), name="messaging-conversation"),
    path("conversations/<uuid:conversation_id>/messages/", api.ConversationMessagesView.as_view(), name="messaging-messages"),
    path("conversations/<uuid:conversation_id>/read/", api.ConversationReadView.as_view(), name="messaging-read"),
    path("messages/<message_id:message_id>/", api.MessageDetailView.as_view(), name="messaging-message"),
    path("messages/<message_id:message_id>/report/", api.MessageReportView.as_view(), name="messaging-report"),
    path("broadcasts/", api.BroadcastListView.as_view(), name="messaging-broadcasts"),
    path("broadcasts/<uuid:broadcast_id>/", api.BroadcastDetailView.as_view(), name="messaging-broadcast"),
    path("messaging/settings/", api.MessagingSettingsView.as_view(), name="messaging-settings"),
]
