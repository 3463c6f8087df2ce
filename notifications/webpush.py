"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payloads (RFC 8291), through pywebpush.

Only Celery tasks call ``send``: it does network I/O. Each kind's TTL,
urgency and topic come from ``notifications.kinds``; the payload is the
JSON the service worker (``templates/notifications/sw.js``) shows.
"""

import base64
import hashlib
import ipaddress
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils import timezone

from notifications import kinds
from notifications.models import Notification

logger = logging.getLogger(__name__)

# What a push service must accept is 4096 bytes of encrypted body; aes128gcm
# adds 86 (header 21 + key 65) + 16 (tag) + 1 (delimiter). We keep the
# plaintext well under, truncating the text if it has to.
MAX_PAYLOAD_BYTES = 3000
# Pushes in flight at once in one task (each is one HTTPS request).
SEND_CONCURRENCY = 8


def is_configured() -> bool:
    return bool(settings.VAPID_PUBLIC_KEY and settings.VAPID_PRIVATE_KEY)


@lru_cache(maxsize=4)
def _vapid(private_key: str):
    from py_vapid import Vapid

    return Vapid.from_string(private_key=private_key)


def _b64decode(value: str) -> bytes:
    value = value.strip()
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def endpoint_hash(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def check_endpoint(endpoint: str) -> None:
    """Refuse endpoints that are not a push service's: we POST to them, so a
    free-form URL would let anyone make the server call any address.

    https on a host in WEBPUSH_ENDPOINT_HOSTS (suffix ".x.y" matches
    subdomains, "x.y" the host itself; an empty list admits any https host
    that is not an IP address or localhost). WEBPUSH_ALLOW_INSECURE_ENDPOINTS
    also admits http and loopback, for a push-service stand-in.
    """
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > 2048:
        raise ValueError("A push endpoint is a URL of at most 2048 characters.")
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if settings.WEBPUSH_ALLOW_INSECURE_ENDPOINTS and parts.scheme in ("http", "https") and host:
        return
    if parts.scheme != "https" or not host or parts.username or parts.password:
        raise ValueError("A push endpoint must be an https URL.")
    try:
        ipaddress.ip_address(host.strip("[]"))
        is_address = True
    except ValueError:
        is_address = False
    if is_address or host == "localhost" or host.endswith(".localhost"):
        raise ValueError("A push endpoint must name a push service, not an address.")
    allowed = [h.lower() for h in settings.WEBPUSH_ENDPOINT_HOSTS if h]
    if allowed and not any(host == h.lstrip(".") if not h.startswith(".") else host.endswith(h) for h in allowed):
        raise ValueError("This push service is not one we deliver to.")


def check_keys(*, p256dh: str, auth: str) -> None:
    """The browser's keys: an uncompressed P-256 point (65 bytes) and a 16-byte auth secret, base64url."""
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        point = _b64decode(p256dh or "")
        secret = _b64decode(auth or "")
    except (ValueError, TypeError):
        raise ValueError("The keys must be base64url.")
    if len(point) != 65 or point[0] != 4 or len(secret) != 16:
        raise ValueError("p256dh must be a P-256 public key and auth a 16-byte secret.")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise ValueError("p256dh is not a point on P-256.")


