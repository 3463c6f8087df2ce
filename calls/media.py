"""Media credentials for a call: Agora RTC tokens, or WebRTC ICE servers.

With ``AGORA_APP_ID`` and ``AGORA_APP_CERTIFICATE`` set, each party gets an
Agora token for the channel named after the call, with a stable numeric uid
and an expiry a little past what the fan's balance can pay for: a token that
outlives the money would let a client keep media flowing after billing ends.
The page renews it (``POST /api/calls/{id}/token/`` again) on the SDK's
"token-privilege-will-expire" event, so a fan who buys tokens mid-call keeps
talking.

Without Agora (the embedded default) the browsers connect peer to peer over
WebRTC, signalling through the /ws/ socket (``calls.signalling``); this module
then hands out the STUN/TURN servers, with short-lived TURN credentials in the
coturn "use-auth-secret" scheme when a TURN secret is configured.
"""

import base64
import hashlib
import hmac
import time

from django.conf import settings

from digis.errors import Conflict, NotFound

# Statuses in which a party may (re)join the media session. "requested" is
# excluded: the creator has not accepted, so nobody may publish yet.
MEDIA_STATUSES = frozenset({"accepted", "active", "paused"})


def agora_configured() -> bool:
    return bool(settings.AGORA_APP_ID and settings.AGORA_APP_CERTIFICATE)


# The Agora Web SDK is not in the repository (docs/calls-media.md): an operator
# who turns Agora on puts it here before collectstatic.
AGORA_SDK_STATIC_PATH = "vendor/agora/AgoraRTC_N.js"


def agora_sdk_url() -> str:
    """Where pages load the Agora Web SDK from; "" when Agora is off or the SDK is not installed.

    With the manifest storage of production, asking for a file that is not in
    the manifest raises ValueError: the call page answered 500 to both parties
    even with Agora off. Only ask when Agora is on, and treat a missing file
    as "not installed" (the page then says so).
    """
    if not agora_configured():
        return ""
    from django.contrib.staticfiles.storage import staticfiles_storage

    if settings.DEBUG:
        from django.contrib.staticfiles import finders

        return staticfiles_storage.url(AGORA_SDK_STATIC_PATH) if finders.find(AGORA_SDK_STATIC_PATH) else ""
    try:
        return staticfiles_storage.url(AGORA_SDK_STATIC_PATH)
    except ValueError:
        return ""


def agora_uid(user_id) -> int:
    """A stable 32-bit, non-zero uid for a user (Agora reserves 0 for "assign one").

    Derived from the user's UUID by hashing, so it is the same on every call
    and every process, reveals nothing about the UUID, and needs no table.
    """
    digest = hashlib.sha256(str(user_id).encode()).digest()
    return int.from_bytes(digest[:4], "big") or 1


def fan_covered_seconds(*, call) -> int:
    """Seconds of talk the fan can still pay for at this call's rate, at most.

    The fan's wallet pays ``balance // rate`` more whole minutes; once the
    call is active the current minute is already prepaid, so up to 60 more
    seconds are covered. An upper bound is what a token expiry needs.
    """
    from ledger.services import balance_of

    rate = int(call.rate)
    if rate <= 0:  # the database forbids it; never divide by zero anyway
        return 0
    balance = balance_of(user=call.fan)
    prepaid = 60 if call.status in ("active", "paused") else 0
    return (max(balance, 0) // rate) * 60 + prepaid


def _check_party_and_status(*, call, user) -> None:
    if user.pk not in (call.fan_id, call.creator_id):
        # The same answer as a call that does not exist: no probing.
        raise NotFound("No such call.", code="call_not_found")
    if call.status not in MEDIA_STATUSES:
        raise Conflict("This call is not connected.", code="call_not_live", status=call.status)


def agora_token(*, channel: str, uid: int, expires_at: int) -> str:
    from agora_token_builder.RtcTokenBuilder import Role_Publisher, RtcTokenBuilder

    return RtcTokenBuilder.buildTokenWithUid(
        settings.AGORA_APP_ID, settings.AGORA_APP_CERTIFICATE, channel, uid, Role_Publisher, expires_at
    )


def ice_servers(*, user, now: int | None = None) -> list[dict]:
    """RTCPeerConnection ``iceServers`` from the settings (default: none).

    With ``WEBRTC_TURN_SECRET`` the TURN credentials are ephemeral (coturn's
    REST scheme: username "<expiry>:<user id>", credential
    base64(HMAC-SHA1(secret, username))), so a leaked page cannot relay
    media through our TURN server for longer than the TTL.
    """
    servers: list[dict] = []
    if settings.WEBRTC_STUN_URLS:
        servers.append({"urls": list(settings.WEBRTC_STUN_URLS)})
    if settings.WEBRTC_TURN_URLS:
        turn = {"urls": list(settings.WEBRTC_TURN_URLS)}
        if settings.WEBRTC_TURN_SECRET:
            expiry = (now if now is not None else int(time.time())) + settings.WEBRTC_TURN_TTL_S
            username = f"{expiry}:{user.pk}"
            mac = hmac.new(settings.WEBRTC_TURN_SECRET.encode(), username.encode(), hashlib.sha1).digest()
            turn.update(username=username, credential=base64.b64encode(mac).decode())
        elif settings.WEBRTC_TURN_USERNAME:
            turn.update(username=settings.WEBRTC_TURN_USERNAME, credential=settings.WEBRTC_TURN_CREDENTIAL)
        servers.append(turn)
    return servers


def rtc_credentials(*, call, user, covered_seconds: int | None = None) -> dict:
    """The media credentials ``user`` needs to join ``call``.

    Only the call's two parties get any (404 ``call_not_found`` otherwise),
    and only while the call is accepted/active/paused (409 ``call_not_live``).
    ``covered_seconds`` is how long the fan's balance still pays for; when the
    caller does not know it, it is computed from the ledger. Reads only.
    """
    _check_party_and_status(call=call, user=user)
    if not agora_configured():
        return {"provider": "webrtc", "call_id": str(call.id), "ice_servers": ice_servers(user=user)}

    if covered_seconds is None:
        covered_seconds = fan_covered_seconds(call=call)
    now = int(time.time())
    lifetime = min(max(int(covered_seconds), 0) + settings.AGORA_TOKEN_GRACE_S, settings.AGORA_TOKEN_MAX_S)
    expires_at = now + lifetime
    uid = agora_uid(user.pk)
    channel = str(call.id)
    return {
        "provider": "agora",
        "call_id": channel,
        "app_id": settings.AGORA_APP_ID,
        "channel": channel,
        "uid": uid,
        "token": agora_token(channel=channel, uid=uid, expires_at=expires_at),
        "expires_at": expires_at,
    }
