"""Double-entry ledger tables.

Every movement of tokens is one `Transaction` with two or more `Entry` rows whose
amounts sum to zero. Rows are append-only: PostgreSQL triggers (migration 0002)
refuse UPDATE and DELETE. The sum is checked by ledger_post() for its own
writes and by deferred triggers at commit for every other writer (migration
0005). Only `ledger.services` writes here.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class AccountKind(models.TextChoices):
    WALLET = "wallet", "User wallet"
    # A creator's earnings from charges and tips wait here until released into
    # the wallet. Credits only INSERT entries (no row lock, no cached balance),
    # so a tip storm to one creator does not serialize the payers.
    EARNINGS = "earnings", "Creator earnings (pending)"
    # What a user owes after a refund/chargeback took more than the wallet held.
    # Balance <= 0; the debt is its negation.
    RECEIVABLE = "receivable", "User debt (receivable)"
    SYSTEM = "system", "System account"


class SystemAccount(models.TextChoices):
    STRIPE_CLEARING = "stripe_clearing", "Stripe clearing"
    PLATFORM_FEE = "platform_fee", "Platform fees"
    PAYOUTS_CLEARING = "payouts_clearing", "Payouts clearing"
    # Tokens redeemed for money that has left the platform (payouts paid):
    # the mirror of stripe_clearing, which is minus the tokens sold for money.
    PAYOUTS_PAID = "payouts_paid", "Paid out to creators"
    REFUNDS = "refunds", "Refunds and chargebacks"
    PROMOTIONS = "promotions", "Promotions"
    # Paid messages waiting for the creator's reply (released or refunded later).
    MESSAGE_ESCROW = "message_escrow", "Message escrow"


class TransactionKind(models.TextChoices):
    PURCHASE = "purchase", "Token purchase"
    CALL_CHARGE = "call_charge", "Call charge"
    CALL_REFUND = "call_refund", "Call refund"
    MESSAGE_CHARGE = "message_charge", "Message charge"
    TIP = "tip", "Tip"
    REFUND = "refund", "Refund"
    CHARGEBACK = "chargeback", "Chargeback"
    CLAWBACK_RESTORE = "clawback_restore", "Dispute won"
    REVERSAL = "reversal", "Reversal"
    PAYOUT = "payout", "Payout"
    ADJUSTMENT = "adjustment", "Adjustment"
    EARNINGS_RELEASE = "earnings_release", "Earnings released"
    PROMOTION = "promotion", "Promotional grant"
    TRANSFER = "transfer", "Transfer"
    MESSAGE_HOLD = "message_hold", "Paid message held"
    MESSAGE_RELEASE = "message_release", "Paid message answered"
    MESSAGE_REFUND = "message_refund", "Paid message refunded"
    TICKET = "ticket", "Live stream ticket"
    TICKET_REFUND = "ticket_refund", "Live stream ticket refunded"
    PAYOUT_RETURN = "payout_return", "Payout returned"


class Account(models.Model):
    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16, choices=AccountKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    system_code = models.CharField(max_length=32, choices=SystemAccount.choices, blank=True, default="")
    # Hot system accounts (platform fees) are split into shards picked by the
    # idempotency key's hash; the account's balance is the sum of its shards.
    shard = models.PositiveSmallIntegerField(default=0)
    # Cached sum of entries for wallets, receivables and system accounts.
    # Always 0 for EARNINGS accounts: their balance is summed from entries.
    balance = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind=AccountKind.WALLET) | Q(balance__gte=0), name="ledger_wallet_balance_non_negative"
            ),
            models.CheckConstraint(
                condition=~Q(kind=AccountKind.RECEIVABLE) | Q(balance__lte=0), name="ledger_receivable_non_positive"
            ),
            models.CheckConstraint(
                condition=~Q(kind=AccountKind.EARNINGS) | Q(balance=0), name="ledger_earnings_not_cached"
            ),
            models.CheckConstraint(
                condition=(Q(kind=AccountKind.SYSTEM) & Q(user__isnull=True) & ~Q(system_code=""))
                | (~Q(kind=AccountKind.SYSTEM) & Q(user__isnull=False) & Q(system_code="") & Q(shard=0)),
                name="ledger_account_owner_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["user", "kind"], condition=Q(user__isnull=False), name="ledger_one_account_per_user_kind"
            ),
            models.UniqueConstraint(
                fields=["system_code", "shard"], condition=Q(kind=AccountKind.SYSTEM), name="ledger_one_system_shard"
            ),
        ]

    def __str__(self):
        if self.kind == AccountKind.SYSTEM:
            return f"{self.system_code}#{self.shard}"
        return f"{self.kind}:{self.user_id}"

    @property
    def has_cached_balance(self) -> bool:
        return self.kind != AccountKind.EARNINGS


class Transaction(models.Model):
    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=24, choices=TransactionKind.choices)
    # Unique by a constraint (see Meta), not unique=True: that would also build
    # a varchar_pattern_ops index nobody searches, maintained on every insert.
    idempotency_key = models.CharField(max_length=200)
    # sha256 of the request's meaningful arguments: the same key sent with
    # different arguments is an error, not a silent replay.
    fingerprint = models.CharField(max_length=64)
    reference = models.CharField(max_length=200, blank=True, default="")
    memo = models.CharField(max_length=500, blank=True, default="")
    # A refund or restore points at the transaction it partly undoes.
    original = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="followups", db_index=False
    )
    # A reversal undoes exactly one transaction, at most once (a partial unique
    # constraint: the NULL of every ordinary transaction stays out of the index).
    reversal_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(idempotency_key=""), name="ledger_idempotency_key_not_empty"),
            models.UniqueConstraint(fields=["idempotency_key"], name="ledger_transaction_idempotency_key_unique"),
            models.UniqueConstraint(
                fields=["reversal_of"], condition=Q(reversal_of__isnull=False), name="ledger_reversed_at_most_once"
            ),
            # A paid message's hold is released or refunded once, never both
            # (ledger.services, "message escrow"): one settlement per hold.
            models.UniqueConstraint(
                fields=["original"], condition=Q(kind__in=["message_release", "message_refund"]),
                name="ledger_hold_settled_once",
            ),
        ]
        # Every index here is maintained on each of the ledger's inserts, so
        # only the ones a query uses, and partial where most rows are NULL.
        indexes = [
            # Lookups are always by a non-empty reference; plain transfers have none.
            models.Index(fields=["reference"], condition=~Q(reference=""), name="ledger_tx_reference"),
            models.Index(fields=["original"], condition=Q(original__isnull=False), name="ledger_tx_original"),
        ]

    def __str__(self):
        return f"{self.kind} #{self.pk}"


class Entry(models.Model):
    id = models.BigAutoField(primary_key=True)
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries")
    # No index of its own: ledger_entry_account_id (account, -id) serves every lookup by account.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries", db_index=False)
    amount = models.BigIntegerField()
    # The wallet's balance right after this entry (user wallets only).
    balance_after = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_amount_non_zero"),
        ]
        indexes = [
            # History pages (keyset on id) and pending-earnings sums (index-only).
            models.Index(fields=["account", "-id"], name="ledger_entry_account_id"),
        ]

    def __str__(self):
        return f"{self.amount:+d} on {self.account_id} (tx {self.transaction_id})"