def topic_for(notification: Notification) -> str:
    """The Topic header: at most 32 characters of the URL-safe base64 alphabet (RFC 8030 5.4).

    A hash of what the kind groups by (a call, a thread, a creator), so
    nothing readable leaks to the push service.
    """
    rule = kinds.policy(notification.kind)
    if rule.topic_by == "thread":
        key = str((notification.data or {}).get("thread") or notification.target_id or "")
    elif rule.topic_by == "actor":
        key = str(notification.actor_id or "")
    elif rule.topic_by == "target":
        key = f"{notification.target_type}:{notification.target_id}" if notification.target_id else ""
    else:
        key = ""
    if not key:
        return ""
    # Calls: the missed-call push replaces its own ring.
    group = "call" if notification.kind in ("call_incoming", "call_missed") else notification.kind
    digest = hashlib.sha256(f"{group}|{rule.topic_by}|{key}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]


def payload_for(notification: Notification) -> bytes:
    """The JSON the service worker shows, under MAX_PAYLOAD_BYTES (the text is cut if it must be)."""
    rule = kinds.policy(notification.kind)
    body = {
        "id": str(notification.pk),
        "kind": notification.kind,
        "title": rule.title,
        "body": notification.text,
        "url": f"/notifications/{notification.pk}/open/",
        "tag": topic_for(notification) or str(notification.pk),
        "require_interaction": rule.require_interaction,
        "created_at": notification.created_at.isoformat(),
    }
    encoded = json.dumps(body, separators=(",", ":")).encode()
    while len(encoded) > MAX_PAYLOAD_BYTES and body["body"]:
        over = len(encoded) - MAX_PAYLOAD_BYTES
        body["body"] = body["body"][: max(0, len(body["body"]) - over - 1)] + "…"
        encoded = json.dumps(body, separators=(",", ":")).encode()
    return encoded


def ttl_left(notification: Notification, now=None) -> int:
    """Seconds of the kind's TTL still left; 0 means it is too late to push at all."""
    now = now or timezone.now()
    age = max(0, int((now - notification.created_at).total_seconds()))
    return max(0, kinds.policy(notification.kind).ttl() - age)


def _session() -> requests.Session:
    session = requests.Session()
    # A push service answers; it never redirects. Following one would let an
    # endpoint send our signed request elsewhere.
    session.max_redirects = 0
    return session


def _send_one(session, subscription_info: dict, payload: bytes, *, ttl: int, urgency: str, topic: str) -> tuple:
    """One HTTP request to one push service: (status or None, error text). Never raises."""
    from pywebpush import WebPushException, webpush

    headers = {"Urgency": urgency}
    if topic:
        headers["Topic"] = topic
    try:
        response = webpush(
            subscription_info=subscription_info,
            data=payload,
            vapid_private_key=_vapid(settings.VAPID_PRIVATE_KEY),
            # A fresh dict each time: pywebpush writes aud and exp into it.
            vapid_claims={"sub": settings.VAPID_SUBJECT},
            ttl=ttl,
            headers=headers,
            timeout=settings.WEBPUSH_TIMEOUT_S,
            requests_session=session,
        )
        return response.status_code, ""
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        return status, str(exc.message)[:300]
    except (requests.RequestException, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]


def send(notifications: list[Notification], subscriptions_by_user: dict) -> list[tuple]:
    """Push each notification to each of its recipient's subscriptions. Returns
    [(subscription_id, status, error)] for ``services.record_push_results``.

    One subscription failing (timeout, 500, garbage) never stops the others.
    Notifications whose TTL ran out are not sent.
    """
    jobs = []
    now = timezone.now()
    for notification in notifications:
        ttl = ttl_left(notification, now)
        if ttl <= 0:
            continue
        rule = kinds.policy(notification.kind)
        payload, topic = payload_for(notification), topic_for(notification)
        for subscription in subscriptions_by_user.get(notification.recipient_id, ()):
            jobs.append((subscription.pk, subscription.subscription_info(), payload, ttl, rule.urgency, topic))
    if not jobs:
        return []
    # One HTTP session per sending thread (requests' sessions are not shared
    # across threads), reused for every push that thread sends: most go to
    # the same few push services, so connections are kept alive.
    local, sessions = threading.local(), []

    def run(job):
        subscription_id, info, payload, ttl, urgency, topic = job
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = _session()
            sessions.append(session)
        status, error = _send_one(session, info, payload, ttl=ttl, urgency=urgency, topic=topic)
        return subscription_id, status, error

    try:
        if len(jobs) == 1:
            return [run(jobs[0])]
        with ThreadPoolExecutor(max_workers=min(SEND_CONCURRENCY, len(jobs))) as pool:
            return list(pool.map(run, jobs))
    finally:
        for session in sessions:
            session.close()


def generate_vapid_keys() -> tuple[str, str]:
    """A new P-256 key pair as (public key, private key), both base64url without padding:
    the public key as the uncompressed point browsers take as applicationServerKey,
    the private key as its raw 32-byte scalar (what py_vapid's from_string reads)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    private = key.private_numbers().private_value.to_bytes(32, "big")

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return b64(public), b64(private)
