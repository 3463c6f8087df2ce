"""Agora's channel-event webhooks (Notification Center Service), when Agora is configured.

Agora tells us, signed, when a user joins or leaves a call's channel. That is
presence "as the server sees it" from a second witness beside the browser's
own heartbeats: a frozen tab that still sends `call.heartbeat` but left the
channel stops counting once Agora says so. Each event is fed to the same
services as the socket's `call.join` / `call.leave`.

Signature: header `Agora-Signature-V2` = hex HMAC-SHA256 of the raw body with
the NCS secret (AGORA_NCS_SECRET). Unsigned or wrongly signed: 400, nothing
changes. Events for unknown calls or users, or calls no longer live, are
acknowledged (200) so Agora stops retrying; a stale event (older than one
already applied for that user in that call) is ignored, because NCS does not
guarantee order.
"""

import hashlib
import hmac
import json
import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls import services
from calls.media import agora_uid
from calls.models import CallSession
from digis.api import api_error_response
from digis.errors import DomainError

logger = logging.getLogger(__name__)

# NCS RTC event types: broadcaster/audience join and leave the channel.
JOIN_EVENTS = {103, 105}
LEAVE_EVENTS = {104, 106}
ORDER_TTL_S = 6 * 3600


def _signature_ok(body: bytes, header: str) -> bool:
    secret = settings.AGORA_NCS_SECRET
    if not secret or not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.strip().lower())


def _party(call: CallSession, uid: int):
    for user in (call.fan, call.creator):
        if agora_uid(user.pk) == uid:
            return user
    return None


def _is_stale(call_id, uid: int, event_ms: int) -> bool:
    """True when a newer event for this user in this call was already applied."""
    key = f"calls:agora:last:{call_id}:{uid}"
    last = cache.get(key)
    if last is not None and event_ms < last:
        return True
    cache.set(key, event_ms, ORDER_TTL_S)
    return False


def handle_event(event: dict) -> str:
    """Apply one verified NCS event; returns the outcome (for the response and logs)."""
    event_type = event.get("eventType")
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
    if event_type not in JOIN_EVENTS | LEAVE_EVENTS:
        return "ignored_type"
    try:
        call_id = uuid.UUID(str(payload.get("channelName")))
        uid = int(payload.get("uid"))
        event_ms = int(payload.get("ts", 0)) * 1000 if payload.get("ts") else int(event.get("notifyMs", 0))
    except (TypeError, ValueError):
        return "ignored_malformed"
    call = CallSession.objects.select_related("fan", "creator").filter(pk=call_id).first()
    user = _party(call, uid) if call else None
    if user is None:
        return "ignored_unknown"
    if _is_stale(call_id, uid, event_ms):
        return "ignored_stale"
    try:
        if event_type in JOIN_EVENTS:
            services.join_call(call_id=call_id, user=user)
        else:
            services.leave_call(call_id=call_id, user=user)
    except DomainError as exc:  # e.g. call already ended: nothing to do, stop retries
        return f"ignored_{exc.code}"
    return "joined" if event_type in JOIN_EVENTS else "left"


@csrf_exempt
@require_POST
def agora_channel_events(request):
    """POST /api/calls/agora/events/: Agora NCS channel events (signed)."""
    if not settings.AGORA_NCS_SECRET:
        return api_error_response(code="webhook_not_configured", message="Agora events are not configured.", status_code=404)
    if not _signature_ok(request.body, request.headers.get("Agora-Signature-V2", "")):
        logger.warning("agora event with a bad signature refused")
        return api_error_response(code="invalid_signature", message="The signature is missing or wrong.", status_code=400)
    try:
        event = json.loads(request.body)
    except ValueError:
        return api_error_response(code="malformed_event", message="The body is not JSON.", status_code=400)
    if not isinstance(event, dict):
        return api_error_response(code="malformed_event", message="The body is not an Agora event.", status_code=400)
    outcome = handle_event(event)
    logger.info("agora event", extra={"event_type": event.get("eventType"), "notice_id": event.get("noticeId"), "outcome": outcome})
    return JsonResponse({"outcome": outcome})
