from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self):
        # Socket events register with the realtime dispatcher on import.
        from notifications import consumers  # noqa: F401
        # accounts (a core app) calls its hook lists; we listen to bans here.
        from notifications import hooks

        hooks.register()
