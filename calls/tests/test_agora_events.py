"""Agora's signed channel events count as presence, like the socket's join/leave."""

import hashlib
import hmac
import json

import pytest

from calls import services
from calls.media import agora_uid
from calls.models import CallPresence, CallSession
from calls.tests.conftest import START, balance
from calls.tests.test_services import at

SECRET = "ncs-test-secret"
URL = "/api/calls/agora/events/"


@pytest.fixture(autouse=True)
def ncs_secret(settings):
    settings.AGORA_NCS_SECRET = SECRET


def post_event(client, event, *, secret=SECRET, signature=None):
    body = json.dumps(event).encode()
    if signature is None:
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(URL, data=body, content_type="application/json", HTTP_AGORA_SIGNATURE_V2=signature)


def channel_event(call, user, event_type, seconds):
    ts = int((START.timestamp())) + seconds
    return {"noticeId": f"n-{call.pk}-{user.pk}-{event_type}-{seconds}", "productId": 1, "eventType": event_type,
            "notifyMs": ts * 1000, "payload": {"channelName": str(call.pk), "uid": agora_uid(user.pk), "ts": ts}}


@pytest.fixture
def accepted(ready, traveller):
    alice, bob = ready
    call = services.request_call(fan=alice, creator="bob", kind="video")
    services.accept_call(call_id=call.pk, user=bob)
    return call, alice, bob


def test_both_joins_from_agora_start_billing(client, accepted, traveller):
    call, alice, bob = accepted
    assert post_event(client, channel_event(call, alice, 103, 0)).json() == {"outcome": "joined"}
    assert post_event(client, channel_event(call, bob, 103, 0)).json() == {"outcome": "joined"}
    call = CallSession.objects.get(pk=call.pk)
    assert (call.status, call.minutes_charged, balance(alice)) == ("active", 1, 990)


def test_a_leave_from_agora_pauses_the_call(client, accepted, traveller):
    call, alice, bob = accepted
    post_event(client, channel_event(call, alice, 103, 0))
    post_event(client, channel_event(call, bob, 103, 0))
    at(traveller, 30)
    assert post_event(client, channel_event(call, bob, 104, 30)).json() == {"outcome": "left"}
    assert CallSession.objects.get(pk=call.pk).status == "paused"


def test_a_stale_event_does_not_undo_a_newer_one(client, accepted, traveller):
    call, alice, bob = accepted
    post_event(client, channel_event(call, alice, 103, 0))
    post_event(client, channel_event(call, bob, 103, 0))
    at(traveller, 30)
    post_event(client, channel_event(call, bob, 104, 30))
    # The join from t=0 delivered again, late: it must not reopen bob's presence.
    assert post_event(client, channel_event(call, bob, 103, 0)).json() == {"outcome": "ignored_stale"}
    assert CallSession.objects.get(pk=call.pk).status == "paused"


@pytest.mark.parametrize("signature", ["", "0" * 64, "not-hex"])
def test_bad_or_missing_signature_is_400_and_changes_nothing(client, accepted, traveller, signature):
    call, alice, bob = accepted
    response = post_event(client, channel_event(call, alice, 103, 0), signature=signature)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_signature"
    assert not CallPresence.objects.filter(call=call).exists()
    assert CallSession.objects.get(pk=call.pk).status == "accepted"


def test_signed_with_another_secret_is_refused(client, accepted, traveller):
    call, alice, _ = accepted
    assert post_event(client, channel_event(call, alice, 103, 0), secret="mallory").status_code == 400


def test_strangers_unknown_calls_and_other_event_types_are_acknowledged_and_ignored(client, accepted, traveller, mallory):
    call, alice, _ = accepted
    assert post_event(client, channel_event(call, mallory, 103, 0)).json() == {"outcome": "ignored_unknown"}
    event = channel_event(call, alice, 103, 0)
    event["payload"]["channelName"] = "00000000-0000-0000-0000-000000000000"
    assert post_event(client, event).json() == {"outcome": "ignored_unknown"}
    event["payload"]["channelName"] = "not-a-uuid"
    assert post_event(client, event).json() == {"outcome": "ignored_malformed"}
    assert post_event(client, {**channel_event(call, alice, 101, 0)}).json() == {"outcome": "ignored_type"}
    assert CallSession.objects.get(pk=call.pk).status == "accepted"


def test_events_for_an_ended_call_stop_retries(client, accepted, traveller):
    call, alice, bob = accepted
    services.end_call(call_id=call.pk, user=alice)
    response = post_event(client, channel_event(call, bob, 103, 5))
    assert response.status_code == 200 and response.json()["outcome"].startswith("ignored_")


def test_not_configured_is_404(client, settings):
    settings.AGORA_NCS_SECRET = ""
    assert client.post(URL, data="{}", content_type="application/json").status_code == 404
