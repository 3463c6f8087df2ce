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


def assert_ledger_consistent():
    from ledger.checks import run_all

    problems = {name: found for name, found in run_all().items() if found}
    assert problems == {}


@pytest.fixture
def broadcast_worker(transactional_db):
    """A real Celery worker in a thread, as the root ``celery_worker_thread``, given a minute to
    finish its last task on a loaded machine (a 5,000-recipient broadcast's final batch)."""
    from celery.contrib.testing.worker import start_worker

    from digis.celery import app

    if app.conf.task_always_eager:
        pytest.skip("needs a broker: run `make test` (REDIS_URL)")
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=60) as worker:
        yield worker
