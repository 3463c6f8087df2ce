"""Every write of the payments app.

Money moves only through ``ledger.services`` and only under idempotency keys
derived from Stripe ids, so any step here can be repeated (a duplicate webhook,
a retry after a crash halfway, an operator's replay) without moving money
twice. The ledger joins a transaction that is already open, so a payment
intent's event is claimed, credited and marked done in one transaction (one
commit; see ONE_TRANSACTION_EVENT_TYPES). Refunds and disputes decide under
the purchase's lock, commit, then execute through the ledger; our bookkeeping
around those calls is short, atomic, and advances by compare-and-swap.
"""

import json
import logging
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from digis.db import db_param
from digis.realtime.events import send_event_on_commit
from notifications.models import NotificationKind
from notifications.services import notify
from payments import gateway
from payments.exceptions import (
    AccountCannotPurchase,
    PaymentProviderError,
    EventNotReady,
    PackageNotAvailable,
    PurchaseNotFound,
    PurchaseNotPayable,
    UnknownPurchase,
)
from payments.locks import lock_purchase
from payments.models import (
    PAYABLE_STATES,
    Clawback,
    ClawbackKind,
    EventStatus,
    Purchase,
    PurchaseStatus,
    StripeEvent,
    TokenPackage,
)

logger = logging.getLogger(__name__)


# --- Buying ------------------------------------------------------------------


def start_purchase(*, user, package_id) -> Purchase:
    """Create a pending Purchase and its Stripe PaymentIntent.

    The amount comes from the package, on the server. The PaymentIntent is
    created under the purchase's id as Stripe idempotency key, so a retried
    call can never open a second intent for the same purchase. Rate limiting is
    the caller's (the API view's) job. Returns the purchase with its
    ``client_secret``.
    """
    if user.is_banned:
        raise AccountCannotPurchase()
    package = TokenPackage.objects.filter(pk=package_id, active=True).first()
    if package is None:
        raise PackageNotAvailable(fields={"package": ["Choose one of the packages on sale."]})

    with transaction.atomic(durable=True):
        purchase = Purchase.objects.create(
            user=user,
            package=package,
            tokens=package.total_tokens,
            amount_cents=package.price_cents,
            currency=package.currency,
        )

    # Network I/O outside any transaction.
    try:
        intent = gateway.create_payment_intent(
            amount_cents=purchase.amount_cents,
            currency=purchase.currency,
            metadata={"purchase": str(purchase.id), "user": str(user.pk), "tokens": str(purchase.tokens)},
            idempotency_key=f"digis-purchase-{purchase.id}",
        )
    except Exception as exc:
        Purchase.objects.filter(pk=purchase.pk, status=PurchaseStatus.PENDING).update(
            status=PurchaseStatus.FAILED, failure_reason=f"could not create the payment: {exc}"[:500]
        )
        raise

    Purchase.objects.filter(pk=purchase.pk, payment_intent_id="").update(
        payment_intent_id=intent.id, client_secret=intent.client_secret
    )
    purchase.refresh_from_db()
    return purchase


def payable_purchase(*, user, package_id) -> Purchase | None:
    """The user's open purchase of this package, if it may still be paid: a
    second click on "Buy", or another card after a decline, pays the same
    PaymentIntent instead of opening (and rate-counting) a new purchase.

    Only a purchase younger than PAYMENTS_PURCHASE_EXPIRE_S whose amount still
    matches the package is reused; anything else gets a fresh purchase."""
    package = TokenPackage.objects.filter(pk=package_id, active=True).first()
    if package is None:
        return None
    return (
        Purchase.objects.filter(
            user=user,
            package=package,
            status__in=PAYABLE_STATES,
            created_at__gt=timezone.now() - timezone.timedelta(seconds=settings.PAYMENTS_PURCHASE_EXPIRE_S),
            tokens=package.total_tokens,
            amount_cents=package.price_cents,
            currency=package.currency,
        )
        .exclude(payment_intent_id="")
        .exclude(client_secret="")
        .order_by("-created_at")
        .first()
    )


