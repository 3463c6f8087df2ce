"""Payout errors. Codes are stable: the earnings page and apps switch on them."""

from digis.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class NotACreator(NotFound):
    """Payouts are a creator's; anyone else sees nothing here (404, not 403)."""

    code = "not_a_creator"
    default_message = "Payouts are for creators."


class PayoutNotFound(NotFound):
    code = "payout_not_found"
    default_message = "No such payout."


class PayoutAccountMissing(Conflict):
    code = "payout_account_missing"
    default_message = "Set up where your payouts go first."


class PayoutAccountNotReady(Conflict):
    code = "payout_account_not_ready"
    default_message = "Your payout account is not ready to receive payouts yet."


class PayoutMethodUnavailable(InvalidInput):
    code = "payout_method_unavailable"
    default_message = "That payout method is not offered here."


class BelowMinimum(Conflict):
    code = "below_minimum"
    default_message = "A payout must be at least the minimum."

    def __init__(self, message: str | None = None, *, minimum: int, payable: int, **extra):
        super().__init__(message, minimum=int(minimum), payable=int(payable), **extra)


class PayoutInProgress(Conflict):
    code = "payout_in_progress"
    default_message = "You already have a payout in progress; wait until it is sent."


class PayoutsSuspended(Forbidden):
    """A banned or suspended creator, or one who owes tokens: payouts stop."""

    code = "payouts_suspended"
    default_message = "Payouts are stopped on this account."


class InvalidBankDetails(InvalidInput):
    code = "invalid_bank_details"
    default_message = "Those bank details are not valid."


class PayoutNotReviewable(Conflict):
    code = "payout_not_reviewable"
    default_message = "This payout is not waiting for a decision."


class PayoutWrongState(Conflict):
    code = "payout_wrong_state"
    default_message = "This payout cannot do that in its current state."


class PaymentProviderUnavailable(DomainError):
    code = "payment_provider_unavailable"
    status_code = 502
    default_message = "Stripe did not answer. Nothing was changed; try again."


class OnboardingUnavailable(Conflict):
    code = "onboarding_unavailable"
    default_message = "Stripe could not start the onboarding. Try again in a moment."
