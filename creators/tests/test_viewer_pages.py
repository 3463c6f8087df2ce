"""Signed-in viewers get the shared Explore pages with their blocks applied on top.

A viewer's page must be exactly what their own query would return: nobody
they block (or who blocks them) ever, full pages, cursors that walk everyone
else once. These tests compare the shared path with the per-viewer query
(sharing off) page by page.
"""

import pytest
from django.test import Client

from accounts import services as account_services
from accounts.tests.factories import make_creator, make_user
from creators import selectors
from creators.models import CreatorProfile
from creators.tests.factories import make_creator_profile
from digis.realtime import presence

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(settings):
    settings.CREATORS_ANONYMOUS_CACHE_S = 30
    settings.CREATORS_ANONYMOUS_LOCAL_S = 0


@pytest.fixture
def creators(db):
    """30 creators, c00 the most followed; their popular order is c00..c29."""
    made = []
    for n in range(30):
        profile = make_creator_profile(make_creator(f"c{n:02d}"), categories=["music"])
        CreatorProfile.objects.filter(pk=profile.pk).update(follower_count=100 - n)
        made.append(profile.user)
    return made


def walk(api, url):
    """Every page from ``url`` on: [(usernames, next_cursor), ...]."""
    pages = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append(([card["username"] for card in body["results"]], body["next_cursor"]))
        url = body["next"]
        assert len(pages) < 50
    return pages


def names(users):
    return [user.username for user in users]


def block(alice, creators, *, blocks=(), blocked_by=()):
    for n in blocks:
        account_services.block_user(blocker=alice, blocked=creators[n])
    for n in blocked_by:
        account_services.block_user(blocker=creators[n], blocked=alice)


@pytest.mark.parametrize("sort", ["popular", "new", "online"])
def test_a_viewer_with_blocks_gets_full_pages_and_cursors_that_walk_everyone_else(shared, settings, creators, alice,
                                                                                 api_as, sort):
    # Given alice blocks three creators on the first page and one on the third,
    # and one creator blocks her
    block(alice, creators, blocks=(0, 2, 4, 12), blocked_by=(6,))
    presence.mark_connected(creators[3].pk)
    selectors.sweep_online_creators()
    url = f"/api/creators/?limit=5&sort={sort}"

    # When she pages through Explore from the shared pages
    pages = walk(api_as(alice), url)

    # Then nobody hidden appears, every page but the last is full, everyone else once
    seen = [name for page, _ in pages for name in page]
    hidden = set(names(creators[n] for n in (0, 2, 4, 6, 12)))
    assert not hidden & set(seen)
    assert sorted(seen) == sorted(set(names(creators)) - hidden)
    assert [len(page) for page, _ in pages] == [5, 5, 5, 5, 5]
    assert pages[-1][1] is None
    # and it is page for page, cursor for cursor, what her own query returns
    settings.CREATORS_ANONYMOUS_CACHE_S = 0
    assert walk(api_as(alice), url) == pages


def test_a_viewer_who_hides_more_than_the_spare_rows_still_gets_a_full_page(shared, settings, creators, alice, api_as):
    # Given alice hides the whole first page and more than the spare rows behind it
    hidden = range(0, 5 + selectors.SPARE_ROWS + 1)
    block(alice, creators, blocks=hidden)

    pages = walk(api_as(alice), "/api/creators/?limit=5")

    expected = names(creators[len(hidden):])
    assert [name for page, _ in pages for name in page] == expected
    assert pages[0][0] == expected[:5]
    settings.CREATORS_ANONYMOUS_CACHE_S = 0
    assert walk(api_as(alice), "/api/creators/?limit=5") == pages


def test_the_last_page_ends_where_the_viewers_list_ends(shared, settings, alice, api_as):
    # Six creators, pages of five: the sixth is the only one on page two, and alice blocks it
    made = [make_creator_profile(make_creator(f"d{n}")).user for n in range(6)]
    for n, user in enumerate(made):
        CreatorProfile.objects.filter(pk=user.pk).update(follower_count=10 - n)
    account_services.block_user(blocker=alice, blocked=made[5])

    assert walk(api_as(alice), "/api/creators/?limit=5") == [(names(made[:5]), None)]


