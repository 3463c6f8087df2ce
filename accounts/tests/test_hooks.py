"""accounts.hooks: feature apps hear about blocks and bans inside the same transaction."""

import pytest

from accounts import hooks
from accounts.models import Block
from accounts.services import ban_user, block_user, unban_user
from accounts.tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered():
    """Temporarily register recorders; the lists are restored afterwards."""
    saved = {name: list(getattr(hooks, name)) for name in ("user_blocked", "user_banned", "user_unbanned")}
    calls = []
    for name in saved:
        hooks.register(getattr(hooks, name), lambda name=name, **kwargs: calls.append((name, kwargs)))
    yield calls
    for name, value in saved.items():
        getattr(hooks, name)[:] = value


def test_a_new_block_runs_the_hook_once(registered, alice, mallory):
    block_user(blocker=alice, blocked=mallory)
    block_user(blocker=alice, blocked=mallory)  # a repeat is not a new block
    assert [(name, kwargs["blocker"].pk, kwargs["blocked"].pk) for name, kwargs in registered] == [
        ("user_blocked", alice.pk, mallory.pk)]


def test_ban_and_unban_run_their_hooks(registered, mallory, django_user_model):
    admin = make_user("root", is_superuser=True, is_staff=True)
    ban_user(actor=admin, user=mallory, reason="spam")
    unban_user(actor=admin, user=mallory, reason="appeal")
    assert [(name, kwargs["user"].pk, kwargs["actor"].pk) for name, kwargs in registered] == [
        ("user_banned", mallory.pk, admin.pk), ("user_unbanned", mallory.pk, admin.pk)]
    assert registered[0][1]["until"] is None


def test_a_failing_hook_rolls_the_block_back(alice, mallory):
    def refuse(**kwargs):
        raise RuntimeError("the feature app could not settle")

    hooks.register(hooks.user_blocked, refuse)
    try:
        with pytest.raises(RuntimeError):
            block_user(blocker=alice, blocked=mallory)
    finally:
        hooks.user_blocked.remove(refuse)
    assert not Block.objects.exists()


def test_registering_twice_keeps_one(registered):
    def hook(**kwargs):
        pass

    hooks.register(hooks.user_unbanned, hook)
    hooks.register(hooks.user_unbanned, hook)
    assert hooks.user_unbanned.count(hook) == 1
