"""Profiles: public page, API, editing one's own (and only one's own), availability."""

import pytest

from accounts.models import Role
from accounts.tests.factories import make_user
from creators import selectors, services
from creators.models import CreatorProfile
from creators.tests.factories import make_creator_profile
from digis.realtime import presence

pytestmark = pytest.mark.django_db


def test_ensure_creator_profile_is_idempotent_and_sets_the_role(alice):
    first = services.ensure_creator_profile(user=alice)
    second = services.ensure_creator_profile(user=alice)
    assert first.pk == second.pk == alice.pk
    alice.refresh_from_db()
    assert alice.role == Role.CREATOR
    assert CreatorProfile.objects.count() == 1


def test_public_page_shows_what_a_fan_needs(bob_profile, client):
    html = client.get("/@bob").content.decode()
    for needle in ["Bob Builder", "60 tokens / minute", "30 tokens / minute", "10 tokens", 'href="/explore/tag/music/"',
                   "#music", "0 followers".replace("0 f", '0</span> f'), "/messages/to/bob/", "Follow", "Offline"]:
        assert needle in html, needle
    assert client.get("/@BOB").status_code == 200  # usernames are case-insensitive
    assert client.get("/@nobody").status_code == 404


def test_call_buttons_link_to_calls_when_online(bob_profile, bob, client):
    presence.mark_connected(bob.pk)
    html = client.get("/@bob").content.decode()
    assert "/calls/new/?creator=bob&amp;kind=video" in html
    assert "/calls/new/?creator=bob&amp;kind=voice" in html


def test_availability_states(bob_profile, bob):
    other = make_creator_profile()
    assert selectors.availability([bob.pk, other.pk]) == {str(bob.pk): "offline", str(other.pk): "offline"}
    presence.mark_connected(bob.pk)
    assert selectors.availability([bob.pk])[str(bob.pk)] == "online"
    services.set_do_not_disturb(user=bob, enabled=True)
    assert selectors.availability([bob.pk])[str(bob.pk)] == "dnd"
    presence.mark_disconnected(bob.pk)
    assert selectors.availability([bob.pk])[str(bob.pk)] == "offline"


def test_availability_in_call_comes_from_calls(bob_profile, bob, monkeypatch):
    calls_selectors = pytest.importorskip("calls.selectors")
    monkeypatch.setattr(calls_selectors, "busy_user_ids", lambda ids: {str(bob.pk)})
    presence.mark_connected(bob.pk)
    assert selectors.availability([bob.pk])[str(bob.pk)] == "in_call"


def test_patch_me_changes_only_my_profile(bob_profile, bob, mallory, api_as):
    make_creator_profile(mallory)
    response = api_as(mallory).patch("/api/creators/me/", {"bio": "mallory was here"}, format="json")
    assert response.status_code == 200
    assert response.json()["username"] == "mallory"
    assert CreatorProfile.objects.get(pk=bob.pk).bio == "Builds things on video."


