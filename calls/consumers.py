"""Client socket events for calls: call.join, call.heartbeat, call.leave (each with call_id).

Each handler parses the event, calls one service and replies with the call's
state (``call.state``). Errors go back as ``error`` events with the service's
code (call_not_found for non-parties, call_not_live for ended calls).
"""

from calls import services
from digis.errors import InvalidInput
from digis.realtime.registry import on


def _call_id(payload):
    from digis.params import parse_uuid

    raw = payload.get("call_id")
    if not isinstance(raw, str):
        raise InvalidInput("call_id must be a call's id.", fields={"call_id": ["Must be a UUID."]}, code="invalid_id")
    return parse_uuid(raw, name="call_id", required=True)


def _state(call) -> dict:
    from calls.api import call_summary

    return {"type": "call.state", "call": call_summary(call)}


@on("call.join")
def join(*, user, payload, consumer):
    return _state(services.join_call(call_id=_call_id(payload), user=user))


@on("call.heartbeat")
def heartbeat(*, user, payload, consumer):
    return _state(services.heartbeat_call(call_id=_call_id(payload), user=user))


@on("call.leave")
def leave(*, user, payload, consumer):
    return _state(services.leave_call(call_id=_call_id(payload), user=user))
