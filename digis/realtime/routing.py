from django.urls import path

from digis.realtime.auth import SocketAuthStack
from digis.realtime.consumers import EventConsumer
from digis.realtime.origin import SameOriginValidator

websocket_urlpatterns = [path("ws/", EventConsumer.as_asgi())]


def socket_stack(inner):
    """What every socket passes before ``inner`` (the URL router): foreign origins are refused
    before any auth runs (a page elsewhere must not ride a fan's session cookie into our socket,
    digis/realtime/origin.py), then the session cookie or a bearer token names the user."""
    return SameOriginValidator(SocketAuthStack(inner))
