# Payouts: payout accounts, payouts and their statements; the admin queues are proxies.

import django.db.models.deletion
import django.db.models.expressions
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('ledger', '0007_payouts_paid_account'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Payout',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('status', models.CharField(choices=[('requested', 'Waiting for review'), ('approved', 'Approved'), ('sending', 'Being sent'), ('sent', 'On its way'), ('paid', 'Paid'), ('failed', 'Failed, tokens returned'), ('returned', 'Returned, tokens returned'), ('rejected', 'Not approved, tokens returned')], default='requested', max_length=12)),
                ('method', models.CharField(choices=[('stripe', 'Stripe'), ('manual', 'Bank transfer by Digis')], max_length=12)),
                ('trigger', models.CharField(choices=[('request', 'Requested by the creator'), ('schedule', 'Weekly schedule')], default='request', max_length=12)),
                ('schedule_key', models.CharField(blank=True, default='', max_length=40)),
                ('tokens', models.PositiveBigIntegerField()),
                ('cents_per_token', models.PositiveIntegerField()),
                ('amount_cents', models.PositiveBigIntegerField()),
                ('currency', models.CharField(max_length=3)),
                ('destination', models.CharField(blank=True, default='', max_length=255)),
                ('needs_review', models.BooleanField(default=False)),
                ('review_reason', models.CharField(blank=True, default='', max_length=200)),
                ('reviewed_at', models.DateTimeField(blank=True, null=True)),
                ('review_note', models.CharField(blank=True, default='', max_length=500)),
                ('stripe_transfer_id', models.CharField(blank=True, default='', max_length=255)),
                ('stripe_payout_id', models.CharField(blank=True, default='', max_length=255)),
                ('stripe_reversal_id', models.CharField(blank=True, default='', max_length=255)),
                ('failure_code', models.CharField(blank=True, default='', max_length=64)),
                ('failure_message', models.CharField(blank=True, default='', max_length=500)),
                ('bank_failed', models.BooleanField(default=False)),
                ('manual_reference', models.CharField(blank=True, default='', max_length=140)),
                ('held_reason', models.CharField(blank=True, default='', max_length=200)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('last_error', models.TextField(blank=True, default='')),
                ('lease_until', models.DateTimeField(blank=True, null=True)),
                ('requested_at', models.DateTimeField(auto_now_add=True)),
                ('approved_at', models.DateTimeField(blank=True, null=True)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('paid_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('creator', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='payouts', to=settings.AUTH_USER_MODEL)),
                ('request_transaction', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.transaction')),
                ('return_transaction', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.transaction')),
                ('reviewed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='payouts_reviewed', to=settings.AUTH_USER_MODEL)),
                ('settle_transaction', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.transaction')),
            ],
            options={
                'ordering': ['-requested_at', '-id'],
                'permissions': [('review_payout', 'Can approve, reject and mark payouts paid')],
            },
        ),
        migrations.CreateModel(
            name='BankTransferQueue',
            fields=[
            ],
            options={
                'verbose_name': 'payout to pay by bank transfer',
                'verbose_name_plural': 'payouts to pay by bank transfer',
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('payouts.payout',),
        ),
        migrations.CreateModel(
            name='ReviewQueue',
            fields=[
            ],
            options={
                'verbose_name': 'payout waiting for review',
                'verbose_name_plural': 'payouts waiting for review',
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('payouts.payout',),
        ),
        migrations.CreateModel(
            name='PayoutAccount',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('method', models.CharField(choices=[('stripe', 'Stripe'), ('manual', 'Bank transfer by Digis')], default='stripe', max_length=12)),
                ('schedule', models.CharField(choices=[('weekly', 'Weekly, automatically'), ('on_request', 'Only when I ask')], default='weekly', max_length=12)),
                ('stripe_account_id', models.CharField(blank=True, default='', max_length=255)),
                ('stripe_details_submitted', models.BooleanField(default=False)),
                ('stripe_payouts_enabled', models.BooleanField(default=False)),
                ('stripe_transfers_active', models.BooleanField(default=False)),
                ('stripe_requirements_due', models.JSONField(blank=True, default=list)),
                ('stripe_disabled_reason', models.CharField(blank=True, default='', max_length=100)),
                ('stripe_bank_last4', models.CharField(blank=True, default='', max_length=4)),
                ('stripe_synced_at', models.DateTimeField(blank=True, null=True)),
                ('bank_scheme', models.CharField(blank=True, choices=[('iban', 'IBAN'), ('us_aba', 'US routing and account number'), ('uk_sort_code', 'UK sort code and account number')], default='', max_length=16)),
                ('bank_country', models.CharField(blank=True, default='', max_length=2)),
                ('bank_holder', models.CharField(blank=True, default='', max_length=140)),
                ('bank_masked', models.CharField(blank=True, default='', max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='payout_account', to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.CreateModel(
            name='PayoutItem',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('kind', models.CharField(choices=[('call', 'Call'), ('message', 'Message'), ('tip', 'Tip'), ('ticket', 'Ticket'), ('other', 'Other')], max_length=12)),
                ('earned_at', models.DateTimeField()),
                ('gross', models.BigIntegerField()),
                ('fee', models.BigIntegerField()),
                ('net', models.BigIntegerField()),
                ('tokens', models.PositiveBigIntegerField()),
                ('earning', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='ledger.transaction')),
                ('payout', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='items', to='payouts.payout')),
            ],
            options={
                'ordering': ['earned_at', 'id'],
            },
        ),
        migrations.AddIndex(
            model_name='payout',
            index=models.Index(fields=['creator', '-requested_at'], name='payouts_payout_creator_idx'),
        ),
        migrations.AddIndex(
            model_name='payout',
            index=models.Index(condition=models.Q(('status__in', ['requested', 'approved', 'sending', 'sent'])), fields=['status'], name='payouts_payout_open_idx'),
        ),
        migrations.AddConstraint(
            model_name='payout',
            constraint=models.CheckConstraint(condition=models.Q(('tokens__gt', 0)), name='payouts_payout_tokens_positive'),
        ),
        migrations.AddConstraint(
            model_name='payout',
            constraint=models.CheckConstraint(condition=models.Q(('cents_per_token__gt', 0)), name='payouts_payout_rate_positive'),
        ),
        migrations.AddConstraint(
            model_name='payout',
            constraint=models.CheckConstraint(condition=models.Q(('amount_cents', django.db.models.expressions.CombinedExpression(models.F('tokens'), '*', models.F('cents_per_token')))), name='payouts_payout_amount_is_rate'),
        ),
        migrations.AddConstraint(
            model_name='payout',
            constraint=models.CheckConstraint(condition=models.Q(('currency__regex', '^[a-z]{3}$')), name='payouts_payout_currency_iso'),
        ),
        migrations.AddConstraint(
            model_name='payout',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['requested', 'approved', 'sending'])), fields=('creator',), name='payouts_one_open_per_creator'),
        ),
        migrations.AddConstraint(
            model_name='payout',
            constraint=models.UniqueConstraint(condition=models.Q(('schedule_key', ''), _negated=True), fields=('creator', 'schedule_key'), name='payouts_one_per_schedule_period'),
        ),
        migrations.AddConstraint(
            model_name='payout',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'paid'), _negated=True), ('settle_transaction__isnull', False), _connector='OR'), name='payouts_paid_is_settled'),
        ),
        migrations.AddConstraint(
            model_name='payout',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status__in', ['failed', 'returned', 'rejected']), _negated=True), ('return_transaction__isnull', False), _connector='OR'), name='payouts_returned_has_return'),
        ),
        migrations.AddConstraint(
            model_name='payout',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('method', 'stripe'), ('status__in', ['sent', 'paid']), _negated=True), models.Q(('stripe_transfer_id', ''), _negated=True), _connector='OR'), name='payouts_stripe_sent_has_transfer'),
        ),
        migrations.AddConstraint(
            model_name='payoutaccount',
            constraint=models.UniqueConstraint(condition=models.Q(('stripe_account_id', ''), _negated=True), fields=('stripe_account_id',), name='payouts_account_unique_stripe'),
        ),
        migrations.AddConstraint(
            model_name='payoutaccount',
            constraint=models.CheckConstraint(condition=models.Q(('bank_masked__regex', '[0-9]{5,}'), _negated=True), name='payouts_account_bank_masked'),
        ),
        migrations.AddConstraint(
            model_name='payoutitem',
            constraint=models.CheckConstraint(condition=models.Q(('tokens__gt', 0), ('tokens__lte', models.F('net'))), name='payouts_item_tokens_within_net'),
        ),
        migrations.AddConstraint(
            model_name='payoutitem',
            constraint=models.CheckConstraint(condition=models.Q(('gross', django.db.models.expressions.CombinedExpression(models.F('net'), '+', models.F('fee')))), name='payouts_item_gross_is_net_plus_fee'),
        ),
        migrations.AddConstraint(
            model_name='payoutitem',
            constraint=models.UniqueConstraint(fields=('payout', 'earning'), name='payouts_item_once_per_payout'),
        ),
    ]
