"""Test helpers for payouts: tokens for fans, earnings for creators, ready payout accounts."""

import itertools
import uuid

from ledger import services as ledger
from ledger.models import TransactionKind
from payouts.models import BankScheme, PayoutAccount, PayoutMethod, PayoutSchedule

_keys = itertools.count(1)


def buy_tokens(user, tokens: int) -> None:
    """Tokens bought with a card (as the Stripe webhook credits them)."""
    ledger.credit_purchase(user=user, tokens=tokens, idempotency_key=f"test-purchase-{uuid.uuid4()}", reference="test")


def earn(creator, fan, amount: int, *, kind: str = TransactionKind.TIP, release: bool = True):
    """A fan pays the creator (20 % fee by default); released to the wallet like the 15-minute job does."""
    charge = ledger.charge_with_fee(
        payer=fan, creator=creator, amount=amount, kind=kind, idempotency_key=f"test-charge-{next(_keys)}-{uuid.uuid4()}",
        reference=f"{kind}:test",
    )
    if release:
        ledger.release_earnings(user=creator)
    return charge


def manual_account(creator, *, schedule: str = PayoutSchedule.ON_REQUEST) -> PayoutAccount:
    return PayoutAccount.objects.update_or_create(
        user=creator,
        defaults={
            "method": PayoutMethod.MANUAL, "schedule": schedule, "bank_scheme": BankScheme.IBAN, "bank_country": "DE",
            "bank_holder": creator.username, "bank_masked": "DE •••• 3000",
        },
    )[0]
