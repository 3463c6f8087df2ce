import importlib.util

from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"

    def ready(self):
        # Socket events register with the realtime dispatcher on import.
        from calls import consumers  # noqa: F401

        if importlib.util.find_spec("calls.signalling") is not None:  # the media engineer's call.signal relay
            importlib.import_module("calls.signalling")
