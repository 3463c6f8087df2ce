from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "payouts"

    def ready(self):
        # Explicit hooks, no signals: payments routes Stripe Connect's events
        # here and ledger_check runs our reconciliation with its own; neither
        # imports payouts.
        from ledger.checks import register as register_check
        from payments.services import register_event_handler
        from payouts import checks, services

        for event_type, handler in services.EVENT_HANDLERS.items():
            register_event_handler(event_type, handler)
        register_check("payouts match the ledger", checks.payouts_match_ledger)
