"""Media credentials: Agora tokens decode to the right channel, uid and expiry; WebRTC otherwise."""

import base64
import hashlib
import hmac
import struct
import time
import zlib
from datetime import UTC, datetime

import pytest
import time_machine

from accounts.tests.factories import make_creator, make_user
from calls import media
from calls.models import CallSession
from digis.errors import DomainError

APP_ID = "0123456789abcdef0123456789abcdef"  # Agora app ids are 32 hex characters
CERTIFICATE = "fedcba9876543210fedcba9876543210"
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

# AccessToken privilege keys (agora_token_builder.AccessToken).
JOIN_CHANNEL, PUBLISH_AUDIO, PUBLISH_VIDEO, PUBLISH_DATA = 1, 2, 3, 4


def decode_agora_token(token: str, *, certificate: str) -> dict:
    """Decode an AccessToken "006" string and verify its signature.

    Layout (agora_token_builder/AccessToken.py): "006" + app id (32 chars) +
    base64(packString(signature) + uint32 crc(channel) + uint32 crc(uid) +
    packString(message)), message = uint32 salt + uint32 ts + a uint16-counted
    map of uint16 privilege -> uint32 expiry timestamp; little-endian; the
    signature is HMAC-SHA256(certificate, app id + channel + uid + message).
    """
    assert token[:3] == "006"
    app_id, content = token[3:35], base64.b64decode(token[35:])
    pos = 0

    def take(fmt):
        nonlocal pos
        (value,) = struct.unpack_from("<" + fmt, content, pos)
        pos += struct.calcsize(fmt)
        return value

    def take_bytes():
        nonlocal pos
        length = take("H")
        value = content[pos : pos + length]
        pos += length
        return value

    signature = take_bytes()
    crc_channel, crc_uid = take("I"), take("I")
    message = take_bytes()
    assert pos == len(content)
    salt, ts, count = struct.unpack_from("<IIH", message, 0)
    privileges = {}
    offset = 10
    for _ in range(count):
        key, value = struct.unpack_from("<HI", message, offset)
        privileges[key] = value
        offset += 6
    return {
        "app_id": app_id,
        "signature": signature,
        "crc_channel": crc_channel,
        "crc_uid": crc_uid,
        "message": message,
        "salt": salt,
        "ts": ts,
        "privileges": privileges,
        "verifies": lambda channel, uid: hmac.compare_digest(
            signature,
            hmac.new(certificate.encode(), app_id.encode() + channel.encode() + str(uid).encode() + message, hashlib.sha256).digest(),
        )
        and crc_channel == zlib.crc32(channel.encode())
        and crc_uid == zlib.crc32(str(uid).encode()),
    }


def make_call(*, status="accepted", rate=30, fan=None, creator=None) -> CallSession:
    fan = fan or make_user()
    creator = creator or make_creator()
    fields = {"status": status}
    if status == "ended":
        fields["end_reason"] = "completed"
    # Test arrangement only: the calls core's services own every real write.
    return CallSession.objects.create(fan=fan, creator=creator, kind="video", rate=rate, **fields)


@pytest.fixture
def agora(settings):
    settings.AGORA_APP_ID = APP_ID
    settings.AGORA_APP_CERTIFICATE = CERTIFICATE
    settings.AGORA_TOKEN_GRACE_S = 120
    settings.AGORA_TOKEN_MAX_S = 4 * 3600
    return settings


pytestmark = pytest.mark.django_db


def test_agora_token_names_the_call_channel_the_users_uid_and_expires_after_covered_time(agora, alice, bob):
    call = make_call(fan=alice, creator=bob)
    with time_machine.travel(NOW, tick=False):
        creds = media.rtc_credentials(call=call, user=alice, covered_seconds=600)

    expected_expiry = int(NOW.timestamp()) + 600 + 120
    assert creds["provider"] == "agora"
    assert creds["app_id"] == APP_ID
    assert creds["channel"] == str(call.id)
    assert creds["uid"] == media.agora_uid(alice.pk)
    assert creds["expires_at"] == expected_expiry

    token = decode_agora_token(creds["token"], certificate=CERTIFICATE)
    assert token["app_id"] == APP_ID
    assert token["verifies"](str(call.id), creds["uid"])
    assert not token["verifies"](str(call.id), media.agora_uid(bob.pk))  # bound to alice's uid
    assert not token["verifies"]("another-channel", creds["uid"])
    # Publisher role: join and publish audio, video and data, all until the expiry.
    assert token["privileges"] == {
        JOIN_CHANNEL: expected_expiry,
        PUBLISH_AUDIO: expected_expiry,
        PUBLISH_VIDEO: expected_expiry,
        PUBLISH_DATA: expected_expiry,
    }