def confirm_purchase(*, user, purchase_id, token: str = "", payment_method: str = ""):
    """Confirm the user's own payable purchase with a card (server-side confirm
    for the localstripe stand-in of Stripe.js; real Stripe.js confirms in the
    browser). A purchase declined before may be paid with another card. Never
    credits: only the ``payment_intent.succeeded`` webhook does. Returns the
    PaymentIntent (``requires_action``: the browser completes 3-D Secure)."""
    purchase = Purchase.objects.filter(pk=purchase_id, user=user).first()
    if purchase is None:
        raise PurchaseNotFound()
    if purchase.status not in PAYABLE_STATES or not purchase.payment_intent_id:
        raise PurchaseNotPayable()
    return gateway.confirm_payment_intent(
        payment_intent_id=purchase.payment_intent_id, token=token, payment_method=payment_method
    )


def expire_abandoned_purchases(*, limit: int = 200) -> int:
    """Purchases nobody paid within PAYMENTS_PURCHASE_EXPIRE_S become expired
    (and leave the purchase history), their PaymentIntents cancelled first so
    they can never be paid afterwards. Returns how many expired.

    Safe to run anywhere, any number of times: a purchase moves only by
    compare-and-swap from a payable state, and one whose intent turns out to
    be paid (or being paid) is left for the webhook to credit. Network I/O
    happens outside any transaction."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.PAYMENTS_PURCHASE_EXPIRE_S)
    expired = 0
    stale = Purchase.objects.filter(status__in=PAYABLE_STATES, created_at__lt=cutoff).order_by("created_at")[:limit]
    for purchase_id, intent_id in stale.values_list("id", "payment_intent_id"):
        if intent_id:
            try:
                status = gateway.cancel_payment_intent(payment_intent_id=intent_id)
            except PaymentProviderError:
                continue  # Stripe did not answer: the next run tries again
            if status != "canceled":
                continue  # paid or being paid: the webhook credits it
        expired += Purchase.objects.filter(pk=purchase_id, status__in=PAYABLE_STATES).update(
            status=PurchaseStatus.EXPIRED,
            failure_reason=f"Not paid within {settings.PAYMENTS_PURCHASE_EXPIRE_S // 60} minutes.",
        )
    return expired


# --- Webhook events ------------------------------------------------------------


def record_event(*, payload: dict, claim: bool = False) -> tuple[StripeEvent, bool]:
    """Store a verified event once (unique Stripe id). Returns (event, created).

    With ``claim`` a new event is stored already claimed for processing: the
    first delivery, the common case, costs one commit instead of two. A
    concurrent duplicate waits on the unique index until that commit, then
    finds the row.
    """
    now = timezone.now()
    claimed = {"status": EventStatus.PROCESSING, "claimed_at": now, "attempts": 1} if claim else {}
    created = StripeEvent.objects.bulk_create(
        [
            StripeEvent(
                stripe_id=payload["id"],
                type=payload["type"],
                livemode=bool(payload.get("livemode", False)),
                payload=payload,
                **claimed,
            )
        ],
        ignore_conflicts=True,
    )
    # The payload is not read back: it is the one we hold (when we inserted the
    # row) or not needed (a duplicate is answered from the status alone).
    event = StripeEvent.objects.defer("payload").get(stripe_id=payload["id"])
    # bulk_create with ignore_conflicts cannot say whether it inserted; the
    # claim timestamp can (ours is unique to this call).
    inserted = bool(created) and claim and event.claimed_at == now and event.attempts == 1
    if inserted:
        event.payload = payload
    return event, inserted


# Handlers whose writes may all share the caller's transaction: they open no
# durable transaction of their own, and the ledger joins an open one. Their
# events are claimed, handled and marked done in ONE transaction, so a
# crediting delivery costs one commit instead of four, and a handler that
# raises halfway leaves nothing behind: the rollback takes the credit, the
# purchase's new state and the claim with it, and the failure is then
# recorded on its own (_RECORD_FAILURE_SQL). Refunds and disputes decide
# under a lock and commit before they execute (see Clawback), so they keep
# the claim / handle / mark steps of _run_claimed.
ONE_TRANSACTION_EVENT_TYPES = frozenset(
    {"payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"}
)


def _runs_in_one_transaction(event_type: str | None) -> bool:
    """Claimed, handled and marked done in one transaction: the payment-intent
    events, and events we do not handle (they are only recorded as ignored)."""
    return event_type in ONE_TRANSACTION_EVENT_TYPES or event_type not in EVENT_HANDLERS

_EVENT_TABLE = StripeEvent._meta.db_table
_CLAIMABLE_SQL = "e.status IN ('received', 'failed') OR (e.status = 'processing' AND e.claimed_at < %s)"
# Every delivery of an event first takes a transaction-scoped advisory lock on
# its id, without waiting: the one that gets it handles the event (a new one is
# stored already claimed in the same round trip, the common case); any other
# copy arriving meanwhile is answered "in_progress" (409, Stripe retries) at
# once, instead of queueing on the unique index for as long as the first one's
# transaction lasts, holding a worker and a database connection. The lock goes
# with the commit or rollback. (Namespace: the two-key form, first key ours.)
_EVENT_LOCK_NAMESPACE = 0x5354_5250  # "STRP"
_INSERT_CLAIMED_SQL = f"""
WITH lock AS (SELECT pg_try_advisory_xact_lock({_EVENT_LOCK_NAMESPACE}, hashtext(%s)) AS mine),
inserted AS (
    INSERT INTO {_EVENT_TABLE}
        (stripe_id, type, livemode, payload, status, attempts, claimed_at, outcome, last_error, received_at, processed_at)
    SELECT %s, %s, %s, %s::jsonb, 'processing', 1, %s, '', '', %s, NULL FROM lock WHERE lock.mine
    ON CONFLICT (stripe_id) DO NOTHING
    RETURNING id
)
SELECT (SELECT mine FROM lock), (SELECT id FROM inserted)
"""
# A stored event is claimed by compare-and-swap if it may run again (received,
# failed, or a claim whose lease ran out), and its status read in the same round
# trip for the answer when it may not (under the advisory lock above, so no
# other delivery is claiming it). Not ON CONFLICT DO UPDATE ... WHERE: that
# locks the row even when the WHERE is false, and would make a handled event's
# copies queue on it, one commit each.
_CLAIM_STORED_SQL = f"""
WITH claimed AS (
    UPDATE {_EVENT_TABLE} AS e SET status = 'processing', claimed_at = %s, attempts = e.attempts + 1
    WHERE e.stripe_id = %s AND ({_CLAIMABLE_SQL})
    RETURNING e.id
)
SELECT (SELECT id FROM claimed), (SELECT status FROM {_EVENT_TABLE} WHERE stripe_id = %s)
"""
# The failure of a handler whose transaction rolled back, recorded as if its
# claim had held: a new event is stored failed, a stored one that was
# claimable becomes failed with one more attempt. An event another delivery
# has meanwhile claimed or handled is left alone.
_RECORD_FAILURE_SQL = f"""
INSERT INTO {_EVENT_TABLE} AS e
    (stripe_id, type, livemode, payload, status, attempts, claimed_at, outcome, last_error, received_at, processed_at)
