from django.urls import path

from digis.realtime.consumers import EventConsumer

websocket_urlpatterns = [path("ws/", EventConsumer.as_asgi())]
