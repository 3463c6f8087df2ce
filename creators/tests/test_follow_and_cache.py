"""Follows (idempotent, counted once even under races) and card cache invalidation."""

import pytest
from django.core.cache import cache

from accounts.tests.factories import make_user
from creators import selectors, services
from creators.exceptions import CannotFollowSelf, CreatorNotFound
from creators.models import CreatorProfile, Follow
from creators.services import CARD_CACHE_KEY
from creators.tests.factories import make_creator_profile

pytestmark = pytest.mark.django_db


def test_follow_and_unfollow_are_idempotent(bob_profile, alice, api_as):
    api = api_as(alice)
    first = api.post("/api/creators/bob/follow/")
    again = api.post("/api/creators/bob/follow/")
    assert first.status_code == again.status_code == 200
    assert first.json() == {"following": True, "changed": True, "follower_count": 1}
    assert again.json() == {"following": True, "changed": False, "follower_count": 1}
    assert Follow.objects.filter(follower=alice).count() == 1
    gone = api.delete("/api/creators/bob/follow/")
    gone_again = api.delete("/api/creators/bob/follow/")
    assert gone.json() == {"following": False, "changed": True, "follower_count": 0}
    assert gone_again.json() == {"following": False, "changed": False, "follower_count": 0}
    assert CreatorProfile.objects.get(pk=bob_profile.pk).follower_count == 0


def test_follow_needs_sign_in_and_a_real_creator(bob_profile, api, api_as, alice):
    assert api.post("/api/creators/bob/follow/").status_code in (401, 403)
    response = api_as(alice).post("/api/creators/nobody/follow/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "creator_not_found"
    # A fan without a creator profile is not followable either.
    make_user("plainfan")
    assert api_as(alice).post("/api/creators/plainfan/follow/").status_code == 404


def test_cannot_follow_yourself(bob_profile, bob, api_as):
    response = api_as(bob).post("/api/creators/bob/follow/")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "cannot_follow_self"
    with pytest.raises(CannotFollowSelf):
        services.follow_creator(follower=bob, creator_user_id=bob.pk)


def test_blocked_fan_cannot_follow(bob_profile, bob, alice):
    from accounts.models import Block

    Block.objects.create(blocker=bob, blocked=alice)
    with pytest.raises(CreatorNotFound):
        services.follow_creator(follower=alice, creator_user_id=bob.pk)


def test_follow_form_on_the_profile_page(bob_profile, alice, client):
    client.force_login(alice)
    assert client.post("/@bob/follow/").status_code == 302
    assert "Following" in client.get("/@bob").content.decode()
    client.post("/@bob/follow/", {"action": "unfollow"})
    assert not Follow.objects.filter(follower=alice).exists()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_double_follow_counts_once():
    from accounts.tests.factories import make_creator
    from digis.testing import run_concurrently

    creator = make_creator_profile(make_creator("racer"))
    fan = make_user("clicker")
    others = [make_user() for _ in range(4)]
    calls = [lambda: services.follow_creator(follower=fan, creator_user_id=creator.pk) for _ in range(4)]
    calls += [lambda u=u: services.follow_creator(follower=u, creator_user_id=creator.pk) for u in others]
    results = run_concurrently(calls)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert results[:4].count(True) == 1
    assert CreatorProfile.objects.get(pk=creator.pk).follower_count == Follow.objects.filter(creator=creator).count() == 5
    results = run_concurrently([lambda: services.unfollow_creator(follower=fan, creator_user_id=creator.pk)] * 3)
    assert results.count(True) == 1
    assert CreatorProfile.objects.get(pk=creator.pk).follower_count == 4


# --- cache ------------------------------------------------------------------


def test_card_is_cached_and_dropped_on_every_visible_change(bob_profile, bob, alice, django_assert_num_queries):
    selectors.cards_for([bob.pk])
    assert cache.get(CARD_CACHE_KEY.format(bob.pk)) is not None
    with django_assert_num_queries(0):
        assert selectors.cards_for([bob.pk])[str(bob.pk)]["name"] == "Bob Builder"

    changes = [
        lambda: services.update_creator_profile(user=bob, display_name="Robert"),
        lambda: services.update_creator_profile(user=bob, video_call_rate=99),
        lambda: services.update_creator_profile(user=bob, categories=["gaming"]),
        lambda: services.set_do_not_disturb(user=bob, enabled=True),
        lambda: services.follow_creator(follower=alice, creator_user_id=bob.pk),
        lambda: services.unfollow_creator(follower=alice, creator_user_id=bob.pk),
    ]
    for change in changes:
        selectors.cards_for([bob.pk])
        change()
        assert cache.get(CARD_CACHE_KEY.format(bob.pk)) is None
    card = selectors.cards_for([bob.pk])[str(bob.pk)]
    assert (card["name"], card["video_call_rate"], card["categories"], card["do_not_disturb"], card["follower_count"]) == (
        "Robert",
        99,
        [{"slug": "gaming", "name": "Gaming"}],
        True,
        0,
    )


def test_api_shows_a_change_at_once(bob_profile, bob, api, api_as):
    assert api.get("/api/creators/bob/").json()["video_call_rate"] == 60
    assert api_as(bob).patch("/api/creators/me/", {"video_call_rate": 75}, format="json").status_code == 200
    assert api.get("/api/creators/bob/").json()["video_call_rate"] == 75
    assert api.get("/api/creators/").json()["results"][0]["video_call_rate"] == 75


@pytest.mark.django_db(transaction=True)
def test_invalidation_also_happens_after_commit(bob_profile, bob):
    # A reader that re-caches the old card between our delete and COMMIT
    # must not win: the key is dropped again once the transaction commits.
    from django.db import transaction

    with transaction.atomic():
        services.invalidate_creator_cache(user_id=bob.pk)
        cache.set(CARD_CACHE_KEY.format(bob.pk), {"stale": True})
    assert cache.get(CARD_CACHE_KEY.format(bob.pk)) is None


def test_account_changes_that_show_on_a_card_drop_it(bob_profile, bob):
    """The card falls back to account fields (name, avatar) and hides banned creators."""
    from accounts import services as account_services
    from accounts.tests.factories import make_user

    moderator = make_user("moderator", is_staff=True, is_superuser=True)
    changes = [
        lambda: account_services.update_profile(user=bob, display_name="Bobby"),
        lambda: account_services.remove_avatar(user=bob),
        lambda: account_services.ban_user(actor=moderator, user=bob, reason="spam"),
        lambda: account_services.unban_user(actor=moderator, user=bob, reason="appeal upheld"),
    ]
    for change in changes:
        selectors.cards_for([bob.pk])
        assert cache.get(CARD_CACHE_KEY.format(bob.pk)) is not None
        change()
        assert cache.get(CARD_CACHE_KEY.format(bob.pk)) is None