VALUES (%s, %s, %s, %s::jsonb, 'failed', 1, NULL, '', %s, %s, NULL)
ON CONFLICT (stripe_id) DO UPDATE SET status = 'failed', claimed_at = NULL, attempts = e.attempts + 1,
    last_error = EXCLUDED.last_error
WHERE {_CLAIMABLE_SQL}
"""


def receive_event(*, payload: dict) -> str:
    """Record and process one verified Stripe event. Returns the outcome:
    "processed", "ignored", "duplicate" (handled before), "in_progress" (another
    delivery is handling it right now) or "failed" (recorded; Stripe retries)."""
    # The single statement that locks and claims is PostgreSQL's; the embedded
    # default (SQLite, one writer at a time) takes the three steps below.
    if _runs_in_one_transaction(payload["type"]) and connection.vendor == "postgresql":
        return _receive_in_one_transaction(payload)
    event, claimed = record_event(payload=payload, claim=True)
    if claimed:
        return _run_claimed(event)
    return process_event(event_id=event.pk)


def _lease_cutoff(now):
    return now - timezone.timedelta(seconds=settings.PAYMENTS_EVENT_LEASE_S)


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:5000]


def _receive_in_one_transaction(payload: dict) -> str:
    """Store-and-claim, handle and mark done in one transaction (one commit)."""
    handler = EVENT_HANDLERS.get(payload["type"])
    now = timezone.now()
    row = (payload["id"], payload["type"], bool(payload.get("livemode", False)), json.dumps(payload))
    try:
        with transaction.atomic(durable=True):
            with connection.cursor() as cursor:
                cursor.execute(_INSERT_CLAIMED_SQL, [payload["id"], *row, now, now])
                mine, event_id = cursor.fetchone()
                status = EventStatus.PROCESSING  # not mine: another delivery is handling it right now
                if mine and event_id is None:
                    cursor.execute(_CLAIM_STORED_SQL, [now, payload["id"], _lease_cutoff(now), payload["id"]])
                    event_id, status = cursor.fetchone()
            if event_id is not None:
                outcome = _handle(handler, payload) if handler else "not handled"
                _mark_done(event_id, handled=handler is not None, outcome=outcome)
    except Exception as exc:
        logger.exception("stripe event failed", extra={"stripe_event": payload["id"], "event_type": payload["type"]})
        with connection.cursor() as cursor:
            cursor.execute(_RECORD_FAILURE_SQL, [*row, _error_text(exc), now, _lease_cutoff(now)])
        return "failed"
    if event_id is None:
        return "in_progress" if status == EventStatus.PROCESSING else "duplicate"
    return "processed" if handler else "ignored"


# The webhook's hot statements are written out, not built by the ORM: compiling
# an UPDATE or a SELECT with a join costs 0.25-0.6 ms of CPU each, the
# statement itself ~0.05 ms (bench/RESULTS.md, payments). Portable SQL with
# %s parameters adapted as the ORM would, so SQLite runs them too.
_MARK_DONE_SQL = f"""
UPDATE {_EVENT_TABLE} SET status = %s, outcome = %s, last_error = '', processed_at = %s, claimed_at = NULL
WHERE id = %s AND status = 'processing'
"""


def _mark_done(event_id: int, *, handled: bool, outcome) -> None:
    status = EventStatus.PROCESSED if handled else EventStatus.IGNORED
    with connection.cursor() as cursor:
        cursor.execute(
            _MARK_DONE_SQL,
            [status.value, str(outcome)[:500], connection.ops.adapt_datetimefield_value(timezone.now()), event_id],
        )


def _not_ours_to_run(**lookup) -> str:
    status = StripeEvent.objects.filter(**lookup).values_list("status", flat=True).first()
    return "in_progress" if status == EventStatus.PROCESSING else "duplicate"


def _claimable(now, *, force: bool) -> Q:
    claimable = Q(status__in=[EventStatus.RECEIVED, EventStatus.FAILED]) | Q(
        status=EventStatus.PROCESSING, claimed_at__lt=_lease_cutoff(now)
    )
    if force:
        claimable |= Q(status__in=[EventStatus.PROCESSED, EventStatus.IGNORED])
    return claimable


def process_event(*, event_id: int, force: bool = False) -> str:
    """Run the handler of a stored event at most once to success.

    Claiming is a compare-and-swap on the event's status, so two deliveries at
    the same moment cannot both run it; a claim older than the lease (a worker
    that died mid-way) may be taken over. ``force`` (operator replay) also
    re-runs a processed event: harmless, as every step is idempotent.
    """
    now = timezone.now()
    claim = dict(status=EventStatus.PROCESSING, claimed_at=now, attempts=F("attempts") + 1)
    event_type = StripeEvent.objects.filter(pk=event_id).values_list("type", flat=True).first()
    if _runs_in_one_transaction(event_type):
        handler = EVENT_HANDLERS.get(event_type)
        try:
            with transaction.atomic(durable=True):
                claimed = StripeEvent.objects.filter(_claimable(now, force=force), pk=event_id).update(**claim)
                if claimed:
                    payload = StripeEvent.objects.values_list("payload", flat=True).get(pk=event_id)
                    outcome = _handle(handler, payload) if handler else "not handled"
                    _mark_done(event_id, handled=handler is not None, outcome=outcome)
        except Exception as exc:
            logger.exception("stripe event failed", extra={"stripe_event_pk": event_id, "event_type": event_type})
            # The claim rolled back with the rest: record the failure as if it had held.
            StripeEvent.objects.filter(_claimable(now, force=force), pk=event_id).update(
                status=EventStatus.FAILED, last_error=_error_text(exc), claimed_at=None, attempts=F("attempts") + 1
            )
            return "failed"
        if not claimed:
            return _not_ours_to_run(pk=event_id)
        return "processed" if handler else "ignored"

    if not StripeEvent.objects.filter(_claimable(now, force=force), pk=event_id).update(**claim):
        return _not_ours_to_run(pk=event_id)
    return _run_claimed(StripeEvent.objects.get(pk=event_id))


def _run_claimed(event: StripeEvent) -> str:
    """Run the handler of an event this call has claimed and committed, and
    record the result (refunds and disputes, which commit as they go; every
    event on SQLite)."""
    event_id = event.pk
    handler = EVENT_HANDLERS.get(event.type)
    try:
        outcome = _handle(handler, event.payload) if handler else "not handled"
    except Exception as exc:
        StripeEvent.objects.filter(pk=event_id, status=EventStatus.PROCESSING).update(
            status=EventStatus.FAILED, last_error=_error_text(exc), claimed_at=None
        )
        logger.exception("stripe event failed", extra={"stripe_event": event.stripe_id, "event_type": event.type})
        return "failed"
    _mark_done(event_id, handled=handler is not None, outcome=outcome)
    return "processed" if handler else "ignored"


def _id_of(value) -> str:
    """Stripe expands some fields into objects depending on the API version."""
    if isinstance(value, dict):
        return value.get("id") or ""
    return value or ""


# What crediting reads of a purchase (in the model's field order, as
# Model.from_db expects); every other field is deferred and loads if touched.
_CREDIT_FIELDS = [
    f for f in Purchase._meta.concrete_fields if f.attname in {"id", "user_id", "tokens", "amount_cents", "currency", "status"}
]
_PURCHASE_BY_INTENT_SQL = (
    f"SELECT {', '.join(f.column for f in _CREDIT_FIELDS)} FROM {Purchase._meta.db_table} WHERE payment_intent_id = %s"
)


def _purchase_by_intent(intent_id: str) -> Purchase | None:
    """The purchase paid by this intent, with only what crediting reads loaded
    (its user too: a User with only its id, the rest deferred)."""
    with connection.cursor() as cursor:
        cursor.execute(_PURCHASE_BY_INTENT_SQL, [intent_id])
        row = cursor.fetchone()
    if row is None:
        return None
    # to_python: what the ORM's converters would make of a backend's raw values
    # (SQLite returns UUIDs as hex text).
    values = [field.to_python(value) for field, value in zip(_CREDIT_FIELDS, row)]
    purchase = Purchase.from_db(connection.alias, [f.attname for f in _CREDIT_FIELDS], values)
    user_model = Purchase._meta.get_field("user").related_model
    purchase.user = user_model.from_db(connection.alias, [user_model._meta.pk.attname], [purchase.user_id])
    purchase.payment_intent_id = intent_id
    return purchase


def _purchase_for_intent(intent: dict) -> Purchase | None:
    """The purchase behind a PaymentIntent: by intent id, or by the purchase id
    in its metadata (if we died between creating the intent and storing its id)."""
    purchase = _purchase_by_intent(intent["id"])
    if purchase is not None:
        return purchase
    purchase_id = (intent.get("metadata") or {}).get("purchase")
    if not purchase_id:
        return None
    try:
        purchase = Purchase.objects.filter(pk=uuid.UUID(str(purchase_id))).first()
    except ValueError:
        purchase = None
    if purchase is None or str(purchase.user_id) != (intent.get("metadata") or {}).get("user"):
        raise UnknownPurchase(f"PaymentIntent {intent['id']} names purchase {purchase_id}, which we do not have.")
    if not purchase.payment_intent_id:
        Purchase.objects.filter(pk=purchase.pk, payment_intent_id="").update(payment_intent_id=intent["id"])
        purchase.refresh_from_db()
    elif purchase.payment_intent_id != intent["id"]:
        raise UnknownPurchase(f"PaymentIntent {intent['id']} names purchase {purchase_id}, paid by another intent.")
    return purchase


# Compare-and-swap: only a pending purchase (or a failed or expired one that
# Stripe says was paid after all: money taken is always credited) becomes
# succeeded; 0 rows means another delivery got there first.
_MARK_PURCHASE_SUCCEEDED_SQL = f"""
UPDATE {Purchase._meta.db_table}
SET status = '{PurchaseStatus.SUCCEEDED.value}', credit_transaction_id = %s, charge_id = %s, failure_reason = '', succeeded_at = %s
WHERE id = %s AND status IN ('{PurchaseStatus.PENDING.value}', '{PurchaseStatus.FAILED.value}', '{PurchaseStatus.EXPIRED.value}')
"""


def _on_payment_intent_succeeded(intent: dict) -> str:
    """Credit the purchase's tokens exactly once (ledger key: the intent id)."""
    from ledger import services as ledger

    purchase = _purchase_for_intent(intent)
    if purchase is None:
        return "not a Digis purchase"
    if purchase.is_credited:
        return "already credited"

    amount = intent.get("amount_received") or intent.get("amount")
    currency = (intent.get("currency") or "").lower()
    if amount != purchase.amount_cents or currency != purchase.currency:
        reason = f"amount mismatch: Stripe says {amount} {currency}, the purchase is {purchase.amount_cents} {purchase.currency}"
        Purchase.objects.filter(pk=purchase.pk, status__in=[PurchaseStatus.PENDING, PurchaseStatus.FAILED]).update(
            status=PurchaseStatus.REFUSED, failure_reason=reason
        )
        logger.error("stripe payment refused", extra={"purchase": str(purchase.pk), "payment_intent": intent["id"], "reason": reason})
        return f"refused: {reason}"
    if purchase.status == PurchaseStatus.REFUSED:
        return "refused earlier"

    # The credit and the purchase's new state commit together: with the
    # event's claim when the webhook runs this (one transaction), or on their
    # own when called outside one. Either way a failure after the credit rolls
    # the credit back too, and the ledger key would make a repeat a no-op anyway.
    # On PostgreSQL this always runs inside the webhook's own transaction, which
    # a failure rolls back whole: no savepoint round trips. On SQLite it runs
    # as a step of its own, where a savepoint keeps a failure from poisoning an
    # enclosing block (a test's).
    with transaction.atomic(savepoint=connection.vendor != "postgresql"):
        credit = ledger.credit_purchase(
            user=purchase.user, tokens=purchase.tokens, idempotency_key=intent["id"], reference=f"purchase:{purchase.pk}"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                _MARK_PURCHASE_SUCCEEDED_SQL,
                [
                    str(credit.pk),
                    _id_of(intent.get("latest_charge")),
                    connection.ops.adapt_datetimefield_value(timezone.now()),
                    db_param(Purchase, "id", purchase.pk),
                ],
            )
            moved = cursor.rowcount
        if moved:
            _push_balance(purchase.user, balance=getattr(credit, "wallet_balance_after", None))
            # Once: only the delivery whose compare-and-swap moved the purchase gets here.
            notify(
                recipient=purchase.user,
                kind=NotificationKind.PURCHASE_CREDITED,
                text=f"{purchase.tokens} tokens were added to your wallet.",
                target=purchase,
                url=f"/wallet/purchases/{purchase.pk}/",
                data={"tokens": purchase.tokens},
            )
    return "credited" if moved else "already credited"


