"""Messaging fixtures: alice (a fan with 1000 tokens), bob (a creator asking 10 tokens a message), mallory."""

import pytest

from messaging.tests.factories import fund, make_messaging_creator, open_between


@pytest.fixture
def bob_profile(bob):
    return make_messaging_creator(bob, price=10)


@pytest.fixture
def funded_alice(alice):
    fund(alice, 1000)
    return alice


@pytest.fixture
def convo(funded_alice, bob, bob_profile):
    """alice's conversation with bob (opened, no message yet)."""
    return open_between(funded_alice, bob)


@pytest.fixture
def traveller():
    from datetime import datetime, timezone

    import time_machine

    with time_machine.travel(datetime(2026, 3, 3, 12, 0, tzinfo=timezone.utc), tick=False) as t:
        yield t


@pytest.fixture
def moderator(db):
    from django.contrib.auth.models import Group

    from accounts.models import Role
    from accounts.tests.factories import make_user

    user = make_user("mod", role=Role.MODERATOR, is_staff=True)
    user.groups.add(Group.objects.get(name="moderators"))
    return user


def assert_ledger_consistent():
    from ledger.checks import run_all

    problems = {name: found for name, found in run_all().items() if found}
    assert problems == {}
