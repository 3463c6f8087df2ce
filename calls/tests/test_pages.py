"""The call pages: confirmation before ringing, the call page, its no-JS buttons, the ringer include."""

import re

import pytest
from django.template.loader import render_to_string
from django.test import Client, RequestFactory

from accounts.tests.factories import make_user
from calls.models import CallSession
from creators.tests.factories import make_creator_profile
from digis.realtime import presence
from ledger.services import credit_purchase, open_wallet

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def fund(user, tokens):
    open_wallet(user=user)
    credit_purchase(user=user, tokens=tokens, idempotency_key=f"test:pages:{user.pk}:{tokens}", reference="test")


@pytest.fixture
def bob_profile(bob):
    open_wallet(user=bob)
    return make_creator_profile(bob, video_call_rate=40, voice_call_rate=25, min_call_minutes=3)


def no_inline_scripts(html: str) -> bool:
    # CSP forbids inline scripts: every <script> must load a file.
    return all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))


def test_confirmation_shows_rate_minimum_rules_and_balance(alice, bob_profile):
    fund(alice, 500)
    response = browser(alice).get("/calls/new/", {"creator": "BOB", "kind": "video"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "40 tokens a minute" in html
    assert "3 minutes (120 tokens in your wallet to start)" in html
    assert "500 tokens" in html
    assert "Only the time you are both connected counts" in html
    assert "under 10 seconds" in html
    assert 'name="kind" value="video"' in html
    assert no_inline_scripts(html)


def test_confirmation_for_a_voice_call_uses_the_voice_rate_and_warns_when_short(alice, bob_profile):
    fund(alice, 30)
    html = browser(alice).get("/calls/new/", {"creator": "bob", "kind": "voice"}).content.decode()
    assert "25 tokens a minute" in html
    assert "45 tokens short" in html and 'href="/wallet/buy/"' in html


@pytest.mark.parametrize(
    ("query", "status"),
    [({"creator": "bob", "kind": "hologram"}, 400), ({"kind": "video"}, 400), ({"creator": "nobody", "kind": "video"}, 404)],
)
def test_bad_confirmation_requests_are_clear_4xx(alice, bob_profile, query, status):
    assert browser(alice).get("/calls/new/", query).status_code == status


def test_a_fan_who_is_not_a_creator_has_no_call_page(alice, mallory):
    assert browser(alice).get("/calls/new/", {"creator": "mallory", "kind": "video"}).status_code == 404


def test_confirmation_needs_a_signed_in_fan(bob_profile):
    response = Client().get("/calls/new/", {"creator": "bob", "kind": "video"})
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_starting_without_enough_tokens_is_a_402_with_a_buy_link_and_nothing_rings(alice, bob, bob_profile):
    fund(alice, 100)
    presence.mark_connected(bob.pk)
    response = browser(alice).post("/calls/new/", {"creator": "bob", "kind": "video"})
    assert response.status_code == 402
    html = response.content.decode()
    assert 'data-error-code="insufficient_funds"' in html
    assert "You need 20 more tokens" in html and 'href="/wallet/buy/"' in html
    assert not CallSession.objects.exists()


def test_starting_a_call_to_an_offline_creator_is_a_409(alice, bob_profile):
    fund(alice, 500)
    response = browser(alice).post("/calls/new/", {"creator": "bob", "kind": "video"})
    assert response.status_code == 409
    assert 'data-error-code="creator_offline"' in response.content.decode()
    assert not CallSession.objects.exists()


def test_starting_a_call_rings_and_goes_to_the_call_page(alice, bob, bob_profile):
    fund(alice, 500)
    presence.mark_connected(bob.pk)
    fan = browser(alice)
    response = fan.post("/calls/new/", {"creator": "bob", "kind": "voice"})
    call = CallSession.objects.get()
    assert (call.fan, call.creator, call.kind, call.rate, call.status) == (alice, bob, "voice", 25, "requested")
    assert response.status_code == 302 and response.url == f"/calls/{call.id}/"

    html = fan.get(response.url).content.decode()
    assert f'data-call-id="{call.id}"' in html and 'data-role="fan"' in html
    assert "Ringing bob" in html
    assert f'action="/calls/{call.id}/cancel/"' in html
    assert 'src="/static/js/call.js"' in html and no_inline_scripts(html)

    creator_html = browser(bob).get(response.url).content.decode()
    assert 'data-role="creator"' in creator_html and "is calling you" in creator_html
    assert f'action="/calls/{call.id}/accept/"' in creator_html


def make_call(fan, creator, **fields):
    # Test arrangement only: the calls core's services own every real write.
    return CallSession.objects.create(fan=fan, creator=creator, kind="video", rate=40, **fields)


def test_mallory_gets_the_same_404_as_for_a_call_that_does_not_exist(alice, bob, mallory):
    call = make_call(alice, bob, status="accepted")
    assert browser(mallory).get(f"/calls/{call.id}/").status_code == 404
    assert browser(mallory).get("/calls/00000000-0000-4000-8000-000000000000/").status_code == 404
    assert browser(alice).get("/calls/not-a-uuid/").status_code == 404
    assert browser(mallory).post(f"/calls/{call.id}/end/").status_code == 404
    call.refresh_from_db()
    assert call.status == "accepted"


def test_an_ended_call_shows_its_receipt(alice, bob):
    from django.utils import timezone

    call = make_call(
        alice, bob, status="ended", end_reason="completed", ended_at=timezone.now(), settled_at=timezone.now(),
        active_seconds=150, minutes_charged=3, tokens_charged=120, tokens_refunded=20, creator_earnings=80, platform_fee=20,
    )
    html = browser(alice).get(f"/calls/{call.id}/").content.decode()
    assert "Call ended: completed." in html
    for text in ("2:30", "Tokens charged</dt><dd>120", "Tokens refunded</dt><dd>20", "Tokens paid</dt><dd>100", "Creator earnings</dt><dd>80", "Platform fee</dt><dd>20"):
        assert text in html
    assert "data-hangup" not in html


def test_the_fan_cancels_a_ringing_call_without_javascript(alice, bob):
    call = make_call(alice, bob)
    fan = browser(alice)
    response = fan.post(f"/calls/{call.id}/cancel/")
    assert response.status_code == 302 and response.url == f"/calls/{call.id}/"
    call.refresh_from_db()
    assert (call.status, call.end_reason) == ("ended", "cancelled")


def test_a_refused_button_explains_itself_and_changes_nothing(alice, bob):
    call = make_call(alice, bob)
    fan = browser(alice)
    response = fan.post(f"/calls/{call.id}/accept/", follow=True)
    assert "Only the creator can accept a call." in response.content.decode()
    call.refresh_from_db()
    assert call.status == "requested"
    assert fan.post(f"/calls/{call.id}/explode/").status_code == 404
    assert fan.get(f"/calls/{call.id}/cancel/").status_code == 405


def test_ringer_is_included_for_creators_only(alice, bob):
    request = RequestFactory().get("/")
    request.user = bob
    html = render_to_string("calls/ringer.html", {"user": bob}, request=request)
    assert 'id="call-ringer"' in html and 'src="/static/js/call.js"' in html and no_inline_scripts(html)
    request.user = alice
    assert render_to_string("calls/ringer.html", {"user": alice}, request=request).strip() == ""
    assert render_to_string("calls/ringer.html", {"user": make_user()}, request=request).strip() == ""
