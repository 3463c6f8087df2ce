"""Payouts: a creator's payout account, the payouts themselves, and each payout's statement.

Money is the ledger's. A payout moves its tokens out of the creator's wallet
into ``payouts_clearing`` when it is requested, and out of the books
(``payouts_paid``) when it is paid, or back to the wallet when it fails, is
returned or is rejected (``ledger.services``, keys ``payout:<id>:request``,
``payout:<id>:paid``, ``payout:<id>:return``). These tables say why, record
what Stripe (or the operator) told us, and freeze each payout's statement.

Invariants the database enforces (the services give the friendly message first):
- at most one payout per creator is open (requested, approved or sending);
- a scheduled payout is created once per creator and period (unique key);
- amount_cents = tokens x cents_per_token, tokens > 0;
- a paid payout has its settling ledger transaction, a failed/returned/rejected one
  its returning transaction, a Stripe payout that left has its transfer id;
- statement lines are positive and each earning appears once per payout.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class PayoutMethod(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    MANUAL = "manual", "Bank transfer by Digis"


class PayoutSchedule(models.TextChoices):
    WEEKLY = "weekly", "Weekly, automatically"
    ON_REQUEST = "on_request", "Only when I ask"


class BankScheme(models.TextChoices):
    IBAN = "iban", "IBAN"
    US_ABA = "us_aba", "US routing and account number"
    UK_SORT_CODE = "uk_sort_code", "UK sort code and account number"


class PayoutAccount(models.Model):
    """Where a creator's payouts go. One per creator.

    Stripe: an Express connected account, its state mirrored from Stripe
    (``account.updated`` webhooks and the onboarding return page). Manual: a
    *masked* reference to a bank account (never the full number); an operator
    pays it from the platform's bank and marks the payout paid in the admin.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payout_account")
    method = models.CharField(max_length=12, choices=PayoutMethod.choices, default=PayoutMethod.STRIPE)
    schedule = models.CharField(max_length=12, choices=PayoutSchedule.choices, default=PayoutSchedule.WEEKLY)

    stripe_account_id = models.CharField(max_length=255, blank=True, default="")
    stripe_details_submitted = models.BooleanField(default=False)
    stripe_payouts_enabled = models.BooleanField(default=False)
    stripe_transfers_active = models.BooleanField(default=False)
    stripe_requirements_due = models.JSONField(default=list, blank=True)
    stripe_disabled_reason = models.CharField(max_length=100, blank=True, default="")
    stripe_bank_last4 = models.CharField(max_length=4, blank=True, default="")
    # The Stripe `created` time of the last account state applied: an older
    # account.updated arriving late does not overwrite a newer one.
    stripe_synced_at = models.DateTimeField(null=True, blank=True)

    bank_scheme = models.CharField(max_length=16, choices=BankScheme.choices, blank=True, default="")
    bank_country = models.CharField(max_length=2, blank=True, default="")
    bank_holder = models.CharField(max_length=140, blank=True, default="")
    # e.g. "DE89 •••• 3000": enough for a person to recognise it, useless to anyone else.
    bank_masked = models.CharField(max_length=64, blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_account_id"], condition=~Q(stripe_account_id=""), name="payouts_account_unique_stripe"
            ),
            # A masked reference only: no run of more than four digits may be stored.
            models.CheckConstraint(condition=~Q(bank_masked__regex=r"[0-9]{5,}"), name="payouts_account_bank_masked"),
        ]

    def __str__(self):
        return f"Payout account of {self.user_id} ({self.method})"

    @property
    def stripe_ready(self) -> bool:
        return bool(self.stripe_account_id and self.stripe_payouts_enabled and self.stripe_transfers_active)

    @property
    def manual_ready(self) -> bool:
        return bool(self.bank_masked)

    @property
    def ready(self) -> bool:
        """Payouts can be sent with the chosen method."""
        return self.stripe_ready if self.method == PayoutMethod.STRIPE else self.manual_ready

    @property
    def destination_label(self) -> str:
        if self.method == PayoutMethod.STRIPE:
            return f"Stripe account, bank ••{self.stripe_bank_last4}" if self.stripe_bank_last4 else "Stripe account"
        return f"{self.bank_masked} ({self.bank_holder})" if self.bank_masked else ""


class PayoutStatus(models.TextChoices):
    REQUESTED = "requested", "Waiting for review"
    APPROVED = "approved", "Approved"
    SENDING = "sending", "Being sent"
    SENT = "sent", "On its way"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed, tokens returned"
    RETURNED = "returned", "Returned, tokens returned"
    REJECTED = "rejected", "Not approved, tokens returned"


# At most one per creator (a partial unique index).
OPEN_STATUSES = (PayoutStatus.REQUESTED, PayoutStatus.APPROVED, PayoutStatus.SENDING)
# Tokens in payouts_clearing: requested and not yet paid or returned.
IN_TRANSIT_STATUSES = (*OPEN_STATUSES, PayoutStatus.SENT)
RETURNED_STATUSES = (PayoutStatus.FAILED, PayoutStatus.RETURNED, PayoutStatus.REJECTED)
FINAL_STATUSES = (PayoutStatus.PAID, *RETURNED_STATUSES)


class PayoutTrigger(models.TextChoices):
    REQUEST = "request", "Requested by the creator"
    SCHEDULE = "schedule", "Weekly schedule"


def _values(statuses) -> list[str]:
    return [s.value for s in statuses]


