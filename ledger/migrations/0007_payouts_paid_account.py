# The payouts_paid system account (payouts branch): only the choices change, no SQL.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0006_kinds_for_messaging_streaming_payouts'),
    ]

    operations = [
        migrations.AlterField(
            model_name='account',
            name='system_code',
            field=models.CharField(blank=True, choices=[('stripe_clearing', 'Stripe clearing'), ('platform_fee', 'Platform fees'), ('payouts_clearing', 'Payouts clearing'), ('payouts_paid', 'Paid out to creators'), ('refunds', 'Refunds and chargebacks'), ('promotions', 'Promotions'), ('message_escrow', 'Message escrow')], default='', max_length=32),
        ),
    ]
