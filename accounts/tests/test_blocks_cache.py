"""The cached block sets (blocked_user_ids_cached): one cache round trip, and exact across every change."""

import time

import pytest
from django.core.cache import cache, caches
from django.test import Client

from accounts import selectors, services
from accounts.models import Block, Role
from accounts.tests.factories import make_user
from digis import cache as digis_cache

pytestmark = pytest.mark.django_db


def test_a_cached_block_set_costs_no_query_and_matches_the_database(alice, bob, mallory, django_assert_num_queries):
    services.block_user(blocker=alice, blocked=bob)
    services.block_user(blocker=mallory, blocked=alice)
    assert selectors.blocked_user_ids_cached(alice) == {str(bob.pk), str(mallory.pk)}

    with django_assert_num_queries(0):
        assert selectors.blocked_user_ids_cached(alice) == {str(bob.pk), str(mallory.pk)}
    assert selectors.blocked_user_ids_cached(bob) == {str(alice.pk)}
    assert selectors.blocked_user_ids_cached(mallory) == {str(alice.pk)}


def test_blocking_and_unblocking_show_at_once_for_both_people(alice, bob):
    # Given both block sets are cached, empty
    assert selectors.blocked_user_ids_cached(alice) == frozenset()
    assert selectors.blocked_user_ids_cached(bob) == frozenset()

    # When alice blocks bob, then unblocks him
    services.block_user(blocker=alice, blocked=bob)
    assert selectors.blocked_user_ids_cached(alice) == {str(bob.pk)}
    assert selectors.blocked_user_ids_cached(bob) == {str(alice.pk)}
    services.unblock_user(blocker=alice, blocked=bob)

    # Then each read followed the change
    assert selectors.blocked_user_ids_cached(alice) == frozenset()
    assert selectors.blocked_user_ids_cached(bob) == frozenset()


def test_an_entry_read_before_a_change_committed_is_never_served(alice, bob, monkeypatch):
    # Given a reader read alice's blocks from the database just before alice's
    # block committed, and stores them after the change replaced her version
    real = selectors.blocked_user_ids

    def read_then_change_lands(user):
        rows = real(user)
        Block.objects.create(blocker=alice, blocked=bob)
        selectors.forget_cached_blocks([alice.pk, bob.pk])  # what block_user does after commit
        return rows

    monkeypatch.setattr(selectors, "blocked_user_ids", read_then_change_lands)
    assert selectors.blocked_user_ids_cached(alice) == frozenset()  # what that reader saw
    monkeypatch.setattr(selectors, "blocked_user_ids", real)

    # Then the next read does not serve what it stored
    assert selectors.blocked_user_ids_cached(alice) == {str(bob.pk)}


def test_a_lost_version_key_is_not_mistaken_for_the_old_one(alice, bob):
    assert selectors.blocked_user_ids_cached(alice) == frozenset()
    # Redis evicted the version but kept the entry; the block lands meanwhile
    cache.delete(selectors.BLOCKS_VERSION_KEY.format(alice.pk))
    Block.objects.create(blocker=alice, blocked=bob)
    assert selectors.blocked_user_ids_cached(alice) == {str(bob.pk)}


def test_deleting_an_account_drops_the_other_peoples_cached_blocks(alice, bob):
    services.block_user(blocker=alice, blocked=bob)
    assert selectors.blocked_user_ids_cached(bob) == {str(alice.pk)}

    services.delete_account(user=alice)

    assert selectors.blocked_user_ids_cached(bob) == frozenset()


def test_deleting_a_block_in_the_admin_goes_through_the_service(settings, alice, bob, mallory):
    settings.ACCOUNTS_ADMIN_REQUIRES_OTP = False
    services.block_user(blocker=alice, blocked=bob)
    services.block_user(blocker=mallory, blocked=bob)
    assert selectors.blocked_user_ids_cached(bob) == {str(alice.pk), str(mallory.pk)}
    admin = Client()
    admin.force_login(make_user("root", role=Role.ADMIN, is_staff=True, is_superuser=True))

    # One from its own page, the other with the list's bulk action
    first, second = Block.objects.order_by("id")
    response = admin.post(f"/admin/accounts/block/{first.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert selectors.blocked_user_ids_cached(bob) == {str(mallory.pk)}
    response = admin.post("/admin/accounts/block/", {"action": "delete_selected", "_selected_action": [second.pk], "post": "yes"})
    assert response.status_code == 302

    assert not Block.objects.exists()
    assert selectors.blocked_user_ids_cached(bob) == frozenset()
    assert selectors.blocked_user_ids_cached(alice) == frozenset()


def test_a_block_made_while_redis_is_away_is_still_honoured_when_it_is_back(alice, bob):
    """Forgetting is a delete, which the cache replays when Redis is back: the entry Redis kept
    from before the outage (alice blocks nobody) is not served afterwards."""
    if not isinstance(caches["default"], digis_cache.SharedPoolRedisCache):
        pytest.skip("needs the Redis cache (make test)")
    availability = digis_cache.availability
    assert selectors.blocked_user_ids_cached(alice) == frozenset()  # stored in Redis
    try:
        availability.failed(ConnectionError("test: Redis away"))
        services.block_user(blocker=alice, blocked=bob)  # its forget is a missed delete
        assert selectors.blocked_user_ids_cached(alice) == {str(bob.pk)}  # this process's stand-in
        availability.down_until = time.monotonic() - 1  # the next call probes Redis and finds it back
        assert selectors.blocked_user_ids_cached(alice) == {str(bob.pk)}
        assert availability.down_until == 0.0
    finally:
        availability.__init__()
