"""Reads other apps share: who blocked whom."""

import uuid

from django.core.cache import cache
from django.db.models import Q

from accounts.models import Block

# A user's block set (both directions) as cached for hot read paths, and the
# version it must carry to be served (blocked_user_ids_cached).
BLOCKS_CACHE_KEY = "accounts:blocks:v1:{}"
BLOCKS_VERSION_KEY = "accounts:blocks_version:v1:{}"
# Correctness comes from the version, not from expiry: this only bounds what
# idle users leave in the cache.
BLOCKS_CACHE_S = 3600


def blocked_user_ids(user) -> set[uuid.UUID]:
    """Everyone `user` must not meet: whom they blocked and who blocked them."""
    pairs = Block.objects.filter(Q(blocker=user) | Q(blocked=user)).values_list("blocker_id", "blocked_id")
    user_id = user.pk
    return {blocked if blocker == user_id else blocker for blocker, blocked in pairs}


def blocked_user_ids_cached(user) -> frozenset[str]:
    """``blocked_user_ids(user)`` as strings, from the cache: one round trip, no query.

    For reads on every request (Explore for a signed-in viewer). Exact, not
    "a few seconds stale": every service that adds or removes a block
    (``block_user``, ``unblock_user``, ``delete_account``, the admin through
    them) deletes both users' blocks versions after commit
    (``forget_cached_blocks``), and an entry stored under another version is
    never served. The version is read before the database, so a reader that
    read the rows before a change committed stored them under a version the
    change has already replaced. Decisions inside a transaction that must see
    its own uncommitted blocks use ``blocked_user_ids``.
    """
    user_id = str(user.pk)
    version_key, entry_key = BLOCKS_VERSION_KEY.format(user_id), BLOCKS_CACHE_KEY.format(user_id)
    found = cache.get_many([version_key, entry_key])
    version, entry = found.get(version_key), found.get(entry_key)
    if version is not None and entry is not None and entry[0] == version:
        return entry[1]
    if version is None:
        version = uuid.uuid4().hex
        if not cache.add(version_key, version, BLOCKS_CACHE_S):
            version = cache.get(version_key)  # another reader set one first
    ids = frozenset(str(other) for other in blocked_user_ids(user))
    if version is not None:
        cache.set(entry_key, (version, ids), BLOCKS_CACHE_S)
    return ids


def forget_cached_blocks(user_ids) -> None:
    """Make every cached block set of these users stale: their versions are
    deleted, so the next reader starts a new one. A delete, not a new version,
    because deletes the cache could not send while Redis was away are replayed
    when it is back (digis.cache): a block made during an outage is not
    forgotten by an entry Redis kept from before it."""
    cache.delete_many([BLOCKS_VERSION_KEY.format(user_id) for user_id in user_ids])


def is_blocked_between(a, b) -> bool:
    """True if either of the two users blocked the other."""
    a_id = getattr(a, "pk", a)
    b_id = getattr(b, "pk", b)
    return Block.objects.filter(Q(blocker_id=a_id, blocked_id=b_id) | Q(blocker_id=b_id, blocked_id=a_id)).exists()


def blocks_made_by(user):
    return Block.objects.filter(blocker=user).select_related("blocked").order_by("-created_at")
