"""The streams API: who may call what, the codes they get, and nothing changed on a refusal."""

import uuid

import pytest

from accounts.services import block_user
from streaming.models import ChatMessage, ChatRestriction, LiveStream
from streaming.tests.conftest import balance, live

pytestmark = pytest.mark.django_db


def test_go_live_list_and_read(host, api_as, alice):
    created = api_as(host).post("/api/streams/", {"title": "Studio", "audience": "everyone"}, format="json")
    assert created.status_code == 201, created.json()
    stream_id = created.json()["id"]
    listed = api_as(alice).get("/api/streams/?live=1").json()
    assert [s["id"] for s in listed["results"]] == [stream_id]
    detail = api_as(alice).get(f"/api/streams/{stream_id}/").json()
    assert (detail["title"], detail["status"], detail["summary"]) == ("Studio", "live", None)
    again = api_as(host).post("/api/streams/", {"title": "Twice"}, format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_live")


@pytest.mark.parametrize("query", ["live=2", "live=yes", "host=" + "x" * 200, "cursor=garbage"])
def test_bad_list_queries_are_400s_or_404s(api_as, alice, query):
    response = api_as(alice).get(f"/api/streams/?{query}")
    assert response.status_code in (400, 404)
    assert "error" in response.json()


def test_a_fan_cannot_go_live(api_as, alice):
    response = api_as(alice).post("/api/streams/", {"title": "Me"}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "not_a_creator")


def test_a_viewer_cannot_end_or_moderate(host, api_as, alice, mallory):
    stream = live(host)
    api_as(alice).post(f"/api/streams/{stream.pk}/chat/", {"text": "hi", "client_key": "k1"}, format="json")
    message_id = ChatMessage.objects.get().pk
    mallory_api = api_as(mallory)
    attempts = [
        ("post", f"/api/streams/{stream.pk}/end/", {}, "not_the_host"),
        ("put", f"/api/streams/{stream.pk}/goal/", {"title": "x", "target": 5}, "not_the_host"),
        ("patch", f"/api/streams/{stream.pk}/chat/settings/", {"slow_mode_s": 30}, "not_a_moderator"),
        ("delete", f"/api/streams/{stream.pk}/chat/{message_id}/", None, "not_a_moderator"),
        ("post", f"/api/streams/{stream.pk}/timeouts/", {"user": "alice", "seconds": 60}, "not_a_moderator"),
        ("post", f"/api/streams/{stream.pk}/bans/", {"user": "alice"}, "not_a_moderator"),
        ("delete", f"/api/streams/{stream.pk}/bans/{alice.pk}/", None, "not_a_moderator"),
        ("get", f"/api/streams/{stream.pk}/restrictions/", None, "not_a_moderator"),
    ]
    for method, url, body, code in attempts:
        response = getattr(mallory_api, method)(url, body, format="json") if body is not None else getattr(mallory_api, method)(url)
        assert (response.status_code, response.json()["error"]["code"]) == (403, code), url
    stream.refresh_from_db()
    assert stream.is_live and stream.slow_mode_s == 0 and stream.goal_target == 0
    assert not ChatRestriction.objects.exists() and ChatMessage.objects.get().deleted_at is None


def test_the_host_moderates_through_the_api(host, api_as, alice):
    stream = live(host)
    bob_api = api_as(host)
    assert bob_api.patch(f"/api/streams/{stream.pk}/chat/settings/", {"slow_mode_s": 2}, format="json").status_code == 400
    settings_ = bob_api.patch(f"/api/streams/{stream.pk}/chat/settings/", {"slow_mode_s": 10, "followers_only": True}, format="json")
    assert settings_.json() == {"slow_mode_s": 10, "followers_only": True, "followers_min_minutes": 0}
    timed = bob_api.post(f"/api/streams/{stream.pk}/timeouts/", {"user": alice.username, "seconds": 60}, format="json")
    assert timed.status_code == 201 and timed.json()["kind"] == "timeout"
    assert [r["user"]["username"] for r in bob_api.get(f"/api/streams/{stream.pk}/restrictions/").json()] == ["alice"]
    assert bob_api.delete(f"/api/streams/{stream.pk}/timeouts/{alice.pk}/").status_code == 204
    assert bob_api.post(f"/api/streams/{stream.pk}/bans/", {"user": str(uuid.uuid4())}, format="json").json()["error"]["code"] == "user_not_found"
    added = bob_api.post("/api/streams/moderators/", {"user": "alice"}, format="json")
    assert added.status_code == 201
    assert [m["user"]["username"] for m in bob_api.get("/api/streams/moderators/").json()] == ["alice"]
    assert api_as(alice).patch(f"/api/streams/{stream.pk}/chat/settings/", {"slow_mode_s": 0}, format="json").status_code == 200
    assert bob_api.delete(f"/api/streams/moderators/{alice.pk}/").status_code == 204


def test_tips_over_the_api_with_a_client_key(host, api_as, funded_alice):
    stream = live(host)
    alice_api = api_as(funded_alice)
    body = {"amount": 15, "message": "yay", "client_key": "tip-1"}
    first = alice_api.post(f"/api/streams/{stream.pk}/tips/", body, format="json")
    second = alice_api.post(f"/api/streams/{stream.pk}/tips/", body, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["tip"]["id"] == second.json()["tip"]["id"]
    assert balance(funded_alice) == 985
    conflict = alice_api.post(f"/api/streams/{stream.pk}/tips/", {**body, "amount": 16}, format="json")
    assert (conflict.status_code, conflict.json()["error"]["code"]) == (409, "idempotency_conflict")
    for bad in ({"amount": 0, "client_key": "a"}, {"amount": 5, "client_key": "bad key!"}, {"amount": "x", "client_key": "a"}, {}):
        assert alice_api.post(f"/api/streams/{stream.pk}/tips/", bad, format="json").status_code == 400
    assert balance(funded_alice) == 985


def test_join_returns_media_and_charges_a_ticket_once(host, api_as, funded_alice):
    stream = live(host, audience="ticket", ticket_price=30)
    alice_api = api_as(funded_alice)
    first = alice_api.post(f"/api/streams/{stream.pk}/join/")
    assert first.status_code == 200, first.json()
    assert (first.json()["role"], first.json()["media"]["provider"], first.json()["media"]["role"]) == ("viewer", "webrtc", "audience")
    alice_api.post(f"/api/streams/{stream.pk}/join/")
    assert balance(funded_alice) == 970
    host_join = api_as(host).post(f"/api/streams/{stream.pk}/join/").json()
    assert (host_join["role"], host_join["media"]["role"]) == ("host", "host")


def test_the_p2p_room_is_full_for_the_next_viewer(host, api_as, settings):
    from accounts.tests.factories import make_user

    settings.LIVE_P2P_MAX_VIEWERS = 2
    stream = live(host)
    for name in ("v1", "v2"):
        assert api_as(make_user(name)).post(f"/api/streams/{stream.pk}/join/").status_code == 200
    full = api_as(make_user("v3")).post(f"/api/streams/{stream.pk}/join/")
    assert (full.status_code, full.json()["error"]["code"]) == (409, "room_full")
    assert "full" in full.json()["error"]["message"]


def test_agora_gives_a_broadcaster_token_to_the_host_and_audience_tokens_to_viewers(host, api_as, alice, settings):
    settings.AGORA_APP_ID = "a" * 32
    settings.AGORA_APP_CERTIFICATE = "b" * 32
    stream = live(host)
    assert stream.media_provider == "agora"
    host_media = api_as(host).post(f"/api/streams/{stream.pk}/join/").json()["media"]
    viewer_media = api_as(alice).post(f"/api/streams/{stream.pk}/join/").json()["media"]
    assert (host_media["provider"], host_media["role"], viewer_media["role"]) == ("agora", "host", "audience")
    assert host_media["channel"] == viewer_media["channel"] == f"live-{stream.pk}"
    assert host_media["token"] != viewer_media["token"] and viewer_media["token"]


def test_a_blocked_viewer_sees_no_stream(host, api_as, alice):
    stream = live(host)
    block_user(blocker=host, blocked=alice)
    assert api_as(alice).get(f"/api/streams/{stream.pk}/").status_code == 404
    assert api_as(alice).get("/api/streams/?live=1").json()["results"] == []
    assert api_as(alice).post(f"/api/streams/{stream.pk}/join/").status_code == 404


def test_unknown_and_malformed_ids(api_as, alice):
    assert api_as(alice).get(f"/api/streams/{uuid.uuid4()}/").json()["error"]["code"] == "stream_not_found"
    assert api_as(alice).get("/api/streams/not-a-uuid/").status_code == 404


def test_anonymous_callers_are_refused(client, host):
    stream = live(host)
    assert client.get(f"/api/streams/{stream.pk}/").status_code in (401, 403)
    assert client.post("/api/streams/", {"title": "x"}).status_code in (401, 403)
    assert LiveStream.objects.count() == 1


def test_reports_on_a_stream_file_under_its_host(host, alice):
    from moderation.services import file_report

    stream = live(host)
    report = file_report(reporter=alice, target_kind="stream", target_id=str(stream.pk), reason="spam")
    assert (report.target_user, report.target_id) == (host, str(stream.pk))


def test_schema_describes_the_streams_api(api_as, alice):
    schema = api_as(alice).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in ("/api/streams/", "/api/streams/{id}/join/", "/api/streams/{id}/tips/", "/api/streams/{id}/goal/",
                 "/api/streams/{id}/bans/", "/api/streams/{id}/timeouts/", "/api/streams/{id}/chat/settings/"):
        assert path in paths, path
    assert "402" in paths["/api/streams/{id}/tips/"]["post"]["responses"]
