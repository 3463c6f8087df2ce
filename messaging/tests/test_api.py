"""The messaging API: every endpoint, who may call it, errors, and that responses match the published schema."""

import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from ledger.services import balance_of
from messaging.models import Conversation, EscrowState, Message
from messaging.tests.factories import fund, make_messaging_creator, new_id, open_between, send

pytestmark = pytest.mark.django_db


# --- the published schema -------------------------------------------------------------------

_SCHEMA = {}


def schema():
    if not _SCHEMA:
        from drf_spectacular.generators import SchemaGenerator

        _SCHEMA.update(SchemaGenerator().get_schema(request=None, public=True))
    return _SCHEMA


def _resolve(node):
    """Inline $refs and turn OpenAPI 3.0's ``nullable`` into JSON Schema's null type."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return _resolve(schema()["components"]["schemas"][name])
        node = {key: _resolve(value) for key, value in node.items()}
        if node.pop("nullable", False):
            if "type" in node:
                node["type"] = [node["type"], "null"]
                if "enum" in node:
                    node["enum"] = [*node["enum"], None]
            else:
                node = {"anyOf": [node, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [_resolve(item) for item in node]
    return node


def matches_schema(response, path: str, method: str):
    """The response body validates against what /api/schema/ promises for this status."""
    import jsonschema

    operation = schema()["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method.upper()} {path} answered {response.status_code}, which the schema does not list"
    body_schema = _resolve(documented["content"]["application/json"]["schema"])
    jsonschema.validate(response.json(), body_schema)
    return response.json()


def png(size=(64, 48), exif=False) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, "purple")
    if exif:
        data = Image.Exif()
        data[0x010F] = "SpyCam"  # Make
        data[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS
        image.save(buffer, "JPEG", exif=data)
        return SimpleUploadedFile("photo.jpg", buffer.getvalue(), content_type="image/jpeg")
    image.save(buffer, "PNG")
    return SimpleUploadedFile("photo.png", buffer.getvalue(), content_type="image/png")


# --- conversations --------------------------------------------------------------------------


def test_open_a_conversation_by_username_then_find_it_again(api_as, funded_alice, bob, bob_profile):
    response = api_as(funded_alice).post("/api/conversations/", {"user": "bob"}, format="json")
    assert response.status_code == 201
    body = matches_schema(response, "/api/conversations/", "post")
    assert (body["side"], body["other"]["username"], body["price"], body["can_send"]) == ("fan", "bob", 10, True)
    again = api_as(funded_alice).post("/api/conversations/", {"user": str(bob.pk)}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]


@pytest.mark.parametrize("who, code, status", [
    ("nobody-here", "recipient_not_found", 404),
    ("alice", "cannot_message_self", 400),
    ("", "invalid", 400),
])
def test_opening_refusals(api_as, funded_alice, who, code, status):
    response = api_as(funded_alice).post("/api/conversations/", {"user": who}, format="json")
    assert response.status_code == status and response.json()["error"]["code"] == code
    matches_schema(response, "/api/conversations/", "post")


def test_the_inbox_lists_conversations_with_unread_counts_and_held_badges(api_as, convo, funded_alice, bob):
    send(funded_alice, convo, "paid one")
    send(funded_alice, convo, "paid two")
    as_bob = matches_schema(api_as(bob).get("/api/conversations/"), "/api/conversations/", "get")
    [row] = as_bob["results"]
    assert (row["unread_count"], row["held_count"], row["held_tokens"], row["side"]) == (2, 2, 20, "creator")
    assert row["last_message"]["text"] == "paid two" and as_bob["next_cursor"] is None
    unread = api_as(bob).get("/api/conversations/unread/")
    assert matches_schema(unread, "/api/conversations/unread/", "get")["messages"] == 2


def test_the_inbox_pages_by_cursor(api_as, bob, bob_profile):
    from accounts.tests.factories import make_user

    for n in range(5):
        fan = make_user(f"fan{n}")
        send(bob, open_between(bob, fan), f"hi {n}")
    seen, cursor = [], None
    while True:
        url = "/api/conversations/?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = matches_schema(api_as(bob).get(url), "/api/conversations/", "get")
        seen += [row["other"]["username"] for row in body["results"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [f"fan{n}" for n in reversed(range(5))]
    bad = api_as(bob).get("/api/conversations/?cursor=%%%")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"


# --- messages -------------------------------------------------------------------------------


def test_send_over_the_api_and_resend_safely(api_as, convo, funded_alice):
    url = f"/api/conversations/{convo.pk}/messages/"
    payload = {"client_message_id": str(uuid.uuid4()), "text": "<img src=x onerror=alert(1)>"}
    first = api_as(funded_alice).post(url, payload, format="json")
    assert first.status_code == 201
    body = matches_schema(first, "/api/conversations/{conversation_id}/messages/", "post")
    assert (body["text"], body["escrow_state"], body["price"]) == ("<img src=x onerror=alert(1)>", "held", 10)
    again = api_as(funded_alice).post(url, payload, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert balance_of(user=funded_alice) == 990


def test_insufficient_tokens_is_402_with_the_shortfall_and_nothing_stored(api_as, alice, bob, bob_profile):
    fund(alice, 3)
    conversation = open_between(alice, bob)
    response = api_as(alice).post(f"/api/conversations/{conversation.pk}/messages/",
                                  {"client_message_id": new_id(), "text": "hi"}, format="json")
    assert response.status_code == 402
    error = matches_schema(response, "/api/conversations/{conversation_id}/messages/", "post")["error"]
    assert (error["code"], error["shortfall"], error["price"], error["balance"], error["buy_url"]) == ("insufficient_funds", 7, 10, 3, "/wallet/buy/")
    assert Message.objects.count() == 0


def test_history_loads_upward_by_cursor_and_catches_up_after(api_as, bob, funded_alice, bob_profile):
    conversation = open_between(bob, funded_alice)
    ids = [send(bob, conversation, str(n)).pk for n in range(7)]
    url = f"/api/conversations/{conversation.pk}/messages/"
    path = "/api/conversations/{conversation_id}/messages/"
    page = matches_schema(api_as(funded_alice).get(url + "?limit=3"), path, "get")
    assert [m["id"] for m in page["results"]] == ids[4:] and page["before"] == ids[4]
    page = matches_schema(api_as(funded_alice).get(url + f"?limit=3&before={page['before']}"), path, "get")
    assert [m["id"] for m in page["results"]] == ids[1:4]
    page = matches_schema(api_as(funded_alice).get(url + f"?limit=3&before={page['before']}"), path, "get")
    assert [m["id"] for m in page["results"]] == ids[:1] and page["before"] is None
    after = matches_schema(api_as(funded_alice).get(url + f"?after={ids[4]}"), path, "get")
    assert [m["id"] for m in after["results"]] == ids[5:]
    for bad in ["?before=abc", "?limit=0", "?limit=1000", "?after=-1", "?before=99999999999999999999999"]:
        response = api_as(funded_alice).get(url + bad)
        assert response.status_code == 400, bad
        matches_schema(response, path, "get")


def test_an_image_is_re_encoded_without_metadata_and_shown_only_to_the_two(api_as, convo, funded_alice, bob, mallory, client):
    response = api_as(funded_alice).post(
        f"/api/conversations/{convo.pk}/messages/",
        {"client_message_id": new_id(), "text": "", "image": png(exif=True)}, format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    stored = Message.objects.get(pk=body["id"])
    with Image.open(stored.image.open("rb")) as image:
        assert image.format == "JPEG" and not image.getexif() and "exif" not in image.info
    assert body["image_url"] == f"/messages/image/{stored.pk}/"
    client.force_login(bob)
    shown = client.get(body["image_url"])
    assert shown.status_code == 200 and shown["Content-Type"] == "image/jpeg" and "private" in shown["Cache-Control"]
    client.force_login(mallory)
    assert client.get(body["image_url"]).status_code == 404


def test_a_file_that_is_not_an_image_is_refused(api_as, convo, funded_alice):
    bad = SimpleUploadedFile("x.png", b"<?php evil(); ?>", content_type="image/png")
    response = api_as(funded_alice).post(f"/api/conversations/{convo.pk}/messages/",
                                         {"client_message_id": new_id(), "image": bad}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["code"] == "image_wrong_type"
    assert Message.objects.count() == 0 and balance_of(user=funded_alice) == 1000


def test_mark_read_delete_and_report(api_as, convo, funded_alice, bob):
    message = send(bob, convo, "hello")
    read = api_as(funded_alice).post(f"/api/conversations/{convo.pk}/read/", {}, format="json")
    assert matches_schema(read, "/api/conversations/{conversation_id}/read/", "post")["read_id"] == message.pk
    report = api_as(funded_alice).post(f"/api/messages/{message.pk}/report/", {"reason": "spam", "note": "ads"}, format="json")
    assert report.status_code == 201
    matches_schema(report, "/api/messages/{message_id}/report/", "post")
    deleted = api_as(bob).delete(f"/api/messages/{message.pk}/")
    body = matches_schema(deleted, "/api/messages/{message_id}/", "delete")
    assert body["deleted"] is True and body["text"] == ""
    bad = api_as(funded_alice).post(f"/api/messages/{message.pk}/report/", {"reason": "boredom"}, format="json")
    assert bad.status_code == 400


def test_mallory_gets_404_for_everything_about_a_conversation_she_is_not_in(api_as, convo, funded_alice, bob, mallory):
    message = send(funded_alice, convo, "private")
    as_mallory = api_as(mallory)
    attempts = [
        ("get", f"/api/conversations/{convo.pk}/", None),
        ("get", f"/api/conversations/{convo.pk}/messages/", None),
        ("post", f"/api/conversations/{convo.pk}/messages/", {"client_message_id": new_id(), "text": "hi"}),
        ("post", f"/api/conversations/{convo.pk}/read/", {}),
        ("post", f"/api/messages/{message.pk}/report/", {"reason": "spam"}),
        ("delete", f"/api/messages/{message.pk}/", None),
        ("get", f"/api/conversations/{uuid.uuid4()}/", None),
        ("delete", "/api/messages/999999999999999999/", None),
    ]
    for method, url, payload in attempts:
        response = getattr(as_mallory, method)(url, payload, format="json") if payload is not None else getattr(as_mallory, method)(url)
        assert response.status_code == 404, (method, url, response.status_code)
        assert "private" not in response.content.decode()
    assert as_mallory.get("/api/conversations/").json()["results"] == []
    assert Message.objects.count() == 1 and Conversation.objects.get().fan_read_id > 0
    convo.refresh_from_db()
    assert convo.creator_read_id == 0
    from moderation.models import Report

    assert not Report.objects.exists()


def test_paths_with_ids_out_of_range_are_404_not_500(api_as, funded_alice):
    assert api_as(funded_alice).delete("/api/messages/99999999999999999999999999/").status_code == 404
    assert api_as(funded_alice).get("/api/conversations/not-a-uuid/").status_code == 404


def test_anonymous_callers_are_refused(api):
    for url in ["/api/conversations/", "/api/conversations/unread/", "/api/broadcasts/", "/api/messaging/settings/"]:
        assert api.get(url).status_code in (401, 403)


def test_read_receipt_setting(api_as, alice):
    response = api_as(alice).patch("/api/messaging/settings/", {"read_receipts": False}, format="json")
    assert matches_schema(response, "/api/messaging/settings/", "patch") == {"read_receipts": False}
    assert api_as(alice).get("/api/messaging/settings/").json() == {"read_receipts": False}
    assert api_as(alice).patch("/api/messaging/settings/", {"read_receipts": "maybe"}, format="json").status_code == 400


def test_the_detail_says_why_a_fan_cannot_write(api_as, funded_alice, bob):
    make_messaging_creator(bob, price=5, policy="followers")
    conversation = open_between(funded_alice, bob)
    body = matches_schema(api_as(funded_alice).get(f"/api/conversations/{conversation.pk}/"), "/api/conversations/{conversation_id}/", "get")
    assert (body["can_send"], body["cannot_send"], body["price"]) == (False, "followers_only", 5)


# --- broadcasts -------------------------------------------------------------------------------


def test_only_creators_broadcast_and_bad_input_is_400(api_as, alice, bob, bob_profile):
    refused = api_as(alice).post("/api/broadcasts/", {"text": "hi", "audience": "followers"}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_a_creator"
    for payload in [{"text": "", "audience": "followers"}, {"text": "hi", "audience": "everyone"},
                    {"text": "hi", "audience": "spenders", "min_spend": 0}]:
        response = api_as(bob).post("/api/broadcasts/", payload, format="json")
        assert response.status_code == 400, payload
        matches_schema(response, "/api/broadcasts/", "post")


def test_broadcasts_are_rate_limited(api_as, bob, bob_profile, settings):
    settings.MESSAGE_BROADCASTS_PER_HOUR = 1
    first = api_as(bob).post("/api/broadcasts/", {"text": "one", "audience": "followers"}, format="json")
    assert first.status_code == 202
    matches_schema(first, "/api/broadcasts/", "post")
    second = api_as(bob).post("/api/broadcasts/", {"text": "two", "audience": "followers"}, format="json")
    assert second.status_code == 429 and second.json()["error"]["code"] == "broadcast_rate_limited"


def test_a_broadcast_is_someone_elses_404(api_as, bob, bob_profile, mallory):
    created = api_as(bob).post("/api/broadcasts/", {"text": "one", "audience": "followers", "client_broadcast_id": "b-1"}, format="json")
    again = api_as(bob).post("/api/broadcasts/", {"text": "one", "audience": "followers", "client_broadcast_id": "b-1"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    url = f"/api/broadcasts/{created.json()['id']}/"
    assert matches_schema(api_as(bob).get(url), "/api/broadcasts/{broadcast_id}/", "get")["text"] == "one"
    assert api_as(mallory).get(url).status_code == 404


def test_escrow_states_in_the_api(api_as, convo, funded_alice, bob):
    message = send(funded_alice, convo, "paid")
    body = api_as(funded_alice).get(f"/api/conversations/{convo.pk}/messages/").json()["results"][0]
    assert body["escrow_state"] == EscrowState.HELD and body["reply_by"] is not None
    send(bob, convo, "answer")
    body = api_as(funded_alice).get(f"/api/conversations/{convo.pk}/messages/").json()["results"]
    assert [(m["id"], m["escrow_state"]) for m in body][0] == (message.pk, "released")