def test_a_block_shows_on_the_next_request_although_the_page_is_shared(shared, creators, alice, api_as, client):
    # Given the shared pages exist and alice's block set is cached (empty)
    presence.mark_connected(creators[1].pk)
    selectors.sweep_online_creators()
    api = api_as(alice)
    assert walk(api, "/api/creators/?limit=5")[0][0] == names(creators[:5])
    client.force_login(alice)
    assert "@c01" in client.get("/explore/").content.decode()

    # When she blocks c01 and c03 blocks her
    block(alice, creators, blocks=(1,), blocked_by=(3,))

    # Then neither shows on the API, the page or its "Online now" strip
    assert walk(api, "/api/creators/?limit=5")[0][0] == names(creators[n] for n in (0, 2, 4, 5, 6))
    page = client.get("/explore/").content.decode()
    assert "@c01" not in page and "@c03" not in page and "@c00" in page

    # And an unblock shows at once too
    account_services.unblock_user(blocker=alice, blocked=creators[1])
    assert walk(api, "/api/creators/?limit=5")[0][0] == names(creators[n] for n in (0, 1, 2, 4, 5))
    assert "@c01" in client.get("/explore/").content.decode()


def test_the_strips_leave_out_whom_the_viewer_hides_and_stay_full(shared, settings, creators, alice, client):
    for user in creators[:12]:
        presence.mark_connected(user.pk)
    selectors.sweep_online_creators()
    block(alice, creators, blocks=(0, 5))

    assert [card["username"] for card in selectors.section("online", viewer=alice)] == names(
        creators[n] for n in (1, 2, 3, 4, 6, 7, 8, 9)
    )
    settings.CREATORS_ANONYMOUS_CACHE_S = 0
    assert [card["username"] for card in selectors.section("online", viewer=alice)] == names(
        creators[n] for n in (1, 2, 3, 4, 6, 7, 8, 9)
    )


def test_a_viewer_who_hides_nobody_on_the_page_gets_the_shared_bytes_without_a_query(
    shared, creators, alice, api, api_as, django_assert_num_queries
):
    # alice hides someone, but nobody the first page depends on (its 5 cards and the next row)
    block(alice, creators, blocks=(20,))
    anonymous = api.get("/api/creators/?limit=5")
    viewer = api_as(alice)
    viewer.get("/api/creators/?limit=5")  # her block set, read once

    with django_assert_num_queries(0):
        response = viewer.get("/api/creators/?limit=5")

    assert response.content == anonymous.content


def test_a_viewer_whose_blocks_change_the_page_costs_no_query_either(shared, creators, alice, api_as,
                                                                    django_assert_num_queries):
    block(alice, creators, blocks=(0, 1), blocked_by=(2,))
    viewer = api_as(alice)
    viewer.get("/api/creators/?limit=5")

    with django_assert_num_queries(0):
        body = viewer.get("/api/creators/?limit=5").json()

    assert [card["username"] for card in body["results"]] == names(creators[3:8])


def test_the_signed_in_page_queries_only_for_its_frame(shared, creators, alice, client, django_assert_max_num_queries):
    block(alice, creators, blocks=(0,))
    client.force_login(alice)
    client.get("/explore/")
    # The session, the user, the wallet chip and the bell: none of them Explore's.
    with django_assert_max_num_queries(4) as captured:
        page = client.get("/explore/").content.decode()
    assert "@c00" not in page and "@c01" in page
    assert not any("creators_" in query["sql"] or "accounts_block" in query["sql"] for query in captured.captured_queries)


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_a_session_json_get_skips_drf_and_answers_exactly_as_drf_does(shared, settings, creators, alice, accept,
                                                                      monkeypatch):
    from creators.api import CreatorListView

    dispatched = []
    original = CreatorListView.initial
    monkeypatch.setattr(CreatorListView, "initial", lambda self, request, *a, **k: (dispatched.append(1), original(self, request, *a, **k)))
    block(alice, creators, blocks=(1,))
    client = Client()
    client.force_login(alice)
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}

    # DRF's own answer (?format= always goes through DRF), then the plain request
    through_drf = client.get("/api/creators/?format=json&limit=3", **headers)
    assert dispatched == [1]
    plain = client.get("/api/creators/?limit=3", **headers)

    assert dispatched == [1]
    assert plain.content == through_drf.content
    assert [card["username"] for card in plain.json()["results"]] == ["c00", "c02", "c03"]
    for header in ("Content-Type", "Vary", "Allow"):
        assert plain.get(header) == through_drf.get(header), header


def test_an_inactive_session_user_is_answered_as_nobody(shared, creators):
    # Django's session auth finds no user for an inactive account, as DRF's would
    user = make_user("gone")
    client = Client()
    client.force_login(user)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert len(client.get("/api/creators/?limit=3").json()["results"]) == 3