def _push_balance(user, *, balance: int | None = None) -> None:
    """Push the user's new balance to their sockets after commit (never before:
    a rolled back credit is never announced).

    Detached (digis.realtime.events): under daphne the request does not wait
    for it, since the response, i.e. "tokens credited", does not depend on
    it. A push is best effort either way: a failure is logged, and the page
    reads the balance when it loads.
    """
    from ledger.services import balance_of

    if balance is None:
        balance = balance_of(user=user)
    send_event_on_commit([user.pk], {"type": "wallet.updated", "balance": balance}, detached=True)


def _on_payment_intent_failed(intent: dict) -> str:
    purchase = Purchase.objects.filter(payment_intent_id=intent["id"]).first()
    if purchase is None:
        return "not a Digis purchase"
    error = intent.get("last_payment_error") or {}
    reason = error.get("message") or ("canceled" if intent.get("status") == "canceled" else "payment failed")
    moved = Purchase.objects.filter(pk=purchase.pk, status=PurchaseStatus.PENDING).update(
        status=PurchaseStatus.FAILED, failure_reason=reason[:500]
    )
    return "marked failed" if moved else f"left {purchase.status}"


def _on_payment_intent_canceled(intent: dict) -> str:
    """A cancelled intent can never be paid: its purchase expires (ours cancel
    abandoned ones; a cancel made elsewhere ends the same way)."""
    purchase = Purchase.objects.filter(payment_intent_id=intent["id"]).first()
    if purchase is None:
        return "not a Digis purchase"
    moved = Purchase.objects.filter(pk=purchase.pk, status__in=PAYABLE_STATES).update(
        status=PurchaseStatus.EXPIRED, failure_reason="The payment was cancelled."
    )
    return "marked expired" if moved else f"left {purchase.status}"