def test_a_forged_certificate_does_not_verify(agora, alice, bob):
    call = make_call(fan=alice, creator=bob)
    creds = media.rtc_credentials(call=call, user=alice, covered_seconds=60)
    token = decode_agora_token(creds["token"], certificate="0" * 32)
    assert not token["verifies"](str(call.id), creds["uid"])


def test_both_parties_get_their_own_stable_uid_on_the_same_channel(agora, alice, bob):
    call = make_call(fan=alice, creator=bob)
    fan_creds = media.rtc_credentials(call=call, user=alice, covered_seconds=60)
    creator_creds = media.rtc_credentials(call=call, user=bob, covered_seconds=60)
    again = media.rtc_credentials(call=call, user=alice, covered_seconds=60)

    assert fan_creds["channel"] == creator_creds["channel"] == str(call.id)
    assert fan_creds["uid"] != creator_creds["uid"]
    assert again["uid"] == fan_creds["uid"]
    assert decode_agora_token(creator_creds["token"], certificate=CERTIFICATE)["verifies"](str(call.id), creator_creds["uid"])


def test_uid_is_32_bit_non_zero_and_stable_across_calls(alice):
    uid = media.agora_uid(alice.pk)
    assert 1 <= uid <= 0xFFFFFFFF
    assert media.agora_uid(str(alice.pk)) == uid
    uids = {media.agora_uid(make_user().pk) for _ in range(50)}
    assert len(uids) == 50 and all(1 <= u <= 0xFFFFFFFF for u in uids)


def test_expiry_is_capped_for_rich_fans(agora, alice, bob):
    agora.AGORA_TOKEN_MAX_S = 3600
    call = make_call(fan=alice, creator=bob)
    with time_machine.travel(NOW, tick=False):
        creds = media.rtc_credentials(call=call, user=alice, covered_seconds=10 * 3600)
    assert creds["expires_at"] == int(NOW.timestamp()) + 3600
    assert decode_agora_token(creds["token"], certificate=CERTIFICATE)["privileges"][JOIN_CHANNEL] == creds["expires_at"]


def test_renewal_later_in_the_call_moves_the_expiry(agora, alice, bob):
    call = make_call(fan=alice, creator=bob)
    with time_machine.travel(NOW, tick=False):
        first = media.rtc_credentials(call=call, user=alice, covered_seconds=300)
    with time_machine.travel(NOW.timestamp() + 290, tick=False):
        renewed = media.rtc_credentials(call=call, user=alice, covered_seconds=300)
    assert renewed["expires_at"] == first["expires_at"] + 290
    assert renewed["token"] != first["token"]


def test_expiry_follows_the_fans_balance_from_the_ledger(agora, alice, bob):
    from ledger.services import credit_purchase, open_wallet

    open_wallet(user=alice)
    open_wallet(user=bob)
    credit_purchase(user=alice, tokens=95, idempotency_key="test:media:credit", reference="test")
    ringing_to_accepted = make_call(fan=alice, creator=bob, status="accepted", rate=30)
    with time_machine.travel(NOW, tick=False):
        creds = media.rtc_credentials(call=ringing_to_accepted, user=bob)
    # 95 tokens at 30 a minute pay 3 whole minutes; nothing is prepaid before the call is active.
    assert creds["expires_at"] == int(NOW.timestamp()) + 3 * 60 + 120

    CallSession.objects.filter(pk=ringing_to_accepted.pk).update(status="active")
    ringing_to_accepted.refresh_from_db()
    with time_machine.travel(NOW, tick=False):
        creds = media.rtc_credentials(call=ringing_to_accepted, user=alice)
    # Active: the current minute is already paid for, so up to 60 s more.
    assert creds["expires_at"] == int(NOW.timestamp()) + 4 * 60 + 120


