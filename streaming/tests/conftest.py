"""Streaming fixtures: a creator who can go live, funded fans, controlled time."""

import itertools
from datetime import datetime, timezone

import pytest

START = datetime(2026, 3, 1, 20, 0, 0, tzinfo=timezone.utc)
_keys = itertools.count(1)


def fund(user, tokens: int) -> None:
    from ledger.services import credit_purchase

    n = next(_keys)
    credit_purchase(user=user, tokens=tokens, idempotency_key=f"test-fund:{user.pk}:{n}", reference=f"test:{n}")


def balance(user) -> int:
    from ledger.services import balance_of

    return balance_of(user=user)


def make_host(user):
    """A creator with a profile (what going live needs)."""
    from creators.tests.factories import make_creator_profile

    make_creator_profile(user)
    return user


def follow(fan, host):
    from creators.services import follow_creator

    follow_creator(follower=fan, creator_user_id=host.pk)


def live(host, **options):
    from streaming.services import go_live

    options.setdefault("title", "Evening session")
    return go_live(host=host, **options)


@pytest.fixture
def traveller():
    import time_machine

    with time_machine.travel(START, tick=False) as t:
        yield t


@pytest.fixture
def host(bob):
    return make_host(bob)


@pytest.fixture
def funded_alice(alice):
    fund(alice, 1000)
    return alice
