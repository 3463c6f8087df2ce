from django.urls import path

from calls import agora_events, api

urlpatterns = [
    path("calls/", api.CallListView.as_view(), name="calls-api-list"),
    path("calls/agora/events/", agora_events.agora_channel_events, name="calls-agora-events"),
    path("calls/<uuid:id>/", api.CallDetailView.as_view(), name="calls-api-detail"),
    path("calls/<uuid:id>/accept/", api.CallActionView.as_view(action="accept"), name="calls-api-accept"),
    path("calls/<uuid:id>/decline/", api.CallActionView.as_view(action="decline"), name="calls-api-decline"),
    path("calls/<uuid:id>/cancel/", api.CallActionView.as_view(action="cancel"), name="calls-api-cancel"),
    path("calls/<uuid:id>/end/", api.CallActionView.as_view(action="end"), name="calls-api-end"),
    path("calls/<uuid:id>/token/", api.CallTokenView.as_view(), name="calls-api-token"),
]
