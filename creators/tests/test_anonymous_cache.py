"""Anonymous Explore responses are shared for a few seconds and rebuilt on any card change."""

import pytest

from accounts.models import Block
from accounts.tests.factories import make_creator, make_user
from creators import selectors, services
from creators.tests.factories import make_creator_profile

pytestmark = pytest.mark.django_db


def usernames(response):
    return [card["username"] for card in response.json()["results"]]


@pytest.fixture
def crowd(db, settings):
    settings.CREATORS_ANONYMOUS_CACHE_S = 30
    fans = [make_user() for _ in range(2)]
    ann = make_creator_profile(make_creator("ann"), display_name="Ann Gamer", categories=["gaming"])
    ben = make_creator_profile(make_creator("ben"), display_name="Ben Cook", categories=["cooking"])
    for fan in fans:
        services.follow_creator(follower=fan, creator_user_id=ben.pk)
    return {"ann": ann, "ben": ben}


def test_anonymous_explore_api_is_served_from_one_shared_entry(crowd, api, django_assert_num_queries):
    # Given a first anonymous request built the answer
    first = api.get("/api/creators/")
    assert usernames(first) == ["ben", "ann"]

    # When another anonymous visitor asks the same URL
    with django_assert_num_queries(0):
        second = api.get("/api/creators/")

    # Then it is the same answer, from the cache
    assert second.json() == first.json()
    assert second["Content-Type"] == first["Content-Type"]


def test_a_card_change_rebuilds_anonymous_responses_at_once(crowd, api, client):
    assert api.get("/api/creators/").json()["results"][1]["name"] == "Ann Gamer"
    assert "Ann Gamer" in client.get("/explore/").content.decode()

    # When Ann renames herself and a fan follows her
    services.update_creator_profile(user=crowd["ann"].user, display_name="Ann Renamed")
    services.follow_creator(follower=make_user(), creator_user_id=crowd["ann"].pk)

    # Then the next anonymous answers show it
    card = api.get("/api/creators/").json()["results"][1]
    assert (card["name"], card["follower_count"]) == ("Ann Renamed", 1)
    page = client.get("/explore/").content.decode()
    assert "Ann Renamed" in page and "Ann Gamer" not in page


def test_a_ban_rebuilds_anonymous_responses(crowd, api, settings):
    settings.CREATORS_PAGE_CACHE_S = 0
    assert usernames(api.get("/api/creators/")) == ["ben", "ann"]
    from accounts import services as account_services

    moderator = make_user(is_staff=True, is_superuser=True)
    account_services.ban_user(user=crowd["ben"].user, actor=moderator, reason="spam")
    assert usernames(api.get("/api/creators/")) == ["ann"]


def test_signed_in_viewers_never_get_the_shared_answer(crowd, api, api_as, client, alice):
    # Given the anonymous answers are cached and list Ben
    assert usernames(api.get("/api/creators/")) == ["ben", "ann"]
    assert "@ben" in client.get("/explore/").content.decode()

    # When Alice, who blocked Ben, asks
    Block.objects.create(blocker=alice, blocked=crowd["ben"].user)
    client.force_login(alice)

    # Then Ben is not there, on the API or the page
    assert usernames(api_as(alice).get("/api/creators/")) == ["ann"]
    page = client.get("/explore/").content.decode()
    assert "@ben" not in page and "@ann" in page


def test_the_page_frame_is_rendered_per_request(crowd, client, alice):
    # The cached part is the content; navigation follows the viewer.
    assert "Sign in" in client.get("/explore/").content.decode()
    client.force_login(alice)
    page = client.get("/explore/").content.decode()
    assert "Sign in" not in page and "/wallet/" in page


def test_distinct_queries_and_hosts_do_not_share_an_entry(crowd, api):
    assert usernames(api.get("/api/creators/?category=gaming")) == ["ann"]
    assert usernames(api.get("/api/creators/?category=cooking")) == ["ben"]
    body = api.get("/api/creators/?limit=1", HTTP_HOST="127.0.0.1").json()
    assert body["next"].startswith("http://127.0.0.1/")
    body = api.get("/api/creators/?limit=1", HTTP_HOST="localhost").json()
    assert body["next"].startswith("http://localhost/")


