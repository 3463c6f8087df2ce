"""Reads other apps share: who blocked whom."""

import uuid

from django.db.models import Q

from accounts.models import Block


def blocked_user_ids(user) -> set[uuid.UUID]:
    """Everyone `user` must not meet: whom they blocked and who blocked them."""
    pairs = Block.objects.filter(Q(blocker=user) | Q(blocked=user)).values_list("blocker_id", "blocked_id")
    user_id = user.pk
    return {blocked if blocker == user_id else blocker for blocker, blocked in pairs}


def is_blocked_between(a, b) -> bool:
    """True if either of the two users blocked the other."""
    a_id = getattr(a, "pk", a)
    b_id = getattr(b, "pk", b)
    return Block.objects.filter(Q(blocker_id=a_id, blocked_id=b_id) | Q(blocker_id=b_id, blocked_id=a_id)).exists()


def blocks_made_by(user):
    return Block.objects.filter(blocker=user).select_related("blocked").order_by("-created_at")
