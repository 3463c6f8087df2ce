"""Ledger domain errors. Codes are stable: clients and other apps switch on them."""

from digis.errors import Conflict, DomainError, InvalidInput, PaymentRequired


class LedgerError(DomainError):
    code = "ledger_error"
    status_code = 400


class InsufficientFunds(PaymentRequired):
    """The wallet holds less than the amount; `.shortfall` says how many tokens are missing."""

    code = "insufficient_funds"
    status_code = 402
    default_message = "Not enough tokens."

    def __init__(self, message: str | None = None, *, shortfall: int, balance: int | None = None, **extra):
        self.shortfall = int(shortfall)
        self.balance = balance
        super().__init__(message, shortfall=self.shortfall, **extra)


class WalletFrozen(DomainError):
    """Spending is blocked while the user owes tokens (a refund or chargeback left a debt)."""

    code = "wallet_frozen"
    status_code = 403
    default_message = "This wallet is frozen until an outstanding balance is settled."

    def __init__(self, message: str | None = None, *, debt: int = 0, **extra):
        self.debt = int(debt)
        super().__init__(message, debt=self.debt, **extra)


class IdempotencyConflict(Conflict):
    """The idempotency key was already used for a different request."""

    code = "idempotency_conflict"
    status_code = 409
    default_message = "This idempotency key was already used with different arguments."


class InvalidAmount(InvalidInput):
    code = "invalid_amount"
    status_code = 400
    default_message = "The amount must be a positive whole number of tokens."


class InvalidTransfer(InvalidInput):
    code = "invalid_transfer"
    status_code = 400
    default_message = "This transfer is not allowed."


class UnbalancedTransaction(LedgerError):
    """A programming error: a transaction's entries must sum to zero."""

    code = "unbalanced_transaction"
    status_code = 500
    default_message = "The entries of a ledger transaction must sum to zero."


class AlreadyReversed(Conflict):
    code = "already_reversed"
    status_code = 409
    default_message = "This transaction has already been reversed."


class NotReversible(Conflict):
    code = "not_reversible"
    status_code = 409
    default_message = "This transaction cannot be reversed."


class RefundExceedsCharge(Conflict):
    code = "refund_exceeds_charge"
    status_code = 409
    default_message = "The refund is larger than what is left of the charge."

    def __init__(self, message: str | None = None, *, refundable: int, **extra):
        self.refundable = int(refundable)
        super().__init__(message, refundable=self.refundable, **extra)


class ExceedsPayable(Conflict):
    """A payout asked for more than the part of the wallet that may be paid out now."""

    code = "exceeds_payable"
    status_code = 409
    default_message = "That is more than you can be paid out right now."

    def __init__(self, message: str | None = None, *, payable: int, **extra):
        self.payable = int(payable)
        super().__init__(message, payable=self.payable, **extra)


class PayoutClosed(Conflict):
    """A payout's tokens were already paid out or returned (never both)."""

    code = "payout_closed"
    status_code = 409
    default_message = "This payout was already paid or returned."


class AlreadySettled(Conflict):
    """A paid message's hold was already released or refunded (each is settled once)."""

    code = "hold_already_settled"
    status_code = 409
    default_message = "This held payment has already been settled."
