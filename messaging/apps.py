from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self):
        from accounts import hooks
        from ledger.checks import register as register_check
        from messaging import checks, consumers, selectors, services  # noqa: F401  (socket events register on import)
        from moderation.services import register_target

        hooks.user_blocked.register(services.on_user_blocked)
        hooks.user_banned.register(services.on_user_banned)
        register_target("message", selectors.resolve_reported_message)
        register_check("messages held match the escrow", checks.held_messages_match_escrow)
