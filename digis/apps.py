from django.apps import AppConfig


class DigisConfig(AppConfig):
    name = "digis"
    verbose_name = "Digis platform"

    def ready(self):
        # Built-in socket events (ping/presence) register with the dispatcher.
        from digis import schema  # noqa: F401  (registers the OpenAPI auth extension)
        from digis.realtime import handlers  # noqa: F401
