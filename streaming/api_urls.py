from django.urls import path

from streaming import api

urlpatterns = [
    path("streams/", api.StreamListView.as_view(), name="streams-api-list"),
    path("streams/moderators/", api.ModeratorListView.as_view(), name="streams-api-moderators"),
    path("streams/moderators/<uuid:user_id>/", api.ModeratorDetailView.as_view(), name="streams-api-moderator"),
    path("streams/<uuid:id>/", api.StreamDetailView.as_view(), name="streams-api-detail"),
    path("streams/<uuid:id>/end/", api.StreamEndView.as_view(), name="streams-api-end"),
    path("streams/<uuid:id>/join/", api.StreamJoinView.as_view(), name="streams-api-join"),
    path("streams/<uuid:id>/tips/", api.StreamTipsView.as_view(), name="streams-api-tips"),
    path("streams/<uuid:id>/goal/", api.StreamGoalView.as_view(), name="streams-api-goal"),
    path("streams/<uuid:id>/chat/", api.StreamChatView.as_view(), name="streams-api-chat"),
    path("streams/<uuid:id>/chat/settings/", api.ChatSettingsView.as_view(), name="streams-api-chat-settings"),
    path("streams/<uuid:id>/chat/<int:message_id>/", api.ChatMessageView.as_view(), name="streams-api-chat-message"),
    path("streams/<uuid:id>/restrictions/", api.RestrictionListView.as_view(), name="streams-api-restrictions"),
    path("streams/<uuid:id>/timeouts/", api.TimeoutView.as_view(), name="streams-api-timeouts"),
    path("streams/<uuid:id>/timeouts/<uuid:user_id>/", api.TimeoutDetailView.as_view(), name="streams-api-timeout"),
    path("streams/<uuid:id>/bans/", api.BanView.as_view(), name="streams-api-bans"),
    path("streams/<uuid:id>/bans/<uuid:user_id>/", api.BanDetailView.as_view(), name="streams-api-ban"),
]
