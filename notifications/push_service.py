"""A Web Push service stand-in on loopback, for tests and local development.

It plays the two parts a real deployment has and this machine does not: the
push service (RFC 8030: receives the POST, checks TTL/Urgency/Topic, checks
the VAPID authorization of RFC 8292 against the application server key the
subscription was made with) and the browser behind it (decrypts the
aes128gcm payload of RFC 8291/8188 with the subscription's private key and
auth secret). Decryption and the JWT check are written here from the RFCs
with ``cryptography``, not with the libraries that produce them
(pywebpush, http_ece, py_vapid), so a passing test proves the two agree.

    with PushServiceStandIn(vapid_public_key=settings.VAPID_PUBLIC_KEY) as service:
        browser = service.new_browser()          # real P-256 keys, endpoint on 127.0.0.1
        subscribe_push(user=..., **browser.subscription)
        ...                                      # the app pushes
        browser.messages[0].payload              # the decrypted JSON
        service.answer(browser, 410)             # the next push to it is answered 410

Each browser records what it received (``messages``); requests that fail a
check are answered 400/401/403 as a real service would and kept in
``service.rejected`` with the reason.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

URGENCIES = ("very-low", "low", "normal", "high")
TOPIC_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64url_decode(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        value = value.decode()
    value = value.strip()
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    # RFC 5869 with one expansion block (every length here is <= 32).
    prk = _hmac(salt, ikm)
    return _hmac(prk, info + b"\x01")[:length]


def decrypt_aes128gcm(body: bytes, *, private_key: ec.EllipticCurvePrivateKey, auth_secret: bytes) -> bytes:
    """RFC 8291 section 3 + RFC 8188: a push message body -> its plaintext. Raises ValueError."""
    if len(body) < 21:
        raise ValueError("body shorter than the aes128gcm header")
    salt, record_size, id_length = body[:16], struct.unpack("!I", body[16:20])[0], body[20]
    if id_length != 65:
        raise ValueError("keyid is not the 65-byte application server public key")
    as_public = body[21 : 21 + id_length]
    ciphertext = body[21 + id_length :]
    if record_size < 18 or len(ciphertext) > record_size:
        raise ValueError("a web push message is exactly one record")
    ua_public = private_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public)
    ecdh_secret = private_key.exchange(ec.ECDH(), sender)
    # RFC 8291 3.3/3.4: the input keying material mixes in the auth secret and both public keys.
    ikm = _hkdf(auth_secret, ecdh_secret, b"WebPush: info\x00" + ua_public + as_public, 32)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    try:
        padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
    except InvalidTag:
        raise ValueError("the payload does not decrypt with this subscription's keys")
    # RFC 8188 2: plaintext, then the delimiter 0x02 (last record), then zero padding.
    stripped = padded.rstrip(b"\x00")
    if not stripped or stripped[-1] != 2:
        raise ValueError("missing last-record delimiter")
    return stripped[:-1]


def verify_vapid(authorization: str, *, expected_key: str, audience: str, now: float | None = None) -> dict:
    """RFC 8292: check ``Authorization: vapid t=<JWT>, k=<key>``; return the JWT's claims. Raises ValueError."""
    now = time.time() if now is None else now
    scheme, _, params = (authorization or "").partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError("not the vapid authorization scheme")
    parts = {}
    for item in params.split(","):
        name, _, value = item.strip().partition("=")
        parts[name.strip()] = value.strip()
    token, key = parts.get("t", ""), parts.get("k", "")
    if not token or not key:
        raise ValueError("t= and k= are both required")
    if b64url_decode(key) != b64url_decode(expected_key):
        raise ValueError("k is not the application server key this subscription was made with")
    try:
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        claims = json.loads(b64url_decode(claims_b64))
        signature = b64url_decode(signature_b64)
    except ValueError:
        raise ValueError("the token is not a JWT")
    if header.get("alg") != "ES256" or len(signature) != 64:
        raise ValueError("the JWT must be ES256 with a 64-byte r||s signature")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("the JWT signature does not verify with k")
    if claims.get("aud") != audience:
        raise ValueError(f"aud is {claims.get('aud')!r}, not this push service's origin {audience!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now or exp > now + 24 * 3600:
        raise ValueError("exp must be in the future and at most 24 hours away")
    sub = claims.get("sub", "")
    if not (isinstance(sub, str) and (sub.startswith("mailto:") or sub.startswith("https:"))):
        raise ValueError("sub must be a mailto: or https: contact")
    return claims


@dataclass
class Message:
    """One push the stand-in accepted, as the browser would see it."""

    payload: bytes
    headers: dict
    claims: dict

    def json(self):
        return json.loads(self.payload)


@dataclass
class Browser:
    """One subscription: its own P-256 key pair and auth secret, like a real browser's."""

    token: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    application_server_key: str
    messages: list = field(default_factory=list)
    # What the service answers the next pushes with (201 unless told otherwise).
    status: int = 201

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return b64url_encode(raw)

    @property
    def auth(self) -> str:
        return b64url_encode(self.auth_secret)

    @property
    def subscription(self) -> dict:
        """Keyword arguments for ``services.subscribe_push`` (PushSubscription.toJSON(), flattened)."""
        return {"endpoint": self.endpoint, "p256dh": self.p256dh, "auth": self.auth}

    @property
    def subscription_json(self) -> dict:
        """What the browser's PushSubscription.toJSON() gives (the API's request body)."""
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class PushServiceStandIn:
    def __init__(self, *, vapid_public_key: str, host: str = "127.0.0.1"):
        self.vapid_public_key = vapid_public_key
        self.host = host
        self.browsers: dict[str, Browser] = {}
        self.rejected: list[tuple[str, int, str]] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> "PushServiceStandIn":
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, reason = service._receive(self.path, dict(self.headers.items()), body)
                payload = reason.encode()
                self.send_response(status)
                if status == 201:
                    self.send_header("Location", f"{service.origin}/message/{secrets.token_hex(8)}")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format, *args):  # quiet
                pass

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="push-service-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- browsers ------------------------------------------------------------------

    def new_browser(self, *, status: int = 201) -> Browser:
        token = secrets.token_urlsafe(16)
        browser = Browser(
            token=token,
            endpoint=f"{self.origin}/push/{token}",
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
            application_server_key=self.vapid_public_key,
            status=status,
        )
        with self._lock:
            self.browsers[token] = browser
        return browser

    def answer(self, browser: Browser, status: int) -> None:
        """Answer the next pushes to ``browser`` with ``status`` (201, 404, 410, 429, 500 ...)."""
        with self._lock:
            browser.status = status

    def received(self) -> list[Message]:
        with self._lock:
            return [message for browser in self.browsers.values() for message in browser.messages]

    # --- the protocol ----------------------------------------------------------------

    def _reject(self, token: str, status: int, reason: str) -> tuple[int, str]:
        self.rejected.append((token, status, reason))
        return status, reason

    def _receive(self, path: str, headers: dict, body: bytes) -> tuple[int, str]:
        headers = {key.lower(): value for key, value in headers.items()}
        with self._lock:
            self.requests += 1
            token = path.rsplit("/", 1)[-1] if path.startswith("/push/") else ""
            browser = self.browsers.get(token)
            if browser is None:
                return self._reject(token, 404, "no such subscription")
            if browser.status != 201:
                # Told to fail: answer as the real service would, before looking at the message.
                return browser.status, "as instructed"
            try:
                claims = verify_vapid(headers.get("authorization", ""), expected_key=browser.application_server_key, audience=self.origin)
            except ValueError as exc:
                return self._reject(token, 403 if "k is not" in str(exc) else 401, f"vapid: {exc}")
            if "ttl" not in headers or not headers["ttl"].isdigit():
                return self._reject(token, 400, "TTL header missing or not a number")
            urgency = headers.get("urgency", "normal")
            if urgency not in URGENCIES:
                return self._reject(token, 400, f"bad Urgency {urgency!r}")
            topic = headers.get("topic")
            if topic is not None and (len(topic) > 32 or not set(topic) <= TOPIC_ALPHABET):
                return self._reject(token, 400, f"bad Topic {topic!r}")
            if headers.get("content-encoding") != "aes128gcm":
                return self._reject(token, 400, "Content-Encoding must be aes128gcm")
            if len(body) > 4096:
                return self._reject(token, 413, "payload larger than 4096 bytes")
            try:
                plaintext = decrypt_aes128gcm(body, private_key=browser.private_key, auth_secret=browser.auth_secret)
            except ValueError as exc:
                return self._reject(token, 400, f"decrypt: {exc}")
            browser.messages.append(Message(payload=plaintext, headers=headers, claims=claims))
            return 201, "created"
