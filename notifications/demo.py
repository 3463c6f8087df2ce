"""Demo notifications for `manage.py seed_demo`, so the bell has something to show (idempotent)."""

from notifications.models import NotificationKind
from notifications.services import notify


def seed(context):
    fan, creators = context.get("fan"), context.get("creators") or []
    if fan is None or not creators:
        return
    luna = creators[0]
    notify(
        recipient=luna,
        kind=NotificationKind.CALL_MISSED,
        text=f"You missed a video call from {fan.get_full_name() or fan.username}.",
        actor=fan,
        dedupe_key="demo:missed-call",
    )
    notify(
        recipient=fan,
        kind=NotificationKind.PURCHASE_CREDITED,
        text="Welcome to Digis: your demo wallet has tokens to spend on calls and messages.",
        url="/wallet/",
        dedupe_key="demo:welcome",
    )
