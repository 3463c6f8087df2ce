"""Web push end to end: pywebpush's real request to a push service on loopback that decrypts
the payload with the subscription's keys and checks the VAPID signature (notifications.push_service)."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from digis.errors import DomainError
from notifications import services, webpush
from notifications.models import Notification, NotificationKind, PushSubscription
from notifications.push_service import PushServiceStandIn, decrypt_aes128gcm, verify_vapid
from notifications.tasks import deliver_push

pytestmark = pytest.mark.django_db


def subscribe(user, browser) -> PushSubscription:
    subscription, created = services.subscribe_push(user=user, **browser.subscription)
    assert created
    return subscription


def push(notification) -> None:
    deliver_push([str(notification.pk)])


def make(recipient, kind, *, text="hello", target=None, data=None, actor=None) -> Notification:
    return services.notify(recipient=recipient, kind=kind, text=text, target=target, data=data or {}, actor=actor)


def test_the_push_service_decrypts_the_payload_and_verifies_the_vapid_signature(bob, alice, push_service, settings):
    browser = push_service.new_browser()
    subscribe(bob, browser)
    notification = make(bob, NotificationKind.CALL_INCOMING, text="alice is calling you", target=alice, actor=alice)
    push(notification)

    assert push_service.rejected == []
    [message] = browser.messages
    body = message.json()
    assert body["kind"] == "call_incoming"
    assert body["title"] == "Incoming call"
    assert body["body"] == "alice is calling you"
    assert body["url"] == f"/notifications/{notification.pk}/open/"
    # RFC 8292: signed for this push service's origin by our key, contact included.
    assert message.claims["aud"] == push_service.origin
    assert message.claims["sub"] == "mailto:ops@digis.test"
    # An incoming call: high urgency, never kept longer than the ring lasts.
    assert message.headers["urgency"] == "high"
    assert 0 < int(message.headers["ttl"]) <= settings.CALL_RING_TIMEOUT_S
    assert len(message.headers["topic"]) <= 32
    subscription = PushSubscription.objects.get(user=bob)
    assert (subscription.sent_count, subscription.failed_count, subscription.last_status) == (1, 0, 201)
    assert subscription.last_success_at is not None


def test_each_kind_travels_with_its_own_ttl_and_urgency(bob, alice, push_service):
    browser = push_service.new_browser()
    subscribe(bob, browser)
    services.update_preferences(user=bob, kinds_channels={"purchase_credited": {"push": True}})
    for kind in (NotificationKind.PAYOUT_STATUS, NotificationKind.PURCHASE_CREDITED):
        push(make(bob, kind, target=alice))
    payout, purchase = browser.messages
    assert payout.headers["urgency"] == "normal"
    assert 48 * 3600 - 60 <= int(payout.headers["ttl"]) <= 48 * 3600
    assert purchase.headers["urgency"] == "low"


def test_topics_group_a_thread_and_a_call_and_fit_the_header(bob, alice):
    first = make(bob, NotificationKind.MESSAGE_NEW, data={"thread": "thread-1"}, actor=alice)
    second = make(bob, NotificationKind.MESSAGE_NEW, data={"thread": "thread-1"}, actor=alice)
    other = make(bob, NotificationKind.MESSAGE_NEW, data={"thread": "thread-2"}, actor=alice)
    ring = make(bob, NotificationKind.CALL_INCOMING, target=alice, actor=alice)
    missed = make(bob, NotificationKind.CALL_MISSED, target=alice, actor=alice)
    assert webpush.topic_for(first) == webpush.topic_for(second) != webpush.topic_for(other)
    # The missed-call push replaces its own ring still waiting at the push service.
    assert webpush.topic_for(ring) == webpush.topic_for(missed)
    for notification in (first, other, ring):
        topic = webpush.topic_for(notification)
        assert 0 < len(topic) <= 32
        assert set(topic) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_payload_stays_under_4kb_whatever_the_text(bob, push_service):
    browser = push_service.new_browser()
    subscribe(bob, browser)
    notification = make(bob, NotificationKind.PAYOUT_STATUS)
    notification.text = "é" * 5000  # as if a caller stored more than the column allows
    assert len(webpush.payload_for(notification)) <= webpush.MAX_PAYLOAD_BYTES
    webpush.send([notification], {bob.pk: list(PushSubscription.objects.filter(user=bob))})
    [message] = browser.messages
    assert message.json()["body"].endswith("…")
    assert push_service.rejected == []


def test_404_and_410_delete_the_subscription_and_one_dead_never_stops_the_others(bob, push_service):
    gone, expired, broken, busy, fine = (push_service.new_browser() for _ in range(5))
    for browser in (gone, expired, broken, busy, fine):
        subscribe(bob, browser)
    push_service.answer(gone, 404)
    push_service.answer(expired, 410)
    push_service.answer(broken, 500)
    push_service.answer(busy, 429)
    push(make(bob, NotificationKind.PAYOUT_STATUS))

    left = {s.endpoint: s for s in PushSubscription.objects.filter(user=bob)}
    assert set(left) == {broken.endpoint, busy.endpoint, fine.endpoint}
    assert (left[broken.endpoint].failed_count, left[broken.endpoint].last_status) == (1, 500)
    assert (left[busy.endpoint].failed_count, left[busy.endpoint].last_status) == (1, 429)
    assert (left[fine.endpoint].sent_count, left[fine.endpoint].last_status) == (1, 201)
    assert len(fine.messages) == 1


def test_an_unreachable_push_service_counts_as_failed(bob, vapid, settings):
    settings.WEBPUSH_TIMEOUT_S = 2
    with PushServiceStandIn(vapid_public_key=vapid) as service:
        browser = service.new_browser()
        subscribe(bob, browser)
    # The service is gone: connection refused.
    push(make(bob, NotificationKind.PAYOUT_STATUS))
    subscription = PushSubscription.objects.get(user=bob)
    assert (subscription.sent_count, subscription.failed_count, subscription.last_status) == (0, 1, None)
    assert "ConnectionError" in subscription.last_error


def test_a_ring_that_is_over_is_not_pushed(bob, alice, push_service, settings):
    import time_machine

    browser = push_service.new_browser()
    subscribe(bob, browser)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        notification = make(bob, NotificationKind.CALL_INCOMING, target=alice, actor=alice)
        traveller.shift(settings.CALL_RING_TIMEOUT_S + 1)
        push(notification)
    assert push_service.requests == 0


def test_a_push_signed_with_another_key_is_refused_by_the_push_service(bob, push_service, settings):
    browser = push_service.new_browser()
    subscribe(bob, browser)
    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = webpush.generate_vapid_keys()  # keys rotated since
    push(make(bob, NotificationKind.PAYOUT_STATUS))
    assert browser.messages == []
    [(_, status, reason)] = push_service.rejected
    assert status == 403 and "application server key" in reason
    assert PushSubscription.objects.get(user=bob).last_status == 403


def test_the_stand_in_refuses_what_does_not_decrypt_or_verify(push_service, vapid):
    from cryptography.hazmat.primitives.asymmetric import ec
    from pywebpush import WebPusher

    from py_vapid import Vapid

    browser = push_service.new_browser()
    body = WebPusher({"endpoint": browser.endpoint, "keys": {"p256dh": browser.p256dh, "auth": browser.auth}}).encode(b"secret")["body"]
    assert decrypt_aes128gcm(body, private_key=browser.private_key, auth_secret=browser.auth_secret) == b"secret"
    with pytest.raises(ValueError):
        decrypt_aes128gcm(body, private_key=ec.generate_private_key(ec.SECP256R1()), auth_secret=browser.auth_secret)
    with pytest.raises(ValueError):
        decrypt_aes128gcm(body, private_key=browser.private_key, auth_secret=b"0" * 16)
    tampered = body[:-1] + bytes([body[-1] ^ 1])
    with pytest.raises(ValueError):
        decrypt_aes128gcm(tampered, private_key=browser.private_key, auth_secret=browser.auth_secret)

    from django.conf import settings

    signer = Vapid.from_string(private_key=settings.VAPID_PRIVATE_KEY)
    exp = int(timezone.now().timestamp()) + 3600
    header = signer.sign({"aud": push_service.origin, "sub": "mailto:a@b.test", "exp": exp})["Authorization"]
    assert verify_vapid(header, expected_key=vapid, audience=push_service.origin)["exp"] == exp
    with pytest.raises(ValueError, match="aud"):
        verify_vapid(header, expected_key=vapid, audience="http://127.0.0.1:1")
    t_part = header.split("t=")[1].split(",")[0]
    forged = header.replace(t_part, t_part[:-2] + ("AA" if not t_part.endswith("AA") else "BB"))
    with pytest.raises(ValueError):
        verify_vapid(forged, expected_key=vapid, audience=push_service.origin)


def test_subscriptions_must_point_at_a_push_service(bob, vapid, settings):
    from notifications.push_service import b64url_encode
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    settings.WEBPUSH_ALLOW_INSECURE_ENDPOINTS = False
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    keys = {"p256dh": b64url_encode(point), "auth": b64url_encode(b"0123456789abcdef")}
    services.subscribe_push(user=bob, endpoint="https://fcm.googleapis.com/fcm/send/abc", **keys)
    services.subscribe_push(user=bob, endpoint="https://updates.push.services.mozilla.com/wpush/v2/abc", **keys)
    for endpoint in (
        "http://fcm.googleapis.com/fcm/send/abc",  # not https
        "https://127.0.0.1/push",  # an address
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/push",
        "https://evil.example/push",  # not a push service
        "https://fcm.googleapis.com.evil.example/x",
        "ftp://fcm.googleapis.com/x",
    ):
        with pytest.raises(DomainError) as err:
            services.subscribe_push(user=bob, endpoint=endpoint, **keys)
        assert err.value.code == "invalid_push_subscription", endpoint
    with pytest.raises(DomainError):
        services.subscribe_push(user=bob, endpoint="https://fcm.googleapis.com/x2", p256dh="AAAA", auth=keys["auth"])
    assert PushSubscription.objects.filter(user=bob).count() == 2


def test_a_browser_subscribing_again_moves_to_the_account_using_it(alice, bob, push_service):
    browser = push_service.new_browser()
    subscribe(bob, browser)
    subscription, created = services.subscribe_push(user=alice, **browser.subscription)
    assert not created
    assert subscription.user_id == alice.pk
    assert PushSubscription.objects.count() == 1


def test_without_vapid_keys_push_is_off(bob, settings):
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    with pytest.raises(DomainError) as err:
        services.subscribe_push(user=bob, endpoint="https://fcm.googleapis.com/x", p256dh="x", auth="y")
    assert (err.value.code, err.value.status_code) == ("push_not_configured", 409)


def test_generate_vapid_keys_prints_a_pair_that_signs_and_verifies(push_service):
    out = io.StringIO()
    call_command("generate_vapid_keys", stdout=out, stderr=io.StringIO())
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    from py_vapid import Vapid

    signer = Vapid.from_string(private_key=lines["VAPID_PRIVATE_KEY"])
    header = signer.sign({"aud": push_service.origin, "sub": "mailto:a@b.test"})["Authorization"]
    assert verify_vapid(header, expected_key=lines["VAPID_PUBLIC_KEY"], audience=push_service.origin)


def test_payload_is_json_the_service_worker_reads(bob):
    notification = make(bob, NotificationKind.PAYOUT_STATUS, text="Your payout was sent.")
    body = json.loads(webpush.payload_for(notification))
    assert set(body) >= {"id", "kind", "title", "body", "url", "tag", "require_interaction", "created_at"}
    assert timedelta(0) <= timezone.now() - notification.created_at


def test_deleting_an_account_forgets_its_browsers(bob, alice, push_service):
    from accounts.services import delete_account

    subscribe(bob, push_service.new_browser())
    subscribe(alice, push_service.new_browser())
    delete_account(user=bob)
    assert not PushSubscription.objects.filter(user=bob).exists()
    assert PushSubscription.objects.filter(user=alice).count() == 1
    # Nothing the tombstone is still sent reaches a browser.
    push(make(bob, NotificationKind.MODERATION, text="too late"))
    assert push_service.rejected == []
