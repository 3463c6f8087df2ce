from django.urls import path

from streaming import views

app_name = "streaming"
urlpatterns = [
    path("live/", views.live_index, name="index"),
    path("live/start/", views.start, name="start"),
    path("live/streams/<uuid:stream_id>/summary/", views.summary, name="summary"),
    path("live/<str:username>/", views.room, name="room"),
    path("live/<str:username>/end/", views.end, name="end"),
    path("live/<str:username>/ticket/", views.buy_ticket, name="ticket"),
    path("live/<str:username>/tip/", views.tip, name="tip"),
    path("live/<str:username>/chat/", views.chat, name="chat"),
]
