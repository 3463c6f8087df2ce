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


# The payments app's Stripe fixtures: localstripe, its webhooks to our live
# server, and Stripe's signing scheme.
from payments.tests.conftest import localstripe, localstripe_webhooks, webhook_secret  # noqa: E402,F401


def submit_onboarding(url: str, *, name: str = "Bob Builder", account_number: str = "000123456789",
                      routing_number: str = "110000000", bank_country: str = "US") -> str:
    """Fill in the stand-in's hosted onboarding form as the creator would; returns where it redirects."""
    import urllib.error
    import urllib.parse
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    body = urllib.parse.urlencode(
        {"name": name, "bank_country": bank_country, "routing_number": routing_number, "account_number": account_number, "tos": "yes"}
    ).encode()
    try:
        urllib.request.build_opener(NoRedirect).open(url, data=body, timeout=10)
    except urllib.error.HTTPError as redirect:
        if redirect.code in (302, 303):
            return redirect.headers["Location"]
        raise
    raise AssertionError("the onboarding form did not redirect")


@pytest.fixture
def connect(localstripe):
    """connect(creator) -> a Stripe Express account onboarded at the stand-in and synced."""
    from payouts import services
    from payouts.models import PayoutAccount

    def run(user, *, account_number: str = "000123456789"):
        _, url = services.start_stripe_onboarding(
            user=user, country="US", return_url="http://127.0.0.1:9/return", refresh_url="http://127.0.0.1:9/refresh"
        )
        assert submit_onboarding(url, account_number=account_number) == "http://127.0.0.1:9/return"
        services.sync_stripe_account(user=user)
        account = PayoutAccount.objects.get(user=user)
        assert account.ready, account.__dict__
        return account

    return run