def test_there_is_no_way_to_edit_someone_elses_profile(bob_profile, mallory, api_as):
    api = api_as(mallory)
    for method in ("patch", "put", "post", "delete"):
        assert getattr(api, method)("/api/creators/bob/", {"bio": "x"}, format="json").status_code == 405
    # A fan has no profile of her own to edit.
    response = api.patch("/api/creators/me/", {"bio": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_a_creator"
    assert CreatorProfile.objects.get(pk=bob_profile.pk).bio == "Builds things on video."


def test_studio_is_for_signed_in_creators_only(bob_profile, bob, mallory, client):
    assert client.get("/settings/creator/").status_code == 302  # to sign in
    client.force_login(mallory)
    assert client.get("/settings/creator/").status_code == 403
    assert client.post("/settings/creator/", {"bio": "x"}).status_code == 403
    client.force_login(bob)
    html = client.get("/settings/creator/").content.decode()
    assert "Builds things on video." in html


def test_studio_saves_the_form_and_an_avatar(bob_profile, bob, client, settings, tmp_path):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    settings.MEDIA_ROOT = tmp_path
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "purple").save(buffer, "PNG")
    client.force_login(bob)
    response = client.post(
        "/settings/creator/",
        {
            "display_name": "Bob B.",
            "bio": "New bio",
            "video_call_rate": 80,
            "voice_call_rate": 40,
            "message_price": 7,
            "min_call_minutes": 3,
            "message_policy": "followers",
            "do_not_disturb": "on",
            "categories": ["gaming", "tech"],
            "avatar": SimpleUploadedFile("me.png", buffer.getvalue(), content_type="image/png"),
        },
    )
    assert response.status_code == 302
    profile = CreatorProfile.objects.get(pk=bob.pk)
    assert (profile.display_name, profile.video_call_rate, profile.min_call_minutes, profile.message_policy) == (
        "Bob B.", 80, 3, "followers")
    assert profile.do_not_disturb and profile.avatar.name.startswith("creators/avatars/")
    assert selectors.cards_for([bob.pk])[str(bob.pk)]["avatar_url"].startswith("/media/creators/avatars/")


@pytest.mark.parametrize(
    "payload, code, field",
    [
        ({"video_call_rate": 0}, "invalid", "video_call_rate"),
        ({"message_price": -5}, "invalid", "message_price"),
        ({"min_call_minutes": "many"}, "invalid", "min_call_minutes"),
        ({"message_policy": "nobody"}, "invalid", "message_policy"),
        ({"categories": ["music", "nope"]}, "unknown_category", "categories"),
        ({"categories": "music"}, "invalid", "categories"),
        ({"follower_count": 1000000}, "unknown_field", "follower_count"),
        ({"display_name": "x" * 81}, "invalid", "display_name"),
    ],
)
def test_patch_me_bad_input_is_a_400_and_changes_nothing(bob_profile, bob, api_as, payload, code, field):
    response = api_as(bob).patch("/api/creators/me/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert field in response.json()["error"]["fields"]
    profile = CreatorProfile.objects.get(pk=bob.pk)
    assert (profile.video_call_rate, profile.follower_count, profile.display_name) == (60, 0, "Bob Builder")


def test_patch_me_needs_a_json_object(bob_profile, bob, api_as):
    response = api_as(bob).patch("/api/creators/me/", "[1, 2]", content_type="application/json")
    assert response.status_code == 400


def test_database_backstops_on_rates(bob_profile):
    from django.db import IntegrityError, transaction

    for field, value in [("video_call_rate", 0), ("voice_call_rate", 0), ("message_price", -1), ("min_call_minutes", 0),
                         ("message_policy", "nobody")]:
        with pytest.raises(IntegrityError), transaction.atomic():
            CreatorProfile.objects.filter(pk=bob_profile.pk).update(**{field: value})


def test_categories_api(api):
    body = api.get("/api/categories/").json()
    assert {"slug": "gaming", "name": "Gaming"} in body["results"]


def test_home_shows_creators_online_first(db, client):
    quiet = make_creator_profile(display_name="Quiet One")
    chatty = make_creator_profile(display_name="Chatty One")
    presence.mark_connected(chatty.pk)
    html = client.get("/").content.decode()
    assert html.index("Chatty One") < html.index("Quiet One")


def test_anonymous_may_read_profiles(bob_profile, api):
    body = api.get("/api/creators/bob/").json()
    assert body["name"] == "Bob Builder" and body["is_following"] is False
    assert api.get("/api/creators/me/").status_code in (401, 403)


def test_fan_profile_is_not_a_creator_page(db, client):
    make_user("justafan")
    assert client.get("/@justafan").status_code == 404


def test_cards_escape_what_creators_write(db, client):
    make_creator_profile(display_name='<script>alert("x")</script>', bio="<b>bold</b>")
    for url in ["/explore/", "/"]:
        html = client.get(url).content.decode()
        assert '<script>alert("x")</script>' not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_online_sweep_task_shares_who_is_online(db, settings):
    from creators import selectors, tasks

    quiet, chatty = make_creator_profile(), make_creator_profile()
    presence.mark_connected(chatty.pk)
    assert tasks.sweep_online_creators() == 1
    selectors._online_memo.clear()
    assert selectors.online_creator_ids() == {str(chatty.pk)}
    presence.mark_connected(quiet.pk)
    selectors._online_memo.clear()
    assert selectors.online_creator_ids() == {str(chatty.pk)}  # the shared answer, until the next sweep
    tasks.sweep_online_creators()
    selectors._online_memo.clear()
    assert selectors.online_creator_ids() == {str(chatty.pk), str(quiet.pk)}
