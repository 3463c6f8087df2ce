"""Analytics fixtures: staff (moderators: the root conftest), time under control, and ways to
put rows where the console reads them (through the real services where there
is one; calls' and purchases' rows seeded directly, since their services need
sockets and Stripe)."""

import datetime as dt
import itertools

import pytest
import time_machine
from django.contrib.auth.models import Group

from accounts.models import Role
from accounts.tests.factories import make_creator, make_user

UTC = dt.timezone.utc
_keys = itertools.count(1)


def at(year, month, day, hour=0, minute=0, second=0):
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def staffer(db):
    user = make_user("stella", role=Role.ADMIN)
    user.groups.add(Group.objects.get(name="staff"))
    return user


@pytest.fixture
def python_ledger(settings):
    """The ledger's Python path: its rows take their time from time-machine
    (ledger_post() in PostgreSQL stamps them with the server's clock)."""
    settings.LEDGER_POST_IN_DATABASE = False


@pytest.fixture
def clock():
    """clock.set(moment): the time every service sees."""

    class Clock:
        def __init__(self):
            self.traveller = None

        def set(self, moment):
            if self.traveller is None:
                self.traveller = time_machine.travel(moment, tick=False)
                self.traveller.start()
            else:
                self.traveller.stop()
                self.traveller = time_machine.travel(moment, tick=False)
                self.traveller.start()

        def stop(self):
            if self.traveller is not None:
                self.traveller.stop()

    clock = Clock()
    yield clock
    clock.stop()


def purchase(user, *, cents: int, tokens: int, at_time, currency: str = "usd"):
    """A credited card purchase: the ledger credit through the ledger's service,
    the Purchase row as payments' webhook leaves it."""
    from ledger.services import credit_purchase
    from payments.models import Purchase, PurchaseStatus, TokenPackage

    n = next(_keys)
    credit = credit_purchase(user=user, tokens=tokens, idempotency_key=f"pi_test_{n}", reference=f"purchase-test:{n}")
    package = TokenPackage.objects.order_by("pk").first()
    return Purchase.objects.create(
        user=user, package=package, tokens=tokens, amount_cents=cents, currency=currency, status=PurchaseStatus.SUCCEEDED,
        payment_intent_id=f"pi_test_{n}", credit_transaction_id=str(credit.pk), succeeded_at=at_time,
    )


def ended_call(fan, creator, *, ended_at, reason="completed", answered=True, connected=True, seconds=0):
    """A call as calls.services leaves it once ended (seeded: a real one needs two sockets)."""
    from calls.models import CallSession, CallStatus

    requested = ended_at - dt.timedelta(seconds=seconds + 60)
    return CallSession.objects.create(
        fan=fan, creator=creator, kind="video", rate=10, status=CallStatus.ENDED, end_reason=reason,
        requested_at=requested,
        accepted_at=requested + dt.timedelta(seconds=10) if answered else None,
        active_at=requested + dt.timedelta(seconds=20) if connected else None,
        ended_at=ended_at, active_seconds=seconds if connected else 0,
    )


def key() -> str:
    return f"analytics-test:{next(_keys)}"


@pytest.fixture
def people(db):
    """alice (fan), bob and carol (creators)."""
    return make_user("alice"), make_creator("bob"), make_creator("carol")