def test_without_agora_the_browsers_get_webrtc_with_no_ice_servers_by_default(settings, alice, bob):
    settings.AGORA_APP_ID = ""
    settings.AGORA_APP_CERTIFICATE = ""
    call = make_call(fan=alice, creator=bob)
    assert media.rtc_credentials(call=call, user=alice) == {"provider": "webrtc", "call_id": str(call.id), "ice_servers": []}


def test_agora_needs_both_the_app_id_and_the_certificate(settings, alice, bob):
    settings.AGORA_APP_ID = APP_ID
    settings.AGORA_APP_CERTIFICATE = ""
    call = make_call(fan=alice, creator=bob)
    assert media.rtc_credentials(call=call, user=alice)["provider"] == "webrtc"


def test_turn_credentials_are_ephemeral_and_verifiable_by_coturn(settings, alice, bob):
    settings.AGORA_APP_ID = ""
    settings.WEBRTC_STUN_URLS = ["stun:turn.digis.test:3478"]
    settings.WEBRTC_TURN_URLS = ["turn:turn.digis.test:3478?transport=udp", "turns:turn.digis.test:5349"]
    settings.WEBRTC_TURN_SECRET = "turn-shared-secret"
    settings.WEBRTC_TURN_TTL_S = 3600
    call = make_call(fan=alice, creator=bob)
    with time_machine.travel(NOW, tick=False):
        servers = media.rtc_credentials(call=call, user=alice)["ice_servers"]

    stun, turn = servers
    assert stun == {"urls": ["stun:turn.digis.test:3478"]}
    assert turn["urls"] == ["turn:turn.digis.test:3478?transport=udp", "turns:turn.digis.test:5349"]
    expiry, user_id = turn["username"].split(":")
    assert int(expiry) == int(NOW.timestamp()) + 3600 and user_id == str(alice.pk)
    # coturn (use-auth-secret) recomputes exactly this.
    expected = base64.b64encode(hmac.new(b"turn-shared-secret", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected


def test_static_turn_credentials_when_no_secret(settings, alice, bob):
    settings.AGORA_APP_ID = ""
    settings.WEBRTC_TURN_URLS = ["turn:turn.digis.test:3478"]
    settings.WEBRTC_TURN_SECRET = ""
    settings.WEBRTC_TURN_USERNAME = "digis"
    settings.WEBRTC_TURN_CREDENTIAL = "pw"
    call = make_call(fan=alice, creator=bob)
    assert media.rtc_credentials(call=call, user=bob)["ice_servers"] == [
        {"urls": ["turn:turn.digis.test:3478"], "username": "digis", "credential": "pw"}
    ]


def test_mallory_gets_no_credentials_for_someone_elses_call(agora, alice, bob, mallory):
    call = make_call(fan=alice, creator=bob)
    with pytest.raises(DomainError) as caught:
        media.rtc_credentials(call=call, user=mallory, covered_seconds=60)
    assert (caught.value.code, caught.value.status_code) == ("call_not_found", 404)


@pytest.mark.parametrize("status", ["requested", "ended"])
def test_no_credentials_before_accept_or_after_the_end(agora, alice, bob, status):
    call = make_call(fan=alice, creator=bob, status=status)
    with pytest.raises(DomainError) as caught:
        media.rtc_credentials(call=call, user=alice, covered_seconds=60)
    assert (caught.value.code, caught.value.status_code) == ("call_not_live", 409)


def test_token_builder_uses_the_frozen_clock(agora):
    # The library stamps its own issue time with time.time(); time-machine controls it too.
    with time_machine.travel(NOW, tick=False):
        assert int(time.time()) == int(NOW.timestamp())
        token = media.agora_token(channel="c", uid=7, expires_at=int(NOW.timestamp()) + 60)
    assert decode_agora_token(token, certificate=CERTIFICATE)["ts"] == int(NOW.timestamp()) + 24 * 3600
