"""Payment errors. Codes are stable: clients switch on them."""

from digis.errors import DomainError, NotFound


class PackageNotAvailable(DomainError):
    code = "package_not_available"
    status_code = 400
    default_message = "That token package is not on sale."


class PurchaseNotFound(NotFound):
    code = "purchase_not_found"
    default_message = "No such purchase."


class PurchaseNotPayable(DomainError):
    code = "purchase_not_payable"
    status_code = 409
    default_message = "This purchase can no longer be paid."


class PurchaseRateLimited(DomainError):
    code = "rate_limited"
    status_code = 429
    default_message = "Too many purchase attempts. Try again later."


class AccountCannotPurchase(DomainError):
    code = "account_cannot_purchase"
    status_code = 403
    default_message = "This account cannot buy tokens."


class CardDeclined(DomainError):
    code = "card_declined"
    status_code = 402
    default_message = "The card was declined."


class PaymentProviderError(DomainError):
    code = "payment_provider_unavailable"
    status_code = 502
    default_message = "The payment provider did not answer. Nothing was charged; try again."


class InvalidWebhook(DomainError):
    code = "invalid_signature"
    status_code = 400
    default_message = "The webhook signature is missing, invalid or too old."


class EventNotReady(DomainError):
    """An event refers to something we have not seen yet (events out of order).
    Failing makes Stripe deliver it again later, when the earlier event has
    been handled."""

    code = "event_not_ready"
    status_code = 409
    default_message = "This event depends on one that has not been processed yet."


class UnknownPurchase(DomainError):
    code = "unknown_purchase"
    status_code = 409
    default_message = "The event names a purchase we do not know."
