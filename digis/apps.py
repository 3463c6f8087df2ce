from django.apps import AppConfig


class DigisConfig(AppConfig):
    name = "digis"
    verbose_name = "Digis platform"

    def ready(self):
        # Built-in socket events (ping/presence) register with the dispatcher.
        from digis.realtime import handlers  # noqa: F401