def test_a_change_while_building_is_not_stored_as_current(crowd):
    # Given a change lands while an anonymous response is being built
    def build_during_a_change():
        services.invalidate_creator_cache(user_id=crowd["ann"].pk)
        return "built before the change committed"

    assert selectors.anonymous_explore_cached(("probe",), build_during_a_change) == "built before the change committed"

    # Then the next request rebuilds instead of serving it
    assert selectors.anonymous_explore_cached(("probe",), lambda: "rebuilt") == "rebuilt"
    assert selectors.anonymous_explore_cached(("probe",), lambda: "not called") == "rebuilt"


def test_zero_seconds_turns_the_shared_answer_off(crowd, api, settings, django_assert_max_num_queries):
    settings.CREATORS_ANONYMOUS_CACHE_S = 0
    settings.CREATORS_PAGE_CACHE_S = 0
    api.get("/api/creators/")
    with django_assert_max_num_queries(5) as captured:
        api.get("/api/creators/")
    assert len(captured.captured_queries) >= 1


def test_an_entry_old_by_age_is_rebuilt_by_one_request_while_others_serve_it(crowd):
    import hashlib

    import time_machine
    from django.core.cache import cache

    parts = ("probe-age",)
    key = selectors.ANONYMOUS_RESPONSE_KEY.format(hashlib.sha256(repr(parts).encode()).hexdigest())
    with time_machine.travel("2026-03-01 12:00:00Z", tick=False):
        assert selectors.anonymous_explore_cached(parts, lambda: "first") == "first"
    with time_machine.travel("2026-03-01 12:00:20Z", tick=False):  # fresh (30 s)
        assert selectors.anonymous_explore_cached(parts, lambda: "not called") == "first"
    with time_machine.travel("2026-03-01 12:00:45Z", tick=False):  # old
        # While another request holds the rebuild, the old answer is served
        cache.add(key + ":rebuild", 1, 10)
        assert selectors.anonymous_explore_cached(parts, lambda: "not called") == "first"
        cache.delete(key + ":rebuild")
        # and the request that gets it rebuilds
        assert selectors.anonymous_explore_cached(parts, lambda: "second") == "second"
        assert cache.get(key + ":rebuild") is None


def test_an_entry_from_before_a_card_change_is_never_served(crowd):
    import hashlib

    from django.core.cache import cache

    parts = ("probe-generation",)
    key = selectors.ANONYMOUS_RESPONSE_KEY.format(hashlib.sha256(repr(parts).encode()).hexdigest())
    assert selectors.anonymous_explore_cached(parts, lambda: "before") == "before"
    services.invalidate_creator_cache(user_id=crowd["ann"].pk)
    cache.add(key + ":rebuild", 1, 10)  # even while someone rebuilds
    assert selectors.anonymous_explore_cached(parts, lambda: "after") == "after"


@pytest.mark.parametrize("accept", ["application/json", "application/json; indent=2", "*/*"])
def test_the_shared_api_answer_is_byte_for_byte_what_drf_renders(crowd, api, settings, accept):
    # Given the answer rendered by DRF for every request
    settings.CREATORS_ANONYMOUS_CACHE_S = 0
    fresh = api.get("/api/creators/", HTTP_ACCEPT=accept)

    # When it is shared
    settings.CREATORS_ANONYMOUS_CACHE_S = 30
    api.get("/api/creators/", HTTP_ACCEPT=accept)
    shared = api.get("/api/creators/", HTTP_ACCEPT=accept)

    # Then it is the same bytes and headers
    assert shared.content == fresh.content
    for header in ("Content-Type", "Vary", "Allow"):
        assert shared.get(header) == fresh.get(header), header


def test_the_browsable_api_still_renders_for_anonymous_viewers(crowd, api):
    response = api.get("/api/creators/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert "text/html" in response["Content-Type"]
    assert "ben" in response.content.decode()
