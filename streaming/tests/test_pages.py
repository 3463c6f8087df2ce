"""The live pages, as forms without JavaScript: go live, watch, buy a ticket, tip, chat, end, the summary."""

import pytest

from streaming.models import ChatMessage, LiveStream, Tip
from streaming.tests.conftest import balance, live

pytestmark = pytest.mark.django_db


def test_live_index_lists_who_is_live(client, host):
    assert "Nobody is live" in client.get("/live/").content.decode()
    live(host, title="Jazz night")
    page = client.get("/live/").content.decode()
    assert "Jazz night" in page and "/live/bob/" in page


def test_go_live_form_then_the_room(client, host):
    client.force_login(host)
    form = client.get("/live/start/")
    assert form.status_code == 200 and 'name="title"' in form.content.decode()
    bad = client.post("/live/start/", {"title": "", "audience": "everyone"})
    assert bad.status_code == 400
    response = client.post("/live/start/", {"title": "Hello world", "audience": "ticket", "ticket_price": "15"})
    assert response.status_code == 302 and response["Location"] == "/live/bob/"
    stream = LiveStream.objects.get()
    assert (stream.audience, stream.ticket_price) == ("ticket", 15)
    room = client.get("/live/bob/").content.decode()
    assert 'id="live-room"' in room and "End stream" in room and "streaming/live.js" in room
    assert client.get("/live/start/")["Location"] == "/live/bob/"  # already live: to the room


def test_a_fan_sees_the_go_live_page_explain_itself(client, alice):
    client.force_login(alice)
    assert "Going live is for creators" in client.get("/live/start/").content.decode()


def test_watch_tip_and_chat_without_javascript(client, host, funded_alice):
    live(host, title="No JS")
    client.force_login(funded_alice)
    page = client.get("/live/bob/").content.decode()
    assert "Send tip" in page and 'name="client_key"' in page
    key = page.split('name="client_key" value="')[1].split('"')[0]
    for _ in range(2):  # a double submit of the same form charges once
        response = client.post("/live/bob/tip/", {"amount": "12", "message": "hi", "client_key": key})
        assert response.status_code == 302
    assert balance(funded_alice) == 988 and Tip.objects.count() == 1
    client.post("/live/bob/chat/", {"text": "hello from a form", "client_key": "form-1"})
    assert ChatMessage.objects.get().text == "hello from a form"
    assert "hello from a form" in client.get("/live/bob/").content.decode()


def test_ticket_gate_and_purchase(client, host, funded_alice):
    live(host, audience="ticket", ticket_price=20)
    client.force_login(funded_alice)
    gate = client.get("/live/bob/").content.decode()
    assert "Buy a ticket: 20 tokens" in gate and 'id="live-room"' not in gate
    client.post("/live/bob/ticket/")
    client.post("/live/bob/ticket/")
    assert balance(funded_alice) == 980
    assert 'id="live-room"' in client.get("/live/bob/").content.decode()


def test_signed_out_visitors_are_asked_to_sign_in(client, host):
    live(host)
    assert "Sign in</a> to watch" in client.get("/live/bob/").content.decode()


def test_a_viewer_cannot_end_the_stream(client, host, mallory):
    live(host)
    client.force_login(mallory)
    client.post("/live/bob/end/")
    assert LiveStream.objects.get().is_live


def test_the_host_ends_and_sees_the_summary(client, host, funded_alice):
    from streaming import services

    stream = live(host)
    services.send_tip(stream_id=stream.pk, tipper=funded_alice, amount=33, client_key="t")
    client.force_login(host)
    client.post("/live/bob/end/")
    page = client.get("/live/bob/").content.decode()
    assert "summary" in page and "33 tokens from 1 tip" in page and "alice" in page
    assert "33 tokens" in client.get(f"/live/streams/{stream.pk}/summary/").content.decode()
    client.force_login(funded_alice)
    assert client.get(f"/live/streams/{stream.pk}/summary/").status_code == 404
    assert "33 tokens" not in client.get("/live/bob/").content.decode()


def test_unknown_creator_and_never_live(client, host):
    assert client.get("/live/nobody-here/").status_code == 404
    assert client.get("/live/bob/").status_code == 404


def test_the_profile_offers_the_live_room_while_live(client, host):
    assert "Watch live" not in client.get("/@bob").content.decode()  # no dead Tip button when not live
    stream = live(host)
    page = client.get("/@bob").content.decode()
    assert 'href="/live/bob/"' in page and "Watch live &amp; tip" in page
    explore = client.get("/explore/").content.decode()
    assert 'href="/live/bob/"' in explore  # the live card opens the room
    from streaming import services

    services.end_stream(stream_id=stream.pk, actor=host)
    assert "Watch live" not in client.get("/@bob").content.decode()
