"""Call test fixtures: a funded fan, a creator with a profile and rates, presence."""

import itertools
from datetime import datetime, timezone

import pytest

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
_keys = itertools.count(1)


def fund(user, tokens: int) -> None:
    from ledger.services import credit_purchase

    n = next(_keys)
    credit_purchase(user=user, tokens=tokens, idempotency_key=f"test-fund:{user.pk}:{n}", reference=f"test:{n}")


def balance(user) -> int:
    from ledger.services import balance_of

    return balance_of(user=user)


def make_call_creator(user, *, video_call_rate=10, voice_call_rate=5, min_call_minutes=1):
    from creators.tests.factories import make_creator_profile

    return make_creator_profile(user, video_call_rate=video_call_rate, voice_call_rate=voice_call_rate,
                                min_call_minutes=min_call_minutes)


def online(user) -> None:
    from digis.realtime import presence

    presence.mark_connected(user.pk)


@pytest.fixture
def traveller():
    import time_machine

    with time_machine.travel(START, tick=False) as t:
        yield t


@pytest.fixture
def ready(alice, bob):
    """alice holds 1000 tokens; bob takes video calls at 10/min and is online."""
    fund(alice, 1000)
    make_call_creator(bob)
    online(bob)
    return alice, bob
