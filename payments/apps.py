from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self):
        from payments import gateway

        gateway.configure()

        # The wallet's history names purchases ("Card purchase", the package).
        from ledger.selectors import register_describer
        from payments.selectors import wallet_lines

        register_describer("purchase", wallet_lines)
