from django.db import migrations, models


class Migration(migrations.Migration):
    """A message hold is settled (released or refunded) at most once: the database's backstop
    behind messaging's compare-and-swap on the message's escrow state."""

    dependencies = [
        ("ledger", "0006_kinds_for_messaging_streaming_payouts"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="transaction",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind__in", ["message_release", "message_refund"])),
                fields=("original",),
                name="ledger_hold_settled_once",
            ),
        ),
    ]
