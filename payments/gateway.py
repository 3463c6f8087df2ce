"""The one module that talks to Stripe's API (or localstripe, in the embedded
default and the tests). Nothing here touches the database."""

import logging

import stripe
from django.conf import settings

from payments.exceptions import CardDeclined, PaymentProviderError

logger = logging.getLogger(__name__)


def configure() -> None:
    """Point the stripe client at STRIPE_API_HOST (localstripe) when it is set."""
    stripe.api_key = settings.STRIPE_SECRET_KEY
    if getattr(settings, "STRIPE_API_HOST", ""):
        stripe.api_base = getattr(settings, "STRIPE_API_HOST", "").rstrip("/")
    # Retries are safe: every write below carries an idempotency key.
    stripe.max_network_retries = settings.STRIPE_MAX_NETWORK_RETRIES
    # stripe-python logs every request at INFO; keep the JSON log for what matters.
    logging.getLogger("stripe").setLevel(logging.WARNING)


def create_payment_intent(*, amount_cents: int, currency: str, metadata: dict, idempotency_key: str):
    """Create a card PaymentIntent. The same key returns the same intent."""
    try:
        return stripe.PaymentIntent.create(
            amount=amount_cents,
            currency=currency,
            metadata=metadata,
            payment_method_types=["card"],
            idempotency_key=idempotency_key,
        )
    except stripe.StripeError as exc:
        logger.warning("stripe: creating a PaymentIntent failed", extra={"error": str(exc)})
        raise PaymentProviderError() from exc


def confirm_payment_intent(*, payment_intent_id: str, token: str = "", payment_method: str = ""):
    """Attach a card (a Stripe.js token or a payment method id) and confirm.

    Used by the localstripe stand-in of Stripe.js, which can tokenize a card but
    not confirm a PaymentIntent itself; with real Stripe the Payment Element
    confirms in the browser. Returns the PaymentIntent."""
    try:
        if token:
            payment_method = stripe.Token.retrieve(token).card.id
        stripe.PaymentIntent.modify(payment_intent_id, payment_method=payment_method)
        return stripe.PaymentIntent.confirm(payment_intent_id)
    except stripe.CardError as exc:
        # Stripe's own words for the person ("Your card has insufficient funds."),
        # and its codes for clients that want to switch on them.
        error = (exc.json_body or {}).get("error") or {}
        raise CardDeclined(
            exc.user_message or "The card was declined.",
            decline_code=error.get("decline_code") or "", stripe_code=exc.code or "",
        ) from exc
    except stripe.InvalidRequestError as exc:
        raise CardDeclined("The card details were not accepted.", code="card_invalid") from exc
    except stripe.StripeError as exc:
        logger.warning("stripe: confirming a PaymentIntent failed", extra={"error": str(exc)})
        raise PaymentProviderError() from exc


def cancel_payment_intent(*, payment_intent_id: str) -> str:
    """Cancel an unpaid PaymentIntent so it can never be paid. Returns the
    intent's status afterwards: "canceled", or what it is if it could not be
    cancelled because it was paid (or is being paid) meanwhile."""
    try:
        return stripe.PaymentIntent.cancel(payment_intent_id, idempotency_key=f"digis-cancel-{payment_intent_id}").status
    except stripe.InvalidRequestError:
        # Not cancellable (succeeded, processing or already canceled): say which.
        try:
            return stripe.PaymentIntent.retrieve(payment_intent_id).status
        except stripe.StripeError as exc:
            raise PaymentProviderError() from exc
    except stripe.StripeError as exc:
        logger.warning("stripe: cancelling a PaymentIntent failed", extra={"error": str(exc)})
        raise PaymentProviderError() from exc


def retrieve_event(event_id: str) -> dict:
    """Fetch an event from Stripe (for replaying one we never stored)."""
    return stripe.Event.retrieve(event_id).to_dict()
