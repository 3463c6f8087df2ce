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


def test_signed_in_viewers_whose_blocks_change_the_answer_get_their_own(crowd, api, api_as, client, alice):
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


# --- the anonymous fast paths: the API without DRF's dispatch, the page as ready bytes ---


def _headers(response):
    return {name: value for name, value in response.items() if name not in ("X-Request-ID",)}


@pytest.fixture
def drf_dispatches(monkeypatch):
    """Counts requests that went through DRF's dispatch (its initial() checks)."""
    from creators.api import CreatorListView

    calls = []
    original = CreatorListView.initial

    def counting(self, request, *args, **kwargs):
        calls.append(request.path)
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(CreatorListView, "initial", counting)
    return calls


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_an_anonymous_json_get_skips_drf_and_answers_exactly_as_drf_does(crowd, api, settings, accept, drf_dispatches):
    # Given DRF's own answer (?format= always goes through DRF), built fresh
    settings.CREATORS_ANONYMOUS_CACHE_S = 0
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    through_drf = api.get("/api/creators/?format=json&limit=1", **headers)
    assert drf_dispatches == ["/api/creators/"]

    # When the same query comes as a plain anonymous JSON request, fresh and then shared
    fresh = api.get("/api/creators/?limit=1", **headers)
    settings.CREATORS_ANONYMOUS_CACHE_S = 30
    api.get("/api/creators/?limit=1", **headers)
    shared = api.get("/api/creators/?limit=1", **headers)

    # Then DRF was not involved, and the bytes and headers are DRF's
    assert drf_dispatches == ["/api/creators/"]
    for response in (fresh, shared):
        assert response.status_code == 200
        assert response.content == through_drf.content
        assert _headers(response) == _headers(through_drf)


@pytest.mark.parametrize(
    "extra",
    [
        {"HTTP_AUTHORIZATION": "Bearer not-a-token"},  # DRF answers 401
        {"HTTP_ACCEPT": "text/html"},
        {"HTTP_ACCEPT": "application/json; indent=2"},
        {"QUERY_STRING": "format=api"},
        {"QUERY_STRING": "sort=sideways"},  # a 400, rendered by DRF's handler
    ],
)
def test_anything_but_a_plain_anonymous_json_get_goes_through_drf(crowd, api, extra, drf_dispatches):
    api.get("/api/creators/", **extra)
    assert drf_dispatches == ["/api/creators/"]


def test_bad_input_is_still_a_400_with_its_code(crowd, api):
    response = api.get("/api/creators/?sort=sideways")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_sort"


def test_a_session_signed_in_viewer_gets_their_own_answer_on_the_api(crowd, client, alice):
    # Given the shared anonymous answer lists Ben
    assert [card["username"] for card in client.get("/api/creators/").json()["results"]] == ["ben", "ann"]

    # When Alice, who blocked Ben, asks with her session cookie (no Accept, no token)
    Block.objects.create(blocker=alice, blocked=crowd["ben"].user)
    client.force_login(alice)

    # Then her blocks apply
    assert [card["username"] for card in client.get("/api/creators/").json()["results"]] == ["ann"]


def test_anonymous_visitors_share_the_whole_page(crowd, client, django_assert_num_queries):
    from django.test import Client
    from django.test.signals import template_rendered

    first = client.get("/explore/?category=gaming")
    rendered = []
    template_rendered.connect(lambda sender, template, **kw: rendered.append(template.name), weak=False, dispatch_uid="t")
    try:
        with django_assert_num_queries(0):
            second = Client().get("/explore/?category=gaming")
    finally:
        template_rendered.disconnect(dispatch_uid="t")

    assert second.status_code == 200
    assert second.content == first.content
    assert rendered == []  # served as ready bytes
    assert "csrftoken" not in second.cookies  # nothing per visitor in it
    assert second["Content-Type"] == first["Content-Type"] == "text/html; charset=utf-8"
    assert "Cookie" in second["Vary"]


def test_an_anonymous_visitor_with_a_flash_message_sees_it_and_nobody_else_does(crowd, client):
    from django.contrib.messages import constants
    from django.contrib.messages.storage.base import Message
    from django.contrib.messages.storage.cookie import CookieStorage
    from django.test import Client, RequestFactory

    # Given the shared anonymous page exists
    assert "Ann Gamer" in Client().get("/explore/").content.decode()

    # When a visitor arrives with a flash message (cookie storage, as after signing out)
    storage = CookieStorage(RequestFactory().get("/"))
    client.cookies["messages"] = storage._encode([Message(constants.INFO, "You have signed out.")])
    page = client.get("/explore/").content.decode()

    # Then they see it once, with the same listing
    assert "You have signed out." in page and "Ann Gamer" in page
    assert "You have signed out." not in client.get("/explore/").content.decode()
    # and it never reaches the shared page
    assert "You have signed out." not in Client().get("/explore/").content.decode()