def _credited_purchase_for_charge(obj: dict) -> Purchase | None:
    """The credited purchase behind a charge or dispute, or None when the object
    is not ours. Raises EventNotReady when the purchase has not been credited
    yet (the succeeded event is still on its way)."""
    intent_id = _id_of(obj.get("payment_intent"))
    charge_id = obj["id"] if obj.get("object") == "charge" else _id_of(obj.get("charge"))
    purchase = None
    if intent_id:
        purchase = Purchase.objects.filter(payment_intent_id=intent_id).first()
    if purchase is None and charge_id:
        purchase = Purchase.objects.filter(charge_id=charge_id).first()
    if purchase is None:
        return None
    if not purchase.is_credited:
        raise EventNotReady(f"purchase {purchase.pk} is {purchase.status}; its succeeded event has not been processed")
    return purchase


def _tokens_for_cents(purchase: Purchase, cents: int) -> int:
    """Tokens bought with ``cents`` of this purchase, rounded down in the
    customer's favour (a full amount is always every token)."""
    return purchase.tokens * min(cents, purchase.amount_cents) // purchase.amount_cents


def _active_clawed(purchase: Purchase) -> int:
    return sum(c.tokens for c in purchase.clawbacks.all() if not c.restored)


def _on_charge_refunded(charge: dict) -> str:
    """Take back the tokens of the refunded share (``amount_refunded`` is
    cumulative, so a partial then a full refund take the remainder)."""
    purchase = _credited_purchase_for_charge(charge)
    if purchase is None:
        return "not a Digis purchase"
    # Capped: a refund can never exceed what was paid (localstripe's can).
    refunded = min(int(charge.get("amount_refunded") or 0), purchase.amount_cents)
    with transaction.atomic(durable=True):
        purchase = lock_purchase(purchase.pk)
        if refunded > purchase.refunded_cents:
            already_refund = sum(c.tokens for c in purchase.clawbacks.all() if c.kind == ClawbackKind.REFUND)
            room = purchase.tokens - _active_clawed(purchase)
            tokens = max(0, min(_tokens_for_cents(purchase, refunded) - already_refund, room))
            Clawback.objects.create(
                purchase=purchase,
                kind=ClawbackKind.REFUND,
                key=f"refund:{charge['id']}:{refunded}",
                stripe_object_id=charge["id"],
                tokens=tokens,
            )
            status = PurchaseStatus.REFUNDED if refunded >= purchase.amount_cents else PurchaseStatus.PARTIALLY_REFUNDED
            Purchase.objects.filter(pk=purchase.pk).update(refunded_cents=refunded, status=status)
    return _execute_clawbacks(purchase_id=purchase.pk)


