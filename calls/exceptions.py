"""Call errors. Codes are stable: the call page and apps switch on them."""

from digis.errors import Conflict, Forbidden, InvalidInput, NotFound, PaymentRequired


class CreatorNotFound(NotFound):
    code = "creator_not_found"
    default_message = "No such creator."


class CannotCallSelf(InvalidInput):
    code = "cannot_call_self"
    default_message = "You cannot call yourself."


class InvalidCallKind(InvalidInput):
    code = "invalid_call_kind"
    default_message = 'kind must be "video" or "voice".'


class CallBlocked(Forbidden):
    code = "blocked"
    default_message = "You cannot call this creator."


class CreatorUnavailable(Conflict):
    """409 with a code per reason: creator_offline, creator_busy, creator_dnd."""

    code = "creator_unavailable"
    default_message = "This creator cannot take a call right now."


class AlreadyInCall(Conflict):
    code = "already_in_call"
    default_message = "You are already in a call. Hang up first."


class CannotAffordCall(PaymentRequired):
    code = "insufficient_funds"
    status_code = 402
    default_message = "You need more tokens for this call's minimum length."


class WrongParty(Forbidden):
    """The other party does this (e.g. only the creator accepts): 403 with a specific code."""

    code = "wrong_party"


class InvalidCallState(Conflict):
    """The call is not in a state that allows this (e.g. accepting an ended call)."""

    code = "invalid_call_state"
    default_message = "The call is not in a state that allows this."
