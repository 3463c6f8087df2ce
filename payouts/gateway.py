"""The one module that talks to Stripe Connect (or its local stand-in,
``payouts/localstripe_connect.py``). Nothing here touches the database.

Every write carries an idempotency key derived from the payout's id, so a
retry after a crash or a timeout gets the first result, never a second
transfer: the transfer ``payout-<id>``, the bank payout on the connected
account ``payout-<id>-bank``, a reversal ``payout-<id>-reversal``. Stripe keeps
keys for 24 hours; a payout recovered later first looks its transfer up by
``transfer_group`` (``find_transfer``) before creating one.

Errors come out as two kinds: ``StripeUnavailable`` (network, rate limit,
Stripe's 5xx, our configuration: try again later, nothing is decided) and
``StripeRefused`` (Stripe said no to this request, with its code and message:
a decision the payout acts on).
"""

import logging

import stripe

logger = logging.getLogger(__name__)


class StripeUnavailable(Exception):
    pass


class StripeRefused(Exception):
    def __init__(self, message: str, *, code: str = ""):
        super().__init__(message)
        self.code = code or "stripe_refused"
        self.message = message


def _call(what: str, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.AuthenticationError, stripe.IdempotencyError) as exc:
        # IdempotencyError: a request with this key is still in flight at
        # Stripe (a worker that took over a lease while the first still runs),
        # or a bug; either way nothing new was done and a later retry decides.
        logger.warning("stripe connect: %s did not go through", what, extra={"error": str(exc)})
        raise StripeUnavailable(str(exc)) from exc
    except stripe.APIError as exc:
        logger.warning("stripe connect: %s failed on Stripe's side", what, extra={"error": str(exc)})
        raise StripeUnavailable(str(exc)) from exc
    except stripe.StripeError as exc:
        message = getattr(exc, "user_message", None) or str(exc)
        logger.info("stripe connect: %s refused", what, extra={"error": message, "code": getattr(exc, "code", "")})
        raise StripeRefused(message, code=getattr(exc, "code", "") or "") from exc


def create_express_account(*, user_id, email: str, country: str):
    """An Express connected account that receives transfers, paid out to its
    bank only when we create a payout (manual schedule): each Digis payout is
    one transfer and one bank payout, matched to it by metadata."""
    return _call(
        "creating an account", stripe.Account.create,
        type="express", country=country, email=email or None, business_type="individual",
        capabilities={"transfers": {"requested": True}},
        settings={"payouts": {"schedule": {"interval": "manual"}}},
        metadata={"digis_user": str(user_id)},
        idempotency_key=f"digis-connect-account-{user_id}",
    )


def create_account_link(*, account_id: str, refresh_url: str, return_url: str):
    """A one-time onboarding link (expires in minutes: never store it)."""
    return _call(
        "creating an account link", stripe.AccountLink.create,
        account=account_id, refresh_url=refresh_url, return_url=return_url, type="account_onboarding",
    )


def retrieve_account(account_id: str) -> dict:
    return _call("reading an account", stripe.Account.retrieve, account_id).to_dict()


def transfer_group(payout_id) -> str:
    return f"payout-{payout_id}"


def find_transfer(*, payout_id):
    """The transfer of this payout, if one was made (recovery after a crash)."""
    found = _call("looking up a transfer", stripe.Transfer.list, transfer_group=transfer_group(payout_id), limit=3)
    return found.data[0] if found.data else None


def create_transfer(*, payout_id, creator_id, amount_cents: int, currency: str, destination: str):
    return _call(
        "creating a transfer", stripe.Transfer.create,
        amount=amount_cents, currency=currency, destination=destination, transfer_group=transfer_group(payout_id),
        description=f"Digis payout {payout_id}", metadata={"payout": str(payout_id), "creator": str(creator_id)},
        idempotency_key=f"payout-{payout_id}",
    )


def find_bank_payout(*, account_id: str, payout_id):
    found = _call("looking up a bank payout", stripe.Payout.list, stripe_account=account_id, limit=100)
    for payout in found.data:
        if (payout.get("metadata") or {}).get("payout") == str(payout_id):
            return payout
    return None


def create_bank_payout(*, account_id: str, payout_id, amount_cents: int, currency: str):
    """Pay the transferred money out of the connected account to its bank."""
    return _call(
        "creating a bank payout", stripe.Payout.create,
        amount=amount_cents, currency=currency, metadata={"payout": str(payout_id)},
        description=f"Digis payout {payout_id}", statement_descriptor="DIGIS PAYOUT",
        stripe_account=account_id, idempotency_key=f"payout-{payout_id}-bank",
    )


def retrieve_bank_payout(*, account_id: str, stripe_payout_id: str) -> dict:
    return _call("reading a bank payout", stripe.Payout.retrieve, stripe_payout_id, stripe_account=account_id).to_dict()


def reverse_transfer(*, transfer_id: str, payout_id):
    """Bring the money back from the connected account (a bank payout that
    failed returns the money to the account's Stripe balance, not to us)."""
    return _call(
        "reversing a transfer", stripe.Transfer.create_reversal,
        transfer_id, metadata={"payout": str(payout_id)}, idempotency_key=f"payout-{payout_id}-reversal",
    )