def _plan_dispute_clawback(purchase: Purchase, dispute: dict) -> Clawback | None:
    """Decide (once, under the purchase's lock) what a dispute takes back:
    the disputed share, capped by what refunds have not already taken."""
    key = f"dispute:{dispute['id']}"
    if purchase.clawbacks.filter(key=key).exists():
        return None
    room = purchase.tokens - _active_clawed(purchase)
    tokens = max(0, min(_tokens_for_cents(purchase, int(dispute.get("amount") or 0)), room))
    return Clawback.objects.create(
        purchase=purchase, kind=ClawbackKind.CHARGEBACK, key=key, stripe_object_id=dispute["id"], tokens=tokens
    )


def _on_dispute_created(dispute: dict) -> str:
    """A dispute takes the disputed tokens back at once (the money is withdrawn
    from us at once); winning it gives them back."""
    purchase = _credited_purchase_for_charge(dispute)
    if purchase is None:
        return "not a Digis purchase"
    with transaction.atomic(durable=True):
        purchase = lock_purchase(purchase.pk)
        if _plan_dispute_clawback(purchase, dispute) is not None:
            Purchase.objects.filter(pk=purchase.pk).update(status=PurchaseStatus.DISPUTED)
    return _execute_clawbacks(purchase_id=purchase.pk)


