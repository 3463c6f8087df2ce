"""Explore: filters, sorts, keyset pages, blocked users, query counts, bad input."""

import base64
import json

import pytest
import time_machine

from accounts.models import Block
from accounts.tests.factories import make_creator, make_user
from creators import services
from creators.tests.factories import make_creator_profile
from digis.realtime import presence

pytestmark = pytest.mark.django_db


def usernames(response):
    return [card["username"] for card in response.json()["results"]]


def all_pages(api, url):
    seen, pages = [], 0
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        seen += usernames(response)
        url = response.json()["next"]
        pages += 1
        assert pages < 100
    return seen


@pytest.fixture
def crowd(db):
    """Three creators with distinct follower counts and categories."""
    fans = [make_user() for _ in range(3)]
    ann = make_creator_profile(make_creator("ann"), display_name="Ann Gamer", categories=["gaming"], bio="speedruns")
    ben = make_creator_profile(make_creator("ben"), display_name="Ben Cook", categories=["cooking", "music"], bio="pasta")
    cid = make_creator_profile(make_creator("cid"), display_name="Cid Tunes", categories=["music"], bio="synth wave")
    for fan in fans:
        services.follow_creator(follower=fan, creator_user_id=ben.pk)
    for fan in fans[:2]:
        services.follow_creator(follower=fan, creator_user_id=cid.pk)
    return {"ann": ann, "ben": ben, "cid": cid}


def test_popular_is_the_default_sort(crowd, api):
    assert usernames(api.get("/api/creators/")) == ["ben", "cid", "ann"]


def test_new_sort_lists_the_newest_first(db, api):
    for day, name in enumerate(["old", "mid", "fresh"], start=1):
        with time_machine.travel(f"2026-01-0{day} 12:00Z"):
            make_creator_profile(make_creator(name))
    assert usernames(api.get("/api/creators/?sort=new")) == ["fresh", "mid", "old"]


def test_category_filter_and_tag_page(crowd, api, client):
    assert set(usernames(api.get("/api/creators/?category=music"))) == {"ben", "cid"}
    assert usernames(api.get("/api/creators/?category=gaming")) == ["ann"]
    page = client.get("/explore/tag/gaming/").content.decode()
    assert "@ann" in page and "@ben" not in page
    page = client.get("/explore/?category=cooking").content.decode()
    assert "@ben" in page and "@cid" not in page


def test_unknown_category_is_404_page_and_400_api(crowd, api, client):
    response = api.get("/api/creators/?category=nope")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_category"
    assert client.get("/explore/tag/nope/").status_code == 404
    assert client.get("/explore/?category=nope").status_code == 404


