"""Demo payouts for `manage.py seed_demo` (idempotent: fixed ledger keys).

The first demo creator (luna) gets tips and a call from the demo fan, so her
earnings page shows pending earnings with the dates they become payable, and a
bank account for the manual method (a masked reference, as always). She asks
for payouts herself (on request), so nothing is paid out behind a visitor's back.
"""

from ledger import services as ledger
from ledger.models import TransactionKind
from payouts.models import BankScheme, PayoutAccount, PayoutMethod, PayoutSchedule

DEMO_EARNINGS = [(TransactionKind.TIP, 150), (TransactionKind.CALL_CHARGE, 300), (TransactionKind.TIP, 50)]


def seed(context):
    fan, creators = context.get("fan"), context.get("creators") or []
    if fan is None or not creators:
        return
    creator = creators[0]
    for number, (kind, amount) in enumerate(DEMO_EARNINGS):
        ledger.charge_with_fee(
            payer=fan, creator=creator, amount=amount, kind=kind, idempotency_key=f"demo:payouts:{creator.pk}:{number}:v1",
            reference="demo",
        )
    ledger.release_earnings(user=creator)
    PayoutAccount.objects.get_or_create(
        user=creator,
        defaults={
            "method": PayoutMethod.MANUAL, "schedule": PayoutSchedule.ON_REQUEST, "bank_scheme": BankScheme.IBAN,
            "bank_country": "DE", "bank_holder": creator.get_full_name() or creator.username, "bank_masked": "DE •••• 3000",
        },
    )