def _on_dispute_closed(dispute: dict) -> str:
    """Won (or closed without funds withdrawn): give the tokens back. Lost: the
    claw-back stands."""
    from ledger import services as ledger
    from ledger.models import Transaction

    purchase = _credited_purchase_for_charge(dispute)
    if purchase is None:
        return "not a Digis purchase"
    won = dispute.get("status") in ("won", "warning_closed")
    key = f"dispute:{dispute['id']}"
    with transaction.atomic(durable=True):
        purchase = lock_purchase(purchase.pk)
        if not purchase.clawbacks.filter(key=key).exists():
            if won:
                # Closed in our favour before we saw it open (events out of
                # order): remember it as settled so a late "created" takes nothing.
                Clawback.objects.create(
                    purchase=purchase, kind=ClawbackKind.CHARGEBACK, key=key, stripe_object_id=dispute["id"], tokens=0, restored=True
                )
            else:
                _plan_dispute_clawback(purchase, dispute)
        if not won:
            Purchase.objects.filter(pk=purchase.pk).update(status=PurchaseStatus.CHARGEBACK)
    if not won:
        _execute_clawbacks(purchase_id=purchase.pk)
        return "dispute lost: the claw-back stands"
    _execute_clawbacks(purchase_id=purchase.pk)
    clawback = Clawback.objects.get(key=key)
    if clawback.tokens and not clawback.restore_transaction_id:
        restored = ledger.restore_clawback(
            original=Transaction.objects.get(pk=clawback.transaction_id),
            idempotency_key=f"restore:{dispute['id']}",
            reference=f"purchase:{purchase.pk}",
        )
        with transaction.atomic(durable=True):
            Clawback.objects.filter(pk=clawback.pk, restore_transaction_id="").update(
                restored=True, restore_transaction_id=str(restored.pk)
            )
            _settle_status_after_dispute(purchase.pk)
            _push_balance(purchase.user)
    else:
        with transaction.atomic(durable=True):
            Clawback.objects.filter(pk=clawback.pk).update(restored=True)
            _settle_status_after_dispute(purchase.pk)
    return "dispute won: tokens restored"


