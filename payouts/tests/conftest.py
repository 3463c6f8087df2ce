import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import make_creator, make_user


@pytest.fixture(autouse=True)
def payout_rules(settings):
    """The defaults, spelled out so tests read on their own."""
    settings.PAYOUT_CENTS_PER_TOKEN = 5
    settings.PAYOUT_CURRENCY = "usd"
    settings.PAYOUT_HOLD_DAYS = 7
    settings.PAYOUT_MIN_TOKENS = 400
    settings.PAYOUT_REVIEW_ABOVE_TOKENS = 20_000
    settings.PAYOUT_WEEKLY_DAY = "monday"
    settings.PAYOUT_METHODS = ["stripe", "manual"]
    settings.PLATFORM_FEE_BPS = 2000


@pytest.fixture
def carol(db):
    """Another creator (mallory is a fan; carol is the creator whose payouts mallory's friend must not see)."""
    return make_creator("carol")


@pytest.fixture
def dave(db):
    """A second fan."""
    return make_user("dave")


@pytest.fixture
def later(settings):
    """later(days) moves the clock that far ahead.

    The ledger's hot writes (ledger_post() in PostgreSQL) stamp rows with the
    database's clock, which no test can move; from the first travel on, the
    ledger takes its Python path, whose rows are stamped by Django's clock,
    so earnings made after a travel are dated in the travelled time.
    """
    travellers = []

    def travel(days: float = 0, **kwargs):
        settings.LEDGER_POST_IN_DATABASE = False
        target = timezone.now() + dt.timedelta(days=days, **kwargs)
        traveller = time_machine.travel(target, tick=False)
        traveller.start()
        travellers.append(traveller)
        return target

    yield travel
    for traveller in reversed(travellers):
        traveller.stop()
