import importlib.util

from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"

    def ready(self):
        # Socket events register with the realtime dispatcher on import.
        from calls import consumers  # noqa: F401

        # The wallet's history names calls in people's words.
        from calls.selectors import wallet_lines
        from ledger.selectors import register_describer

        register_describer("call", wallet_lines)

        if importlib.util.find_spec("calls.signalling") is not None:  # the media engineer's call.signal relay
            importlib.import_module("calls.signalling")
