"""The console's demo: a staff login that sees the dashboard and the reports
queue, some spending to show, and the rollups filled (`manage.py seed_demo`)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.demo import DEMO_PASSWORD
from accounts.models import Role

DEMO_TIPS = [("luna", 120), ("kai", 60), ("maya", 45)]


def seed(context):
    from analytics.rollups import fill_all
    from ledger.models import TransactionKind
    from ledger.services import charge_with_fee

    ops = get_user_model().objects.filter(username__iexact="ops").first()
    if ops is None:
        ops = get_user_model()(username="ops", email="ops@demo.digis.local", first_name="Olive", last_name="Ops", role=Role.MODERATOR)
        ops.set_password(DEMO_PASSWORD)
        ops.save()
    for name in ("staff", "moderators"):
        group = Group.objects.filter(name=name).first()
        if group is not None:
            ops.groups.add(group)
    context["logins"].append(("ops", DEMO_PASSWORD, "console"))

    fan = context.get("fan")
    creators = {creator.username: creator for creator in context.get("creators", [])}
    if fan is not None:
        for username, tokens in DEMO_TIPS:
            if username in creators:
                charge_with_fee(payer=fan, creator=creators[username], amount=tokens, kind=TransactionKind.TIP,
                                idempotency_key=f"demo:tip:{username}:v1", reference="demo")
    fill_all()
