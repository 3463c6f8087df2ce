"""Demo tokens for `manage.py seed_demo`: the demo fan gets a promotional grant (fixed key: idempotent)."""

from ledger.services import grant_promotion, open_wallet

DEMO_FAN_TOKENS = 5_000


def seed(context):
    fan = context.get("fan")
    if fan is None:
        return
    grant_promotion(user=fan, tokens=DEMO_FAN_TOKENS, idempotency_key="demo:fan-welcome-grant:v1", reference="demo", memo="Demo tokens")
    for creator in context.get("creators", []):
        open_wallet(user=creator)
