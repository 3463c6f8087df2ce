"""ASGI entry point for daphne: HTTP and the /ws/ socket."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digis.settings")

from digis.asgi_handler import get_asgi_application  # noqa: E402

# Django's handler, but running each request's middleware and view in one hop
# to a reused request thread (digis/asgi_handler.py). Sets up Django before the
# imports below.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from digis.realtime.routing import socket_stack, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Foreign origins (another site, another scheme or port) are refused
        # before any auth runs: a page elsewhere must not ride a fan's session
        # cookie into our socket (digis/realtime/origin.py).
        "websocket": socket_stack(URLRouter(websocket_urlpatterns)),
    }
)

if settings.EMBEDDED_JOBS and os.environ.get("DIGIS_EMBEDDED_BEAT") == "1":
    from digis.embedded import start_embedded_beat

    start_embedded_beat()

# The URLconf, and with it every view module and serializer it names, is
# otherwise imported by the first HTTP request: on a web process that had so far
# served only sockets, the first tip of a live room waited ~0.5 s for it
# (bench/realtime_live.py --end-to-end). Load it, and its reverse index, now.
from django.urls import get_resolver  # noqa: E402

get_resolver().reverse_dict  # noqa: B018 (loads the patterns)

# Everything loaded so far lives as long as the process. Freezing it keeps the
# cyclic collector's full passes from walking Django's whole import graph in the
# middle of requests: in bench/payments.py such passes stalled whole rounds of
# webhook deliveries by ~90 ms.
import gc  # noqa: E402

gc.collect()
gc.freeze()