# --- each web process's own copy (CREATORS_ANONYMOUS_LOCAL_S) ----------------------


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(selectors, "_monotonic", lambda: now[0])
    return now


def test_a_process_answers_from_its_own_copy_within_the_window(crowd, api, settings, clock):
    from django.core.cache import cache

    settings.CREATORS_ANONYMOUS_LOCAL_S = 1.0
    first = api.get("/api/creators/")
    # Given another web process changes Ann's card (its row, her card entry and
    # the generation in Redis; this process's copies are not its to drop)
    ann = crowd["ann"]
    type(ann).objects.filter(pk=ann.pk).update(display_name="Ann Renamed")
    cache.delete(services.CARD_CACHE_KEY.format(ann.pk))
    cache.set(services.EXPLORE_GENERATION_KEY, "changed-elsewhere", None)

    # Within the window this process still answers from its own copy
    clock[0] += 0.9
    assert api.get("/api/creators/").content == first.content

    # After it, the generation is checked again and the answer is rebuilt
    clock[0] += 0.2
    assert "Ann Renamed" in api.get("/api/creators/").content.decode()


def test_a_change_in_this_process_drops_its_copies_at_once(crowd, api, settings, clock):
    settings.CREATORS_ANONYMOUS_LOCAL_S = 1.0
    api.get("/api/creators/")
    assert services.LOCAL_ANONYMOUS_RESPONSES

    services.update_creator_profile(user=crowd["ann"].user, display_name="Ann Now")

    assert not services.LOCAL_ANONYMOUS_RESPONSES
    assert "Ann Now" in api.get("/api/creators/").content.decode()


def test_a_copy_never_outlives_the_shared_entry(crowd, api, settings, clock):
    settings.CREATORS_ANONYMOUS_CACHE_S = 30
    settings.CREATORS_ANONYMOUS_LOCAL_S = 60  # misconfigured longer than the shared entry
    api.get("/api/creators/")
    assert services.LOCAL_ANONYMOUS_RESPONSES  # the shared page and the API's bytes
    for expires, _ in services.LOCAL_ANONYMOUS_RESPONSES.values():
        assert expires - clock[0] <= 30


def test_the_number_of_copies_is_bounded(crowd, api, settings, clock):
    settings.CREATORS_ANONYMOUS_LOCAL_S = 1.0
    for n in range(selectors.LOCAL_ANONYMOUS_MAX_ENTRIES + 10):
        selectors.anonymous_explore_cached(("probe", n), lambda n=n: n)
    assert len(services.LOCAL_ANONYMOUS_RESPONSES) <= selectors.LOCAL_ANONYMOUS_MAX_ENTRIES


def test_zero_turns_the_local_copies_off(crowd, api, settings, clock):
    settings.CREATORS_ANONYMOUS_LOCAL_S = 0
    api.get("/api/creators/")
    assert not services.LOCAL_ANONYMOUS_RESPONSES


def test_concurrent_misses_in_one_process_share_one_build(crowd, monkeypatch):
    import threading

    # Given a first request is building a missing entry
    go, first_started, second_waiting = threading.Event(), threading.Event(), threading.Event()
    builds = []

    def slow_build():
        builds.append("first")
        first_started.set()
        go.wait(10)
        return "built once"

    original_wait = selectors._wait_for

    def wait_and_tell(pending):
        second_waiting.set()
        return original_wait(pending)

    monkeypatch.setattr(selectors, "_wait_for", wait_and_tell)
    results = {}
    first = threading.Thread(target=lambda: results.update(first=selectors.anonymous_explore_cached(("herd",), slow_build)))
    first.start()
    assert first_started.wait(10)

    # When a second request misses the same entry meanwhile
    second = threading.Thread(
        target=lambda: results.update(second=selectors.anonymous_explore_cached(("herd",), lambda: builds.append("second")))
    )
    second.start()
    assert second_waiting.wait(10)
    go.set()
    first.join(10)
    second.join(10)

    # Then it waited for the first build instead of building again
    assert builds == ["first"]
    assert results == {"first": "built once", "second": "built once"}
    assert not selectors._building


def test_a_failed_build_is_not_shared(crowd):
    def broken():
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        selectors.anonymous_explore_cached(("broken",), broken)
    assert not selectors._building
    assert selectors.anonymous_explore_cached(("broken",), lambda: "works again") == "works again"