class Payout(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts")
    status = models.CharField(max_length=12, choices=PayoutStatus.choices, default=PayoutStatus.REQUESTED)
    method = models.CharField(max_length=12, choices=PayoutMethod.choices)
    trigger = models.CharField(max_length=12, choices=PayoutTrigger.choices, default=PayoutTrigger.REQUEST)
    # "weekly:2026-W11" for scheduled payouts: one per creator and week.
    schedule_key = models.CharField(max_length=40, blank=True, default="")

    tokens = models.PositiveBigIntegerField()
    # The rate when it was requested: a later change of PAYOUT_CENTS_PER_TOKEN
    # changes nothing about this payout.
    cents_per_token = models.PositiveIntegerField()
    amount_cents = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    # Where it goes, as requested: a Stripe account id, or the masked bank reference.
    destination = models.CharField(max_length=255, blank=True, default="")

    needs_review = models.BooleanField(default=False)
    review_reason = models.CharField(max_length=200, blank=True, default="")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="payouts_reviewed"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=500, blank=True, default="")

    request_transaction = models.ForeignKey(
        "ledger.Transaction", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    settle_transaction = models.ForeignKey(
        "ledger.Transaction", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    return_transaction = models.ForeignKey(
        "ledger.Transaction", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    stripe_transfer_id = models.CharField(max_length=255, blank=True, default="")
    stripe_payout_id = models.CharField(max_length=255, blank=True, default="")
    stripe_reversal_id = models.CharField(max_length=255, blank=True, default="")
    # Why it failed or was returned, in words the creator reads.
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.CharField(max_length=500, blank=True, default="")
    # The bank said no after the money left (payout.failed): the transfer is
    # being reversed before the tokens go back.
    bank_failed = models.BooleanField(default=False)
    # The operator's bank reference for a manual payout.
    manual_reference = models.CharField(max_length=140, blank=True, default="")
    # Why an approved payout is not being sent right now (ban, debt, account).
    held_reason = models.CharField(max_length=200, blank=True, default="")

    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # A worker sending it holds it until then; after, another may take it over.
    lease_until = models.DateTimeField(null=True, blank=True)

    requested_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("review_payout", "Can approve, reject and mark payouts paid")]
        indexes = [
            models.Index(fields=["creator", "-requested_at"], name="payouts_payout_creator_idx"),
            models.Index(fields=["status"], condition=Q(status__in=_values(IN_TRANSIT_STATUSES)), name="payouts_payout_open_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(tokens__gt=0), name="payouts_payout_tokens_positive"),
            models.CheckConstraint(condition=Q(cents_per_token__gt=0), name="payouts_payout_rate_positive"),
            models.CheckConstraint(condition=Q(amount_cents=F("tokens") * F("cents_per_token")), name="payouts_payout_amount_is_rate"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[a-z]{3}$"), name="payouts_payout_currency_iso"),
            models.UniqueConstraint(
                fields=["creator"], condition=Q(status__in=_values(OPEN_STATUSES)), name="payouts_one_open_per_creator"
            ),
            models.UniqueConstraint(
                fields=["creator", "schedule_key"], condition=~Q(schedule_key=""), name="payouts_one_per_schedule_period"
            ),
            models.CheckConstraint(
                condition=~Q(status=PayoutStatus.PAID) | Q(settle_transaction__isnull=False), name="payouts_paid_is_settled"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=_values(RETURNED_STATUSES)) | Q(return_transaction__isnull=False),
                name="payouts_returned_has_return",
            ),
            models.CheckConstraint(
                condition=~Q(method=PayoutMethod.STRIPE, status__in=[PayoutStatus.SENT, PayoutStatus.PAID])
                | ~Q(stripe_transfer_id=""),
                name="payouts_stripe_sent_has_transfer",
            ),
        ]

    def __str__(self):
        return f"Payout {self.id} ({self.tokens} tokens, {self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def in_transit(self) -> bool:
        return self.status in IN_TRANSIT_STATUSES

    @property
    def amount_display(self) -> str:
        return format_money(self.amount_cents, self.currency)


def format_money(cents: int, currency: str) -> str:
    """Integer cents -> "USD 12.35" (no floats near money)."""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{currency.upper()} {sign}{cents // 100:,}.{cents % 100:02d}"


class EarningKind(models.TextChoices):
    CALL = "call", "Call"
    MESSAGE = "message", "Message"
    TIP = "tip", "Tip"
    TICKET = "ticket", "Ticket"
    OTHER = "other", "Other"


class PayoutItem(models.Model):
    """One earning (a ledger transaction that credited the creator) in a payout's statement.

    Frozen when the payout is requested. ``tokens`` is the part of this
    earning the payout carries (an earning can be split across two payouts,
    or be partly spent); ``gross``, ``fee`` and ``net`` are the earning's own
    figures after any refund of it, at that moment.
    """

    id = models.BigAutoField(primary_key=True)
    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="items")
    earning = models.ForeignKey("ledger.Transaction", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=EarningKind.choices)
    earned_at = models.DateTimeField()
    gross = models.BigIntegerField()
    fee = models.BigIntegerField()
    net = models.BigIntegerField()
    tokens = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["earned_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(tokens__gt=0) & Q(tokens__lte=F("net")), name="payouts_item_tokens_within_net"),
            models.CheckConstraint(condition=Q(gross=F("net") + F("fee")), name="payouts_item_gross_is_net_plus_fee"),
            models.UniqueConstraint(fields=["payout", "earning"], name="payouts_item_once_per_payout"),
        ]

    def __str__(self):
        return f"{self.kind} {self.tokens}/{self.net} (tx {self.earning_id})"