@pytest.mark.parametrize(
    "query, code",
    [
        ("sort=random", "invalid_sort"),
        ("cursor=%%%garbage", "invalid_cursor"),
        ("cursor=" + base64.urlsafe_b64encode(b'["new","2020"]').decode(), "invalid_cursor"),
        ("cursor=" + base64.urlsafe_b64encode(b'["popular",-1,"not-a-uuid"]').decode(), "invalid_cursor"),
        ("cursor=" + base64.urlsafe_b64encode(b'{"a":1}').decode(), "invalid_cursor"),
        ("online=yes", "invalid"),
        ("limit=0", "invalid"),
        ("limit=abc", "invalid"),
        ("q=" + "x" * 101, "invalid"),
    ],
)
def test_bad_input_is_a_400_with_a_code(crowd, api, client, query, code):
    response = api.get(f"/api/creators/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert client.get(f"/explore/?{query}").status_code == 400


def test_a_cursor_from_another_sort_is_refused(crowd, api):
    cursor = api.get("/api/creators/?limit=1").json()["next_cursor"]
    response = api.get(f"/api/creators/?sort=new&cursor={cursor}")
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_search_matches_name_username_and_bio(crowd, api):
    assert usernames(api.get("/api/creators/?q=pasta")) == ["ben"]
    assert usernames(api.get("/api/creators/?q=Tunes")) == ["cid"]
    assert usernames(api.get("/api/creators/?q=ann")) == ["ann"]
    assert usernames(api.get("/api/creators/?q=zzzz")) == []


def test_online_filter_and_sort(crowd, api):
    presence.mark_connected(crowd["ann"].pk)
    assert usernames(api.get("/api/creators/?online=1")) == ["ann"]
    assert usernames(api.get("/api/creators/?sort=online")) == ["ann", "ben", "cid"]
    card = api.get("/api/creators/?online=1").json()["results"][0]
    assert card["availability"] == "online"


def test_online_sort_pages_through_everyone_once(crowd, api):
    presence.mark_connected(crowd["cid"].pk)
    assert all_pages(api, "/api/creators/?sort=online&limit=1") == ["cid", "ben", "ann"]


def test_online_sort_is_online_by_followers_then_the_rest_across_page_boundaries(db, api):
    # Given five creators with distinct follower counts, two of them online
    from creators.models import CreatorProfile

    made = {}
    for n, name in enumerate(["top", "second", "third", "fourth", "fifth"]):
        profile = make_creator_profile(make_creator(name))
        CreatorProfile.objects.filter(pk=profile.pk).update(follower_count=50 - n)
        made[name] = profile
    presence.mark_connected(made["third"].pk)
    presence.mark_connected(made["fifth"].pk)

    # When paged two and three at a time (cursors inside and across the online part)
    expected = ["third", "fifth", "top", "second", "fourth"]
    assert all_pages(api, "/api/creators/?sort=online&limit=2") == expected
    assert all_pages(api, "/api/creators/?sort=online&limit=1") == expected
    assert all_pages(api, "/api/creators/?sort=online&limit=3") == expected
    # Then online first, each part most followed first; ?online=1 stops after the online part
    assert all_pages(api, "/api/creators/?sort=online&online=1&limit=1") == ["third", "fifth"]


def test_explore_page_shows_online_now_section(crowd, client):
    presence.mark_connected(crowd["cid"].pk)
    page = client.get("/explore/").content.decode()
    assert "Online now" in page
    assert page.index("Online now") < page.index("@cid")


def test_a_category_page_shows_only_that_categorys_creators_online(crowd, client):
    # cid (music) and ann (gaming) are online: #music's strip shows cid, not ann
    for name in ("ann", "cid"):
        presence.mark_connected(crowd[name].pk)
    page = client.get("/explore/tag/music/").content.decode()
    strip = page[page.index("Online now"):page.index('id="all-creators"')]
    assert "@cid" in strip and "@ann" not in strip
    # while the whole of Explore shows both
    page = client.get("/explore/").content.decode()
    strip = page[page.index("Online now"):page.index('id="all-creators"')]
    assert "@cid" in strip and "@ann" in strip


def test_blocked_creators_never_appear(crowd, api_as, alice):
    Block.objects.create(blocker=crowd["ann"].user, blocked=alice)  # ann blocked alice
    Block.objects.create(blocker=alice, blocked=crowd["cid"].user)  # alice blocked cid
    api = api_as(alice)
    assert usernames(api.get("/api/creators/")) == ["ben"]
    assert api.get("/api/creators/ann/").status_code == 404
    assert api.get("/api/creators/cid/").status_code == 404
    presence.mark_connected(crowd["ann"].pk)
    assert usernames(api.get("/api/creators/?online=1")) == []
    assert api.post("/api/creators/ann/follow/").status_code == 404


def test_blocked_creators_are_hidden_on_pages(crowd, client, alice):
    Block.objects.create(blocker=crowd["ann"].user, blocked=alice)
    client.force_login(alice)
    presence.mark_connected(crowd["ann"].pk)
    assert "@ann" not in client.get("/explore/").content.decode()
    assert client.get("/@ann").status_code == 404


def test_inactive_and_banned_creators_are_not_listed(crowd, api):
    from django.utils import timezone

    from accounts.models import User

    User.objects.filter(pk=crowd["ann"].pk).update(is_active=False)
    User.objects.filter(pk=crowd["ben"].pk).update(banned_at=timezone.now())
    assert usernames(api.get("/api/creators/")) == ["cid"]


def test_keyset_pages_have_no_duplicates_or_gaps_while_creators_join(db, api):
    for n in range(7):
        make_creator_profile(make_creator(f"early{n}"))
    early = {f"early{n}" for n in range(7)}
    for sort in ("popular", "new", "online"):
        seen = []
        url = f"/api/creators/?limit=2&sort={sort}"
        joined = 0
        while url:
            body = api.get(url).json()
            seen += [card["username"] for card in body["results"]]
            # Someone joins between every page request.
            make_creator_profile(make_creator(f"late{sort}{joined}"))
            joined += 1
            url = body["next"]
        assert len(seen) == len(set(seen)), f"duplicates with sort={sort}: {seen}"
        assert early <= set(seen), f"gaps with sort={sort}"


def test_ties_on_the_sort_key_page_cleanly(db, api):
    # Everyone has 0 followers: the id breaks the tie.
    for n in range(9):
        make_creator_profile(make_creator(f"tie{n}"))
    seen = all_pages(api, "/api/creators/?limit=4")
    assert sorted(seen) == sorted(f"tie{n}" for n in range(9))


def test_load_more_link_works_without_js(db, client):
    for n in range(30):
        make_creator_profile(make_creator(f"c{n:02d}"))
    first = client.get("/explore/?sort=new")
    html = first.content.decode()
    assert 'id="load-more"' in html
    next_url = html.split('id="load-more" href="')[1].split('"')[0].replace("&amp;", "&")
    second = client.get(next_url).content.decode()
    assert "sort=new" in next_url
    first_names = {part.split("<")[0] for part in html.split('class="muted">@')[1:]}
    second_names = {part.split("<")[0] for part in second.split('class="muted">@')[1:]}
    assert len(first_names) == 24 and len(second_names) == 6 and not first_names & second_names


def test_query_count_does_not_grow_with_the_page(db, api_as, alice, django_assert_max_num_queries):
    for n in range(40):
        make_creator_profile(make_creator(f"q{n}"), categories=["music", "gaming"])
    api = api_as(alice)
    # Cold cache: blocks, page keys, profiles+users, categories (+ calls' busy list).
    with django_assert_max_num_queries(6):
        assert len(api.get("/api/creators/?limit=40").json()["results"]) == 40
    # Warm cache: the cards come from the cache.
    with django_assert_max_num_queries(4):
        api.get("/api/creators/?limit=40&category=music")


def test_explore_page_query_count(db, client, alice, django_assert_max_num_queries):
    for n in range(30):
        make_creator_profile(make_creator(f"p{n}"), categories=["music"])
    client.force_login(alice)
    client.get("/explore/")
    with django_assert_max_num_queries(10):
        assert client.get("/explore/?sort=new").status_code == 200


def test_cursor_round_trips_through_the_next_link(crowd, api):
    body = api.get("/api/creators/?limit=2&category=music&q=").json()
    assert body["next"] is None  # two music creators, both on this page
    body = api.get("/api/creators/?limit=1").json()
    sort, *_ = json.loads(base64.urlsafe_b64decode(body["next_cursor"] + "=="))
    assert sort == "popular"
    assert "limit=1" in body["next"]


def test_explore_page_cache_is_shared_briefly_but_not_with_viewers_who_block(crowd, api, api_as, alice, settings,
                                                                             django_assert_max_num_queries):
    settings.CREATORS_PAGE_CACHE_S = 5
    assert usernames(api.get("/api/creators/")) == ["ben", "cid", "ann"]
    with django_assert_max_num_queries(0):  # order and cards from the cache
        assert usernames(api.get("/api/creators/")) == ["ben", "cid", "ann"]
    Block.objects.create(blocker=alice, blocked=crowd["ben"].user)
    assert usernames(api_as(alice).get("/api/creators/")) == ["cid", "ann"]
    # Cards stay fresh even when the order comes from the cache.
    services.update_creator_profile(user=crowd["ann"].user, display_name="Ann Renamed")
    assert api.get("/api/creators/").json()["results"][2]["name"] == "Ann Renamed"


def test_many_online_creators_list_the_same_as_few(db, api, client, monkeypatch, settings):
    """Past 50 ids, the online set goes to PostgreSQL as one array parameter
    (selectors._with_ids): the online sort, the online filter and the strip must
    list exactly what one parameter per id lists."""
    from creators import selectors

    settings.CREATORS_ANONYMOUS_CACHE_S = settings.CREATORS_PAGE_CACHE_S = 0  # each answer computed, not kept
    people = [make_creator_profile(make_creator(f"many{n:02d}"), display_name=f"Many {n}") for n in range(70)]
    for profile in people[:60]:
        presence.mark_connected(profile.pk)

    def answers():
        page = client.get("/explore/").content.decode()
        return (
            all_pages(api, "/api/creators/?sort=online&limit=7"),
            all_pages(api, "/api/creators/?online=1&limit=7"),
            page[page.index("Online now"):page.index('id="all-creators"')],
        )

    selectors.sweep_online_creators()
    as_array = answers()
    monkeypatch.setattr(
        selectors, "_with_ids",
        lambda queryset, ids, exclude=False: queryset.exclude(user_id__in=list(ids)) if exclude else queryset.filter(user_id__in=list(ids)),
    )
    assert answers() == as_array
    assert len(as_array[0]) == 70 and len(as_array[1]) == 60
