"""Buying tokens with Stripe: packages, purchases, the Stripe events we received,
and the claw-backs that refunds and disputes planned.

Money itself lives in the ledger; these tables record what Stripe told us and
what we decided, so every ledger call can be repeated under the same key.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q


def format_money(cents: int, currency: str) -> str:
    """Integer cents -> "USD 4.99" (no floats anywhere near money)."""
    return f"{currency.upper()} {cents // 100}.{cents % 100:02d}"


class TokenPackage(models.Model):
    """What a fan can buy. Managed in the admin; seeded by a data migration."""

    name = models.CharField(max_length=60)
    tokens = models.PositiveIntegerField()
    bonus_tokens = models.PositiveIntegerField(default=0)
    price_cents = models.PositiveIntegerField(help_text="Price in the currency's smallest unit (cents).")
    currency = models.CharField(max_length=3, default="usd", help_text="ISO 4217, lower case (Stripe's spelling).")
    active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sort_order", "price_cents", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(tokens__gt=0), name="payments_package_tokens_positive"),
            # Stripe's smallest USD charge is 50 cents.
            models.CheckConstraint(condition=Q(price_cents__gte=50), name="payments_package_price_min"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[a-z]{3}$"), name="payments_package_currency_iso"),
        ]

    def __str__(self):
        return f"{self.name} ({self.total_tokens} tokens, {self.price_cents / 100:.2f} {self.currency.upper()})"

    @property
    def total_tokens(self) -> int:
        return self.tokens + self.bonus_tokens

    @property
    def price_display(self) -> str:
        return format_money(self.price_cents, self.currency)


class PurchaseStatus(models.TextChoices):
    PENDING = "pending", "Waiting for payment"
    SUCCEEDED = "succeeded", "Paid, tokens credited"
    FAILED = "failed", "Payment failed"
    REFUSED = "refused", "Refused (amount or currency did not match)"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"
    DISPUTED = "disputed", "Disputed"
    CHARGEBACK = "chargeback", "Dispute lost"
    # Never paid within PAYMENTS_PURCHASE_EXPIRE_S (its PaymentIntent was
    # cancelled at Stripe), or its PaymentIntent was cancelled otherwise.
    EXPIRED = "expired", "Expired (not paid)"


# States in which a purchase may still be paid: waiting, or declined once (the
# same PaymentIntent takes another card).
PAYABLE_STATES = (PurchaseStatus.PENDING, PurchaseStatus.FAILED)


# States in which the package's tokens have been credited to the wallet.
CREDITED_STATES = (
    PurchaseStatus.SUCCEEDED,
    PurchaseStatus.PARTIALLY_REFUNDED,
    PurchaseStatus.REFUNDED,
    PurchaseStatus.DISPUTED,
    PurchaseStatus.CHARGEBACK,
)


class Purchase(models.Model):
    """One attempt to buy one package. Amounts are copied from the package at
    creation: the PaymentIntent and every later check use these, never the
    client's word and never the package's current price."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchases")
    package = models.ForeignKey(TokenPackage, on_delete=models.PROTECT, related_name="purchases")
    tokens = models.PositiveIntegerField()
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=24, choices=PurchaseStatus.choices, default=PurchaseStatus.PENDING)
    payment_intent_id = models.CharField(max_length=255, blank=True, default="")
    client_secret = models.CharField(max_length=255, blank=True, default="")
    charge_id = models.CharField(max_length=255, blank=True, default="")
    # The ledger transaction that credited the tokens (ledger.Transaction pk).
    credit_transaction_id = models.CharField(max_length=64, blank=True, default="")
    refunded_cents = models.PositiveIntegerField(default=0)
    failure_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="payments_purchase_user_idx"),
            # The expiry sweep reads only purchases that may still be paid.
            models.Index(fields=["created_at"], condition=Q(status__in=["pending", "failed"]), name="payments_purchase_open_idx"),
            # The operations console's hourly rollups read purchases by when they were paid.
            models.Index(fields=["succeeded_at"], condition=Q(succeeded_at__isnull=False), name="payments_purchase_paid_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["payment_intent_id"],
                condition=~Q(payment_intent_id=""),
                name="payments_purchase_unique_intent",
            ),
            models.CheckConstraint(condition=Q(tokens__gt=0), name="payments_purchase_tokens_positive"),
            models.CheckConstraint(condition=Q(refunded_cents__lte=F("amount_cents")), name="payments_purchase_refund_le_amount"),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in CREDITED_STATES], credit_transaction_id__gt="")
                | ~Q(status__in=[s.value for s in CREDITED_STATES]),
                name="payments_purchase_credited_has_transaction",
            ),
        ]

    def __str__(self):
        return f"Purchase {self.id} ({self.status})"

    @property
    def amount_display(self) -> str:
        return format_money(self.amount_cents, self.currency)

    @property
    def is_credited(self) -> bool:
        return self.status in CREDITED_STATES


class EventStatus(models.TextChoices):
    RECEIVED = "received"
    PROCESSING = "processing"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class StripeEvent(models.Model):
    """Every verified Stripe event, once (unique Stripe id), with its processing
    state. A processed event is never handled again; a failed one is handled
    again when Stripe retries it or an operator replays it."""

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=EventStatus.choices, default=EventStatus.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=500, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["status"], name="payments_event_failed_idx", condition=Q(status="failed")),
        ]

    def __str__(self):
        return f"{self.type} {self.stripe_id} ({self.status})"


class ClawbackKind(models.TextChoices):
    REFUND = "refund"
    CHARGEBACK = "chargeback"


class Clawback(models.Model):
    """Tokens a refund or dispute takes back, decided once under the purchase's
    lock and then executed in the ledger under ``key``. Splitting the decision
    from the money write lets a handler that died halfway finish on retry with
    the very same amounts."""

    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="clawbacks")
    kind = models.CharField(max_length=16, choices=ClawbackKind.choices)
    key = models.CharField(max_length=255, unique=True)
    stripe_object_id = models.CharField(max_length=255, help_text="Refund/charge or dispute id at Stripe.")
    tokens = models.PositiveIntegerField()
    transaction_id = models.CharField(max_length=64, blank=True, default="")
    restored = models.BooleanField(default=False)
    restore_transaction_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.kind} {self.key}: {self.tokens} tokens"