def _settle_status_after_dispute(purchase_id) -> None:
    purchase = Purchase.objects.get(pk=purchase_id)
    if purchase.refunded_cents >= purchase.amount_cents:
        status = PurchaseStatus.REFUNDED
    elif purchase.refunded_cents:
        status = PurchaseStatus.PARTIALLY_REFUNDED
    else:
        status = PurchaseStatus.SUCCEEDED
    Purchase.objects.filter(pk=purchase_id, status=PurchaseStatus.DISPUTED).update(status=status)


def _execute_clawbacks(*, purchase_id) -> str:
    """Run every planned, not yet executed claw-back of a purchase through the
    ledger (its key makes a repeat a no-op), then record its transaction."""
    from ledger import services as ledger

    done = []
    for clawback in Clawback.objects.filter(purchase_id=purchase_id, transaction_id="", tokens__gt=0).select_related("purchase__user"):
        txn = ledger.claw_back(
            user=clawback.purchase.user,
            tokens=clawback.tokens,
            idempotency_key=clawback.key,
            reference=f"purchase:{purchase_id}",
            kind=clawback.kind,
        )
        with transaction.atomic(durable=True):
            Clawback.objects.filter(pk=clawback.pk, transaction_id="").update(transaction_id=str(txn.pk))
            _push_balance(clawback.purchase.user)
        done.append(f"{clawback.key}: {clawback.tokens} tokens")
    return "clawed back " + ", ".join(done) if done else "nothing to claw back"


EVENT_HANDLERS = {
    "payment_intent.succeeded": _on_payment_intent_succeeded,
    "payment_intent.payment_failed": _on_payment_intent_failed,
    "payment_intent.canceled": _on_payment_intent_canceled,
    "charge.refunded": _on_charge_refunded,
    "charge.dispute.created": _on_dispute_created,
    "charge.dispute.closed": _on_dispute_closed,
}
HANDLED_EVENT_TYPES = sorted(EVENT_HANDLERS)

# Event types other apps handle (payouts: Stripe Connect's accounts, transfers
# and payouts), registered from their AppConfig.ready() so that payments
# imports no feature app. Such a handler takes the whole verified event (a
# Connect event names its connected account beside the object), is recorded
# and claimed once like ours, runs in the claim / handle / mark steps (it
# commits as it goes), must be idempotent, and returns an outcome string.
_REGISTERED_HANDLERS: set = set()


def register_event_handler(event_type: str, handler) -> None:
    current = EVENT_HANDLERS.get(event_type)
    if current is not None and current is not handler:
        raise ValueError(f"Stripe event {event_type!r} already has a handler")
    EVENT_HANDLERS[event_type] = handler
    _REGISTERED_HANDLERS.add(handler)


def _handle(handler, payload: dict):
    if handler in _REGISTERED_HANDLERS:
        return handler(payload)
    return handler(payload["data"]["object"])
