"""accounts.hooks: feature apps hear about blocks and bans inside the same transaction."""

import pytest

from accounts import hooks
from accounts.models import Block
from accounts.services import ban_user, block_user, unban_user
from accounts.tests.factories import make_user

pytestmark = pytest.mark.django_db

HOOKS = ("user_blocked", "user_banned", "user_unbanned")


@pytest.fixture
def heard():
    """Record every call of the three hooks (receivers registered for this test only)."""
    calls = []
    receivers = {name: (lambda name=name, **kwargs: calls.append((name, kwargs))) for name in HOOKS}
    for name, receiver in receivers.items():
        getattr(hooks, name).register(receiver)
    yield calls
    for name, receiver in receivers.items():
        getattr(hooks, name).unregister(receiver)


def test_a_new_block_calls_user_blocked_once(heard, alice, mallory):
    block_user(blocker=alice, blocked=mallory)
    block_user(blocker=alice, blocked=mallory)  # a repeat is not a new block
    assert [(name, kwargs["blocker"].pk, kwargs["blocked"].pk) for name, kwargs in heard] == [
        ("user_blocked", alice.pk, mallory.pk)]


def test_ban_and_unban_call_their_hooks(heard, mallory):
    admin = make_user("root", is_superuser=True, is_staff=True)
    ban_user(actor=admin, user=mallory, reason="spam")
    unban_user(actor=admin, user=mallory, reason="appeal")
    assert [(name, kwargs["user"].pk, kwargs["actor"].pk, kwargs["reason"]) for name, kwargs in heard] == [
        ("user_banned", mallory.pk, admin.pk, "spam"), ("user_unbanned", mallory.pk, admin.pk, "appeal")]
    assert heard[0][1]["until"] is None


def test_a_failing_receiver_rolls_the_block_back(alice, mallory):
    def refuse(**kwargs):
        raise RuntimeError("the feature app could not settle")

    hooks.user_blocked.register(refuse)
    try:
        with pytest.raises(RuntimeError):
            block_user(blocker=alice, blocked=mallory)
    finally:
        hooks.user_blocked.unregister(refuse)
    assert not Block.objects.exists()
