"""Messaging pages work without JavaScript: read, send, delete, report, start from a profile; outsiders get 404."""

import re

import pytest
from django.test import Client

from ledger.services import balance_of
from messaging.models import Conversation, Message
from messaging.tests.factories import fund, open_between, send

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def client_id(html: str) -> str:
    return re.search(r'name="client_message_id" value="([^"]+)"', html).group(1)


def test_the_inbox_lists_conversations_with_badges(convo, funded_alice, bob):
    send(funded_alice, convo, "hello there")
    page = as_user(bob).get("/messages/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "hello there" in html and "1 paid · awaiting your reply" in html and 'class="unread-count"' in html
    assert 'href="/messages/broadcasts/"' in html  # bob is a creator
    fan_page = as_user(funded_alice).get("/messages/").content.decode()
    assert "10 tokens held · awaiting reply" in fan_page and "You: hello there" in fan_page


def test_messages_are_rendered_as_text_never_as_html(convo, funded_alice, bob):
    send(funded_alice, convo, '<script>alert("x")</script><img src=x onerror=alert(1)>')
    html = as_user(bob).get(f"/messages/{convo.pk}/").content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    inbox = as_user(bob).get("/messages/").content.decode()
    assert "<script>alert" not in inbox


def test_send_without_javascript_and_a_double_submit_stores_once(convo, funded_alice):
    client = as_user(funded_alice)
    page = client.get(f"/messages/{convo.pk}/").content.decode()
    form = {"client_message_id": client_id(page), "text": "from the form"}
    first = client.post(f"/messages/{convo.pk}/send/", form)
    assert first.status_code == 302 and first["Location"].startswith(f"/messages/{convo.pk}/#m")
    client.post(f"/messages/{convo.pk}/send/", form)
    assert Message.objects.filter(text="from the form").count() == 1
    assert balance_of(user=funded_alice) == 990
    html = client.get(f"/messages/{convo.pk}/").content.decode()
    assert "from the form" in html and "held · 10 tokens, refunded if bob doesn't reply by" in html
    mine = Message.objects.get(text="from the form")
    assert f'action="/messages/{convo.pk}/delete/{mine.pk}/"' in html  # own message, inside the delete window
    assert "flash-stack" not in html


def test_the_fan_who_cannot_afford_it_sees_why_and_a_way_to_buy(alice, bob, bob_profile):
    fund(alice, 4)
    conversation = open_between(alice, bob)
    client = as_user(alice)
    page = client.get(f"/messages/{conversation.pk}/").content.decode()
    response = client.post(f"/messages/{conversation.pk}/send/", {"client_message_id": client_id(page), "text": "hi"})
    html = response.content.decode()
    assert response.status_code == 402
    assert "This message costs 10 tokens; you have 4." in html and 'href="/wallet/buy/"' in html
    assert ">hi</textarea>" in html  # what she wrote is kept
    assert Message.objects.count() == 0


def test_the_creator_sees_what_waits_for_a_reply_and_answering_earns_it(convo, funded_alice, bob):
    send(funded_alice, convo, "question")
    client = as_user(bob)
    page = client.get(f"/messages/{convo.pk}/").content.decode()
    assert "paid 10 tokens · reply by" in page and "1 paid message (10 tokens) waits for your reply" in page
    client.post(f"/messages/{convo.pk}/send/", {"client_message_id": client_id(page), "text": "answer"})
    assert "answered · 10 tokens" in client.get(f"/messages/{convo.pk}/").content.decode()


def test_opening_a_thread_marks_it_read(convo, funded_alice, bob):
    message = send(funded_alice, convo)
    as_user(bob).get(f"/messages/{convo.pk}/")
    convo.refresh_from_db()
    assert convo.creator_read_id == message.pk


def test_older_messages_page_without_javascript(convo, bob, funded_alice, settings):
    settings.MESSAGE_RATE_PER_MINUTE = 100
    ids = [send(bob, convo, f"message {n}").pk for n in range(35)]
    html = as_user(funded_alice).get(f"/messages/{convo.pk}/").content.decode()
    assert f'href="?before={ids[5]}"' in html and "message 4<" not in html
    older = as_user(funded_alice).get(f"/messages/{convo.pk}/?before={ids[5]}").content.decode()
    assert "message 4<" in older and "message 0<" in older and "Back to the newest messages" in older


def test_delete_and_report_forms(convo, funded_alice, bob):
    held = send(funded_alice, convo, "decline me")
    creator = as_user(bob)
    page = creator.get(f"/messages/{convo.pk}/").content.decode()
    assert f'action="/messages/{convo.pk}/delete/{held.pk}/"' in page and "Decline and refund" in page
    response = creator.post(f"/messages/{convo.pk}/delete/{held.pk}/")
    assert response.status_code == 302
    assert balance_of(user=funded_alice) == 1000
    # the flash message shows as a flash message (the thread's own list is not in its way)
    after = creator.get(response["Location"]).content.decode()
    assert '<p class="flash flash-success">Message deleted.</p>' in after
    rude = send(bob, convo, "rude")
    response = as_user(funded_alice).post(f"/messages/{convo.pk}/report/{rude.pk}/", {"reason": "harassment"})
    assert response.status_code == 302
    from moderation.models import Report

    assert Report.objects.get().target_id == str(rude.pk)


def test_message_button_starts_a_conversation_with_a_first_message(funded_alice, bob, bob_profile):
    client = as_user(funded_alice)
    page = client.get("/messages/to/bob/")
    html = page.content.decode()
    assert page.status_code == 200 and "Each message costs 10 tokens" in html
    response = client.post("/messages/to/bob/", {"client_message_id": client_id(html), "text": "Hi Bob"})
    conversation = Conversation.objects.get()
    assert response.status_code == 302 and response["Location"].startswith(f"/messages/{conversation.pk}/")
    assert client.get("/messages/to/BOB/")["Location"] == f"/messages/{conversation.pk}/"
    assert client.get("/messages/to/nobody-at-all/").status_code == 404


def test_the_profile_and_explore_cards_have_a_message_button(client, bob, bob_profile):
    profile = client.get("/@bob").content.decode()
    assert 'href="/messages/to/bob/" data-message-to="bob"' in profile
    explore = client.get("/explore/").content.decode()
    assert 'data-message-to="bob"' in explore


def test_the_pop_up_is_on_every_page_for_signed_in_people(funded_alice, client):
    assert 'id="chat-dock"' not in client.get("/explore/").content.decode()
    html = as_user(funded_alice).get("/explore/").content.decode()
    assert 'id="chat-dock"' in html and "messaging/popup" in html


def test_outsiders_and_anonymous_visitors(convo, funded_alice, mallory, client):
    message = send(funded_alice, convo, "private")
    assert client.get(f"/messages/{convo.pk}/").status_code == 302  # to sign in
    intruder = as_user(mallory)
    assert intruder.get(f"/messages/{convo.pk}/").status_code == 404
    assert intruder.post(f"/messages/{convo.pk}/send/", {"client_message_id": "x1", "text": "hi"}).status_code == 404
    assert intruder.post(f"/messages/{convo.pk}/delete/{message.pk}/").status_code == 404
    assert intruder.post(f"/messages/{convo.pk}/report/{message.pk}/", {"reason": "spam"}).status_code == 404
    assert Message.objects.count() == 1


def test_read_receipts_can_be_turned_off_from_the_inbox(alice):
    client = as_user(alice)
    client.post("/messages/settings/", {})
    from messaging.selectors import read_receipts_on

    assert read_receipts_on(alice) is False
    client.post("/messages/settings/", {"read_receipts": "on"})
    assert read_receipts_on(alice) is True


def test_broadcast_page_is_for_creators(alice, bob, bob_profile):
    assert as_user(alice).get("/messages/broadcasts/").status_code == 403
    page = as_user(bob).get("/messages/broadcasts/")
    assert page.status_code == 200 and "Broadcast to your fans" in page.content.decode()


def test_studio_sets_free_messages_and_a_minimum_spend(bob, bob_profile):
    from creators.models import CreatorProfile

    client = as_user(bob)
    form = {"display_name": "Bob", "bio": "", "video_call_rate": 60, "voice_call_rate": 30, "message_price": 0,
            "min_call_minutes": 1, "message_policy": "paying_fans", "message_min_spend": 250}
    assert client.post("/settings/creator/", form).status_code == 302
    profile = CreatorProfile.objects.get(pk=bob.pk)
    assert (profile.message_price, profile.message_policy, profile.message_min_spend) == (0, "paying_fans", 250)
    html = client.get("/@bob").content.decode()
    assert "free" in html and "at least 250 tokens" in html
