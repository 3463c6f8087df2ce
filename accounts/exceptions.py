"""Accounts' domain errors. Codes are stable: clients switch on them."""

from digis.errors import Conflict, DomainError, Forbidden, InvalidInput


class RegistrationInvalid(InvalidInput):
    code = "invalid"


class InvalidCredentials(DomainError):
    # Same message whether or not the account exists.
    code = "invalid_credentials"
    status_code = 401
    default_message = "The username/e-mail or the password is wrong."


class OTPRequired(DomainError):
    code = "otp_required"
    status_code = 401
    default_message = "Enter the code from your authenticator app."


class TooManyAttempts(DomainError):
    code = "too_many_attempts"
    status_code = 429
    default_message = "Too many failed attempts. Try again later."


class AccountBanned(DomainError):
    code = "account_banned"
    status_code = 403
    default_message = "This account is banned."


class AccountInactive(DomainError):
    code = "account_inactive"
    status_code = 403
    default_message = "This account is no longer active."


class TokenInvalid(DomainError):
    code = "invalid_token"
    status_code = 401
    default_message = "The token is invalid or expired."


class TokenReused(DomainError):
    code = "refresh_token_reused"
    status_code = 401
    default_message = "This refresh token was already used; every session it belonged to is signed out."


class CannotBlockSelf(InvalidInput):
    code = "cannot_block_self"
    default_message = "You cannot block yourself."


class NotAllowed(Forbidden):
    code = "forbidden"


class AlreadyCreator(Conflict):
    code = "already_creator"


class RoleCannotBecomeCreator(Conflict):
    code = "role_cannot_become_creator"
    default_message = "Staff accounts cannot become creators."
