"""Every write of the payouts app.

A payout is a state machine advanced only by compare-and-swap
(``filter(pk=, status=old).update(status=new)``; 0 rows means someone else got
there first):

    requested -> approved -> sending -> sent -> paid
        |            |          |         `-> failed (the bank said no) / returned (reversed at Stripe)
        |            |          `-> failed (Stripe refused the transfer)
        `------------+-> rejected (staff)                     manual method: approved -> sent -> paid / failed

Money moves only through ``ledger.services`` under keys derived from the
payout's id (``payout:<id>:request|paid|return``), in the same transaction as
the state change that causes it; Stripe is called only outside any
transaction, under idempotency keys derived from the same id
(``payouts.gateway``). So:

- a retry, a second worker, a duplicate webhook or an operator's replay finds
  the state already moved and does nothing, or repeats a call whose key makes
  it a no-op;
- a worker that dies in ``sending`` (after the ledger write, before, during or
  after the Stripe call) leaves a lease that runs out; the sweeper takes the
  payout over and calls Stripe again with the same keys, after first looking
  the transfer up by its transfer group (keys last 24 hours at Stripe);
- a failed or reversed transfer returns the tokens in the same transaction
  that records why, and the creator is told why.
"""

import datetime as dt
import logging
import uuid
import zlib

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from digis.realtime.events import send_event_on_commit
from ledger import selectors as ledger_selectors
from ledger import services as ledger
from ledger.exceptions import ExceedsPayable
from moderation import selectors as moderation_selectors
from notifications.models import NotificationKind
from notifications.services import notify
from payouts import bank, gateway, selectors
from payouts.earnings import allocate
from payouts.exceptions import (
    BelowMinimum,
    InvalidBankDetails,
    NotACreator,
    OnboardingUnavailable,
    PaymentProviderUnavailable,
    PayoutAccountMissing,
    PayoutAccountNotReady,
    PayoutInProgress,
    PayoutMethodUnavailable,
    PayoutNotFound,
    PayoutNotReviewable,
    PayoutsSuspended,
    PayoutWrongState,
)
from payouts.locks import lock_payout, lock_payout_account
from payouts.models import (
    Payout,
    PayoutAccount,
    PayoutItem,
    PayoutMethod,
    PayoutSchedule,
    PayoutStatus,
    PayoutTrigger,
)

logger = logging.getLogger(__name__)


def _now():
    return timezone.now()


def _require_creator(user) -> None:
    if not selectors.is_creator(user):
        raise NotACreator()


def _audit(*, actor, action: str, target, reason: str, before: dict, after: dict) -> None:
    from accounts.services import record_audit  # the audit log is accounts' (a core app)

    record_audit(actor=actor, action=action, target=target, reason=reason, before=before, after=after)


def stop_reason(user) -> str:
    """Why payouts to this creator are stopped right now, or "" if they are not."""
    if getattr(user, "is_banned", False):
        return "Your account is suspended, so payouts are stopped."
    if not user.is_active:
        return "This account is closed."
    debt = ledger_selectors.debt_of(user=user)
    if debt > 0:
        return f"You owe {debt:,} tokens after a refund or chargeback, so payouts are stopped until it is settled."
    if moderation_selectors.payouts_frozen(user):
        return "Your payouts are on hold while moderators review reports about your account."
    return ""


def _push(payout: Payout) -> None:
    """Tell the creator's open pages (after commit) that a payout moved."""
    send_event_on_commit(
        [payout.creator_id],
        {"type": "payout.updated", "payout": {"id": str(payout.pk), "status": payout.status, "tokens": payout.tokens}},
    )


def _tell(payout: Payout, text: str, *, step: str) -> None:
    """Notify the creator (inside the caller's transaction; once per payout and step)."""
    notify(
        recipient=payout.creator, kind=NotificationKind.PAYOUT_STATUS, text=text, target=payout,
        url=f"/earnings/payouts/{payout.pk}/", data={"payout": str(payout.pk), "status": payout.status},
        dedupe_key=f"payout:{payout.pk}:{step}",
    )


def _reload(payout_id) -> Payout:
    return Payout.objects.select_related("creator").get(pk=payout_id)


# --- payout account -------------------------------------------------------------------------


def _method_allowed(method: str) -> None:
    if method not in settings.PAYOUT_METHODS:
        raise PayoutMethodUnavailable(fields={"method": [f"Choose one of: {', '.join(settings.PAYOUT_METHODS)}."]})


def _account_for(user) -> PayoutAccount:
    account, _ = PayoutAccount.objects.get_or_create(user=user)
    return account


def start_stripe_onboarding(*, user, country: str, return_url: str, refresh_url: str) -> tuple[PayoutAccount, str]:
    """Create (once) the creator's Express account and a fresh onboarding link.

    Returns (account, the link's URL). The Stripe account is created under an
    idempotency key of the creator's id and recorded by compare-and-swap, so a
    double click makes one account. The link expires in minutes: never stored.
    """
    _require_creator(user)
    _method_allowed(PayoutMethod.STRIPE)
    country = (country or "US").upper()
    if len(country) != 2 or not country.isalpha():
        raise InvalidBankDetails("Choose the country of your bank.", fields={"country": ["A two-letter country code."]})
    account = _account_for(user)
    if not account.stripe_account_id:
        try:
            created = gateway.create_express_account(user_id=user.pk, email=user.email, country=country)
        except gateway.StripeUnavailable:
            raise PaymentProviderUnavailable()
        except gateway.StripeRefused as exc:
            raise OnboardingUnavailable(exc.message)
        PayoutAccount.objects.filter(pk=account.pk, stripe_account_id="").update(stripe_account_id=created.id, updated_at=_now())
        account.refresh_from_db()
        if account.stripe_account_id == created.id:
            apply_stripe_account(created.to_dict())  # what Stripe needs from the creator, shown at once
            account.refresh_from_db()
    try:
        link = gateway.create_account_link(account_id=account.stripe_account_id, refresh_url=refresh_url, return_url=return_url)
    except gateway.StripeUnavailable:
        raise PaymentProviderUnavailable()
    except gateway.StripeRefused as exc:
        raise OnboardingUnavailable(exc.message)
    if account.method != PayoutMethod.STRIPE:
        PayoutAccount.objects.filter(pk=account.pk).update(method=PayoutMethod.STRIPE, updated_at=_now())
        account.method = PayoutMethod.STRIPE
    return account, link.url


def apply_stripe_account(data: dict, *, as_of: int | None = None) -> str:
    """Mirror a connected account's state (an ``account.updated`` event, or a
    fresh read on the onboarding return page). Idempotent; an older state
    arriving after a newer one is ignored (``as_of``: the event's time)."""
    account_id = data.get("id") or ""
    account = PayoutAccount.objects.filter(stripe_account_id=account_id).first()
    if account is None:
        return "not a Digis payout account"
    capabilities = data.get("capabilities") or {}
    requirements = data.get("requirements") or {}
    banks = ((data.get("external_accounts") or {}).get("data")) or []
    stamp = dt.datetime.fromtimestamp(int(as_of), tz=dt.UTC) if as_of else _now()
    with transaction.atomic(durable=True):
        account = lock_payout_account(account.pk)
        # Stripe's event times are whole seconds: an event of the same second
        # as the state we hold is applied (it carries the whole account).
        if as_of and account.stripe_synced_at and account.stripe_synced_at.replace(microsecond=0) > stamp:
            return "older than the state we have"
        before = account.ready
        PayoutAccount.objects.filter(pk=account.pk).update(
            stripe_details_submitted=bool(data.get("details_submitted")),
            stripe_payouts_enabled=bool(data.get("payouts_enabled")),
            stripe_transfers_active=capabilities.get("transfers") == "active",
            stripe_requirements_due=list(requirements.get("currently_due") or [])[:50],
            stripe_disabled_reason=(requirements.get("disabled_reason") or "")[:100],
            stripe_bank_last4=(banks[0].get("last4") or "")[:4] if banks else "",
            stripe_synced_at=stamp,
            updated_at=_now(),
        )
        account.refresh_from_db()
        if account.method == PayoutMethod.STRIPE and account.ready != before:
            text = (
                "Your Stripe payout account is ready: payouts can be sent to it."
                if account.ready
                else "Stripe has paused payouts to your account. Open your earnings page to see what it needs."
            )
            notify(
                recipient=account.user, kind=NotificationKind.PAYOUT_STATUS, text=text, url="/earnings/",
                data={"account": "ready" if account.ready else "restricted"},
                dedupe_key=f"payout-account:{account.pk}:{'ready' if account.ready else 'restricted'}:{int(stamp.timestamp())}",
            )
    return "ready" if account.ready else "not ready"


def sync_stripe_account(*, user) -> PayoutAccount | None:
    """Read the creator's account from Stripe now (the onboarding return page:
    Stripe's advice is not to wait for the webhook there)."""
    account = selectors.payout_account_of(user)
    if account is None or not account.stripe_account_id:
        return account
    try:
        apply_stripe_account(gateway.retrieve_account(account.stripe_account_id))
    except gateway.StripeUnavailable:
        logger.warning("payouts: could not read the Stripe account on return", extra={"user_id": str(user.pk)})
    except gateway.StripeRefused as exc:
        logger.error("payouts: Stripe refused to read our connected account", extra={"user_id": str(user.pk), "error": exc.message})
    account.refresh_from_db()
    return account


def set_bank_account(*, user, scheme: str, holder: str, iban: str = "", routing_number: str = "", account_number: str = "",
                     sort_code: str = "") -> PayoutAccount:
    """Use the manual method: validate the bank details, keep only a masked reference."""
    _require_creator(user)
    _method_allowed(PayoutMethod.MANUAL)
    masked = bank.mask_bank_details(
        scheme=scheme, holder=holder, iban=iban, routing_number=routing_number, account_number=account_number, sort_code=sort_code
    )
    with transaction.atomic(durable=True):
        account = _account_for(user)
        PayoutAccount.objects.filter(pk=account.pk).update(
            method=PayoutMethod.MANUAL, bank_scheme=masked.scheme, bank_country=masked.country, bank_holder=masked.holder,
            bank_masked=masked.masked, updated_at=_now(),
        )
    account.refresh_from_db()
    return account


def use_stripe_method(*, user) -> PayoutAccount:
    """Switch back to an already connected Stripe account."""
    _require_creator(user)
    _method_allowed(PayoutMethod.STRIPE)
    account = _account_for(user)
    if not account.stripe_account_id:
        raise PayoutAccountMissing("Connect a Stripe account first.")
    PayoutAccount.objects.filter(pk=account.pk).update(method=PayoutMethod.STRIPE, updated_at=_now())
    account.refresh_from_db()
    return account


def set_schedule(*, user, schedule: str) -> PayoutAccount:
    _require_creator(user)
    if schedule not in PayoutSchedule.values:
        raise InvalidBankDetails("Choose weekly or on request.", fields={"schedule": ["weekly or on_request"]}, code="invalid_schedule")
    account = _account_for(user)
    PayoutAccount.objects.filter(pk=account.pk).update(schedule=schedule, updated_at=_now())
    account.refresh_from_db()
    return account


# --- requesting ---------------------------------------------------------------------------------


def why_cannot_request(*, user, position=None, account=None) -> str:
    """Why the creator cannot ask for a payout right now, in words, or ""."""
    reason = stop_reason(user)
    if reason:
        return reason
    account = account if account is not None else selectors.payout_account_of(user)
    if account is None:
        return "Set up where your payouts go first."
    if not account.ready:
        if account.method == PayoutMethod.STRIPE:
            return "Finish setting up your Stripe account first."
        return "Enter your bank details first."
    if selectors.open_payout_of(user) is not None:
        return "You have a payout in progress; you can ask for the next one when it has been sent."
    position = position if position is not None else selectors.creator_position(user=user)
    minimum = settings.PAYOUT_MIN_TOKENS
    if position.payable < minimum:
        return f"You can ask for a payout once at least {minimum:,} tokens are payable; {position.payable:,} are now."
    return ""


def _review_reason(user, tokens: int) -> str:
    reasons = []
    if not selectors.has_been_paid(user):
        reasons.append("first payout")
    if tokens > settings.PAYOUT_REVIEW_ABOVE_TOKENS:
        reasons.append(f"above {settings.PAYOUT_REVIEW_ABOVE_TOKENS:,} tokens")
    return ", ".join(reasons)


def request_payout(*, user, tokens: int | None = None, trigger: str = PayoutTrigger.REQUEST, schedule_key: str = "") -> Payout:
    """Set aside ``tokens`` (default: everything payable now) of the creator's
    wallet for a payout, with its statement, in one transaction.

    Refuses (each with its code): not a creator, payouts stopped (ban, debt),
    no ready payout account, a payout already open, less than the minimum,
    more than is payable now (ExceedsPayable, decided under the wallet lock).
    A payout that needs no review is approved at once and its sending queued
    after commit. A scheduled payout is created at most once per period
    (``schedule_key``); asking again returns the first.
    """
    _require_creator(user)
    reason = stop_reason(user)
    if reason:
        raise PayoutsSuspended(reason)
    account = selectors.payout_account_of(user)
    if account is None:
        raise PayoutAccountMissing()
    if not account.ready:
        raise PayoutAccountNotReady()
    if schedule_key:
        existing = Payout.objects.filter(creator_id=user.pk, schedule_key=schedule_key).first()
        if existing is not None:
            return existing
    if selectors.open_payout_of(user) is not None:
        raise PayoutInProgress()
    # Everything pending is in the wallet before we look (releases are FIFO
    # and idempotent; the 15-minute job would do it anyway).
    ledger.release_earnings(user=user)
    position = selectors.creator_position(user=user)
    minimum = settings.PAYOUT_MIN_TOKENS
    if tokens is None:
        tokens = position.payable
    if (tokens < minimum or tokens > position.payable) and selectors.open_payout_of(user) is not None:
        # A payout of ours committed since the check above and took what was
        # payable: a double click is told that, not that nothing is payable.
        raise PayoutInProgress()
    if tokens < minimum or tokens <= 0:
        raise BelowMinimum(
            f"A payout must be at least {minimum:,} tokens; {position.payable:,} are payable now.", minimum=minimum,
            payable=position.payable,
        )
    if tokens > position.payable:
        raise ExceedsPayable(f"Only {position.payable:,} tokens are payable now.", payable=position.payable)
    payout_id = uuid.uuid4()
    review = _review_reason(user, tokens)
    now = _now()
    rate = settings.PAYOUT_CENTS_PER_TOKEN
    seen = {}

    def payable_under_lock() -> int:
        # Called by the ledger with the creator's wallet locked: this is the
        # position the statement is built from.
        seen["position"] = selectors.creator_position(user=user, now=now)
        return seen["position"].payable

    try:
        with transaction.atomic(durable=True):
            # The row first: a second request at the same moment waits here on
            # the one-open-payout index, then fails, before any ledger work.
            payout = Payout.objects.create(
                id=payout_id, creator=user, method=account.method, trigger=trigger, schedule_key=schedule_key,
                tokens=tokens, cents_per_token=rate, amount_cents=tokens * rate, currency=settings.PAYOUT_CURRENCY,
                destination=account.stripe_account_id if account.method == PayoutMethod.STRIPE else account.bank_masked,
                needs_review=bool(review), review_reason=review,
                status=PayoutStatus.REQUESTED if review else PayoutStatus.APPROVED, approved_at=None if review else now,
            )
            hold = ledger.hold_payout(user=user, tokens=tokens, payout_id=payout_id, payable=payable_under_lock)
            Payout.objects.filter(pk=payout_id).update(request_transaction=hold)
            items = allocate(seen["position"], tokens)
            PayoutItem.objects.bulk_create(
                PayoutItem(
                    payout=payout, earning_id=lot.transaction_id, kind=lot.kind, earned_at=lot.earned_at,
                    gross=lot.gross, fee=lot.fee, net=lot.net, tokens=share,
                )
                for lot, share in items
            )
            if review:
                _tell(payout, f"Your payout of {tokens:,} tokens ({payout.amount_display}) is waiting for a quick review ({review}).", step="requested")
            else:
                _tell(payout, f"Your payout of {tokens:,} tokens ({payout.amount_display}) is approved and on its way.", step="approved")
                _queue_send(payout)
            _push(payout)
    except IntegrityError:
        if schedule_key:
            existing = Payout.objects.filter(creator_id=user.pk, schedule_key=schedule_key).first()
            if existing is not None:
                return existing
        if selectors.open_payout_of(user) is not None:
            raise PayoutInProgress()
        raise
    return _reload(payout_id)


def _queue_send(payout: Payout) -> None:
    if payout.method != PayoutMethod.STRIPE:
        return  # an operator pays it by bank transfer
    from payouts.tasks import send_payout_task

    payout_id = str(payout.pk)
    transaction.on_commit(lambda: send_payout_task.delay(payout_id))


# --- review (staff) ------------------------------------------------------------------------------


def may_review(user) -> bool:
    return bool(
        user is not None and user.is_active and user.is_staff
        and (user.is_superuser or user.has_perm("payouts.review_payout"))
    )


def _snapshot(payout: Payout) -> dict:
    return {"status": payout.status, "tokens": payout.tokens, "amount_cents": payout.amount_cents, "currency": payout.currency}


def approve_payout(*, payout_id, actor, note: str = "") -> Payout:
    """Staff approves a payout waiting for review. Audited; sending is queued after commit."""
    if not may_review(actor):
        raise PayoutNotReviewable("You may not review payouts.", code="forbidden")
    with transaction.atomic(durable=True):
        payout = lock_payout(payout_id)
        if payout is None:
            raise PayoutNotFound()
        before = _snapshot(payout)
        moved = Payout.objects.filter(pk=payout.pk, status=PayoutStatus.REQUESTED).update(
            status=PayoutStatus.APPROVED, approved_at=_now(), reviewed_by=actor, reviewed_at=_now(), review_note=note[:500],
        )
        if not moved:
            raise PayoutNotReviewable()
        payout = _reload(payout.pk)
        _audit(actor=actor, action="payout.approve", target=payout, reason=note.strip() or "Approved.", before=before, after=_snapshot(payout))
        _tell(payout, f"Your payout of {payout.tokens:,} tokens ({payout.amount_display}) is approved and on its way.", step="approved")
        _queue_send(payout)
        _push(payout)
    return payout


def _close_with_return(payout: Payout, *, from_statuses, status: str, reason: str, code: str = "", extra: dict | None = None) -> bool:
    """Move the payout to a returning final state and give its tokens back, in
    the caller's transaction. False if it was no longer in ``from_statuses``.

    The row is locked first (then the ledger locks the wallet: always in that
    order), so the status check, the ledger's return and the new status are
    one step; the database requires a returned payout to name its return.
    """
    allowed = [str(s) for s in from_statuses]
    locked = lock_payout(payout.pk)
    if locked is None or locked.status not in allowed:
        return False
    returned = ledger.return_payout(payout_id=payout.pk, reason=reason)
    return bool(
        Payout.objects.filter(pk=payout.pk, status__in=allowed).update(
            status=status, return_transaction=returned, failure_code=code[:64], failure_message=reason[:500],
            finished_at=_now(), lease_until=None, **(extra or {}),
        )
    )


def reject_payout(*, payout_id, actor, reason: str) -> Payout:
    """Staff rejects a payout not yet sent: its tokens go back to the wallet. Audited; the creator is told why."""
    if not may_review(actor):
        raise PayoutNotReviewable("You may not review payouts.", code="forbidden")
    if not reason or not reason.strip():
        raise InvalidBankDetails("A reason is required.", fields={"reason": ["Required."]}, code="reason_required")
    with transaction.atomic(durable=True):
        payout = lock_payout(payout_id)
        if payout is None:
            raise PayoutNotFound()
        before = _snapshot(payout)
        if not _close_with_return(
            payout, from_statuses=(PayoutStatus.REQUESTED, PayoutStatus.APPROVED), status=PayoutStatus.REJECTED,
            reason=reason.strip(), code="rejected",
            extra={"reviewed_by": actor, "reviewed_at": _now(), "review_note": reason.strip()[:500]},
        ):
            raise PayoutNotReviewable("Only a payout that has not started sending can be rejected.")
        payout = _reload(payout.pk)
        _audit(actor=actor, action="payout.reject", target=payout, reason=reason, before=before, after=_snapshot(payout))
        _tell(payout, f"Your payout of {payout.tokens:,} tokens was not approved: {reason.strip()} The tokens are back in your wallet.", step="rejected")
        _push(payout)
    return payout


# --- sending (Stripe) ---------------------------------------------------------------------------------


def _lease():
    return _now() + timezone.timedelta(seconds=settings.PAYOUT_SEND_LEASE_S)


def _fail(payout_id, *, from_statuses, code: str, message: str) -> bool:
    """The payout failed: tokens back, creator told why, in one transaction."""
    with transaction.atomic(durable=True):
        payout = _reload(payout_id)
        if not _close_with_return(payout, from_statuses=from_statuses, status=PayoutStatus.FAILED, reason=message, code=code):
            return False
        payout = _reload(payout_id)
        _tell(payout, f"Your payout of {payout.tokens:,} tokens failed: {message} The tokens are back in your wallet.", step="failed")
        _push(payout)
    return True


def _hold(payout: Payout, reason: str) -> str:
    """An approved payout that may not go out now stays approved, saying why (told once per reason)."""
    with transaction.atomic(durable=True):
        if Payout.objects.filter(pk=payout.pk, status=PayoutStatus.APPROVED).exclude(held_reason=reason).update(held_reason=reason):
            logger.info("payouts: payout held", extra={"payout": str(payout.pk), "reason": reason})
            payout = _reload(payout.pk)
            _tell(payout, f"Your payout of {payout.amount_display} is on hold: {reason}", step=f"held:{zlib.crc32(reason.encode())}")
            _push(payout)
    return "held"


def send_payout(*, payout_id) -> str:
    """Send an approved Stripe payout, or take over one whose sender's lease ran out.

    Returns what happened: "sent", "failed", "held", "retry" (Stripe did not
    answer; the lease runs out and the sweeper tries again), or "not due".
    Safe to run any number of times, on any number of workers at once.
    """
    payout = Payout.objects.select_related("creator").filter(pk=payout_id).first()
    if payout is None or payout.method != PayoutMethod.STRIPE:
        return "not due"
    now = _now()
    if payout.status == PayoutStatus.APPROVED:
        reason = stop_reason(payout.creator)
        if reason:
            return _hold(payout, reason)
        account = selectors.payout_account_of(payout.creator)
        if account is None or account.stripe_account_id != payout.destination or not account.stripe_ready:
            why = (account.stripe_disabled_reason if account else "") or "the account cannot receive transfers"
            _fail(payout.pk, from_statuses=(PayoutStatus.APPROVED,), code="account_not_ready",
                  message=f"Your Stripe payout account cannot receive payouts right now ({why}).")
            return "failed"
        claimed = Payout.objects.filter(pk=payout.pk, status=PayoutStatus.APPROVED).update(
            status=PayoutStatus.SENDING, lease_until=_lease(), attempts=F("attempts") + 1, held_reason="", updated_at=now,
        )
    elif payout.status == PayoutStatus.SENDING and payout.lease_until and payout.lease_until < now:
        # The worker sending it died (or is stuck): take it over, the same keys make it safe.
        claimed = Payout.objects.filter(pk=payout.pk, status=PayoutStatus.SENDING, lease_until=payout.lease_until).update(
            lease_until=_lease(), attempts=F("attempts") + 1, updated_at=now,
        )
    else:
        return "not due"
    if not claimed:
        return "not due"
    payout.refresh_from_db()
    _push(payout)
    return _call_stripe(payout)


def _call_stripe(payout: Payout) -> str:
    """The network part of sending: transfer, then bank payout. No transaction is open."""
    recovering = payout.attempts > 1
    try:
        transfer = gateway.find_transfer(payout_id=payout.pk) if recovering else None
        if transfer is None:
            transfer = gateway.create_transfer(
                payout_id=payout.pk, creator_id=payout.creator_id, amount_cents=payout.amount_cents,
                currency=payout.currency, destination=payout.destination,
            )
    except gateway.StripeUnavailable as exc:
        Payout.objects.filter(pk=payout.pk, status=PayoutStatus.SENDING).update(last_error=str(exc)[:2000])
        return "retry"
    except gateway.StripeRefused as exc:
        _fail(payout.pk, from_statuses=(PayoutStatus.SENDING,), code=exc.code, message=_refusal_in_words(exc))
        return "failed"
    Payout.objects.filter(pk=payout.pk, status=PayoutStatus.SENDING, stripe_transfer_id="").update(stripe_transfer_id=transfer.id)
    try:
        bank_payout = gateway.find_bank_payout(account_id=payout.destination, payout_id=payout.pk) if recovering else None
        if bank_payout is None:
            bank_payout = gateway.create_bank_payout(
                account_id=payout.destination, payout_id=payout.pk, amount_cents=payout.amount_cents, currency=payout.currency,
            )
    except gateway.StripeUnavailable as exc:
        Payout.objects.filter(pk=payout.pk, status=PayoutStatus.SENDING).update(last_error=str(exc)[:2000])
        return "retry"
    except gateway.StripeRefused as exc:
        # The money is in the creator's Stripe account but cannot reach their
        # bank: bring it back before giving the tokens back.
        return _reverse_and_fail(payout, from_status=PayoutStatus.SENDING, transfer_id=transfer.id, code=exc.code,
                                 message=_refusal_in_words(exc))
    with transaction.atomic(durable=True):
        moved = Payout.objects.filter(pk=payout.pk, status=PayoutStatus.SENDING).update(
            status=PayoutStatus.SENT, stripe_transfer_id=transfer.id, stripe_payout_id=bank_payout.id, sent_at=_now(),
            lease_until=None, last_error="",
        )
        if moved:
            payout = _reload(payout.pk)
            _tell(payout, f"Your payout of {payout.amount_display} has left Digis and is on its way to your bank.", step="sent")
            _push(payout)
    return "sent" if moved else "not due"


def _refusal_in_words(exc: gateway.StripeRefused) -> str:
    words = {
        "insufficient_capabilities_for_transfer": "Your Stripe account cannot receive transfers yet; finish its setup.",
        "account_invalid": "Your Stripe account is no longer connected to Digis.",
        "resource_missing": "Your Stripe account could not be found.",
        "balance_insufficient": "Digis could not send it right now; our team has been told.",
        "payouts_not_allowed": "Stripe cannot pay out to your bank account right now; check your Stripe account.",
    }
    return words.get(exc.code) or f"Stripe said: {exc.message}"


def _reverse_and_fail(payout: Payout, *, from_status: str, transfer_id: str, code: str, message: str) -> str:
    try:
        reversal = gateway.reverse_transfer(transfer_id=transfer_id, payout_id=payout.pk)
    except (gateway.StripeUnavailable, gateway.StripeRefused) as exc:
        # Without the money back we must not give the tokens back: stay where
        # we are and try again (the sweeper), telling the operator.
        logger.error("payouts: could not reverse a transfer", extra={"payout": str(payout.pk), "error": str(exc)})
        Payout.objects.filter(pk=payout.pk, status=from_status).update(last_error=f"reversal: {exc}"[:2000])
        return "retry"
    Payout.objects.filter(pk=payout.pk).update(stripe_reversal_id=reversal.id)
    return "failed" if _fail(payout.pk, from_statuses=(from_status,), code=code, message=message) else "not due"


# --- Stripe events -------------------------------------------------------------------------------------
# Registered with payments (payouts.apps): payments verifies, records and
# claims each event once; these take the whole event (a Connect event names
# its connected account next to the object) and return an outcome.


def _payout_named_by(obj: dict) -> Payout | None:
    payout_id = (obj.get("metadata") or {}).get("payout")
    try:
        return Payout.objects.select_related("creator").filter(pk=uuid.UUID(str(payout_id))).first() if payout_id else None
    except ValueError:
        return None


def on_account_updated(event: dict) -> str:
    return apply_stripe_account(event["data"]["object"], as_of=event.get("created"))


def on_transfer_created(event: dict) -> str:
    transfer = event["data"]["object"]
    payout = _payout_named_by(transfer)
    if payout is None:
        return "not a Digis payout"
    Payout.objects.filter(pk=payout.pk, status=PayoutStatus.SENDING, stripe_transfer_id="").update(stripe_transfer_id=transfer["id"])
    return f"payout {payout.pk} is {payout.status}"


def on_transfer_reversed(event: dict) -> str:
    """A transfer reversed at Stripe (by us after a failed bank payout, or by
    an operator or Stripe): a payout on its way is returned, tokens back."""
    transfer = event["data"]["object"]
    payout = _payout_named_by(transfer) or Payout.objects.select_related("creator").filter(stripe_transfer_id=transfer["id"]).first()
    if payout is None:
        return "not a Digis payout"
    if payout.status in (PayoutStatus.FAILED, PayoutStatus.RETURNED):
        return f"already {payout.status}"
    if payout.status == PayoutStatus.PAID:
        logger.error("payouts: a paid payout's transfer was reversed", extra={"payout": str(payout.pk), "transfer": transfer["id"]})
        return "paid already: left for an operator"
    if payout.status != PayoutStatus.SENT or payout.bank_failed:
        return f"{payout.status}: the sender finishes it"
    if (transfer.get("amount_reversed") or 0) < payout.amount_cents:
        return "partly reversed: left for an operator"
    message = "The transfer to your Stripe account was reversed."
    with transaction.atomic(durable=True):
        if not _close_with_return(payout, from_statuses=(PayoutStatus.SENT,), status=PayoutStatus.RETURNED, reason=message, code="transfer_reversed"):
            return "already closed"
        payout = _reload(payout.pk)
        _tell(payout, f"Your payout of {payout.amount_display} was returned: {message} The tokens are back in your wallet.", step="returned")
        _push(payout)
    return "returned"


def _bank_payout_event(event: dict) -> tuple[Payout | None, str]:
    obj = event["data"]["object"]
    payout = _payout_named_by(obj) or Payout.objects.select_related("creator").filter(stripe_payout_id=obj.get("id") or "-").first()
    if payout is None:
        return None, "not a Digis payout"
    if payout.method != PayoutMethod.STRIPE or (event.get("account") and event["account"] != payout.destination):
        logger.error("payouts: a bank payout event names another account", extra={"payout": str(payout.pk), "account": event.get("account")})
        return None, "names another account"
    return payout, ""


def on_payout_paid(event: dict) -> str:
    """The bank has the money: the payout is paid, its tokens leave the books."""
    payout, problem = _bank_payout_event(event)
    if payout is None:
        return problem
    payout = _catch_up(payout, event["data"]["object"])
    return _mark_paid(payout, bank_payout_id=event["data"]["object"].get("id", ""))


def _mark_paid(payout: Payout, *, bank_payout_id: str = "", from_statuses=(PayoutStatus.SENT,), extra: dict | None = None,
               audit: dict | None = None) -> str:
    """Paid: settle the ledger and move the status together (and, for an
    operator's decision, its audit row in the same transaction)."""
    allowed = [str(s) for s in from_statuses]
    with transaction.atomic(durable=True):
        locked = lock_payout(payout.pk)
        if locked.status not in allowed or locked.bank_failed:
            return f"already {locked.status}"
        before = _snapshot(locked)
        settled = ledger.settle_payout(payout_id=payout.pk, reference=bank_payout_id or f"payout:{payout.pk}")
        Payout.objects.filter(pk=payout.pk, status__in=allowed).update(
            status=PayoutStatus.PAID, settle_transaction=settled, paid_at=_now(), finished_at=_now(), **(extra or {}),
        )
        payout = _reload(payout.pk)
        if audit is not None:
            _audit(target=payout, before=before, after=_snapshot(payout), **audit)
        _tell(payout, f"Your payout of {payout.amount_display} has been paid.", step="paid")
        _push(payout)
    return "paid"


def _catch_up(payout: Payout, obj: dict) -> Payout:
    """A bank payout's event can overtake the worker that created it (still
    ``sending``): the event proves the transfer and the bank payout exist, so
    record the payout as sent first. Without the transfer's id recorded yet,
    fail: Stripe delivers the event again later (and the sweep reconciles)."""
    if payout.status != PayoutStatus.SENDING:
        return payout
    if not payout.stripe_transfer_id:
        raise PayoutWrongState("This payout's transfer is not recorded yet; deliver the event again later.", code="event_not_ready")
    Payout.objects.filter(pk=payout.pk, status=PayoutStatus.SENDING).exclude(stripe_transfer_id="").update(
        status=PayoutStatus.SENT, stripe_payout_id=obj.get("id") or "", sent_at=_now(), lease_until=None, last_error="",
    )
    return _reload(payout.pk)


def on_payout_failed(event: dict) -> str:
    """The bank refused the money (it went back to the creator's Stripe balance):
    reverse the transfer, then give the tokens back and say why."""
    payout, problem = _bank_payout_event(event)
    if payout is None:
        return problem
    obj = event["data"]["object"]
    payout = _catch_up(payout, obj)
    code = obj.get("failure_code") or "payout_failed"
    message = obj.get("failure_message") or "Your bank could not accept the payout."
    # Recorded first (and committed): from here the payout can only fail, even
    # if reversing the transfer has to be retried (the sweeper does).
    Payout.objects.filter(pk=payout.pk, status=PayoutStatus.SENT, bank_failed=False).update(
        bank_failed=True, failure_code=code[:64], failure_message=f"Your bank refused it: {message}"[:500],
    )
    return finish_bank_failure(payout_id=payout.pk)


def finish_bank_failure(*, payout_id) -> str:
    payout = _reload(payout_id)
    if payout.status != PayoutStatus.SENT or not payout.bank_failed:
        return f"already {payout.status}"
    return _reverse_and_fail(payout, from_status=PayoutStatus.SENT, transfer_id=payout.stripe_transfer_id,
                             code=payout.failure_code, message=payout.failure_message)


EVENT_HANDLERS = {
    "account.updated": on_account_updated,
    "transfer.created": on_transfer_created,
    "transfer.reversed": on_transfer_reversed,
    "payout.paid": on_payout_paid,
    "payout.failed": on_payout_failed,
    "payout.canceled": on_payout_failed,
}


def reconcile_sent_payout(*, payout_id) -> str:
    """A payout sent long ago with no word from Stripe (a webhook lost for
    good): read its bank payout and apply what Stripe says."""
    payout = _reload(payout_id)
    if payout.status != PayoutStatus.SENT or payout.method != PayoutMethod.STRIPE or not payout.stripe_payout_id:
        return "not due"
    try:
        bank_payout = gateway.retrieve_bank_payout(account_id=payout.destination, stripe_payout_id=payout.stripe_payout_id)
    except (gateway.StripeUnavailable, gateway.StripeRefused):
        return "retry"
    event = {"account": payout.destination, "data": {"object": bank_payout}}
    if bank_payout.get("status") == "paid":
        return on_payout_paid(event)
    if bank_payout.get("status") in ("failed", "canceled"):
        return on_payout_failed(event)
    Payout.objects.filter(pk=payout.pk, status=PayoutStatus.SENT).update(updated_at=_now())
    return "still on its way"


# --- manual method (operator) -------------------------------------------------------------------------


def _manual(payout_id, actor) -> Payout:
    if not may_review(actor):
        raise PayoutNotReviewable("You may not handle payouts.", code="forbidden")
    payout = Payout.objects.select_related("creator").filter(pk=payout_id).first()
    if payout is None:
        raise PayoutNotFound()
    if payout.method != PayoutMethod.MANUAL:
        raise PayoutWrongState("Stripe payouts are paid by Stripe, not marked by hand.")
    return payout


def mark_manual_sent(*, payout_id, actor, reference: str) -> Payout:
    """The operator has made the bank transfer (audited): the creator sees it on its way."""
    payout = _manual(payout_id, actor)
    reference = (reference or "").strip()
    if not reference:
        raise InvalidBankDetails("The bank's reference is required.", fields={"reference": ["Required."]}, code="reference_required")
    with transaction.atomic(durable=True):
        if not Payout.objects.filter(pk=payout.pk, status=PayoutStatus.APPROVED).update(
            status=PayoutStatus.SENT, sent_at=_now(), manual_reference=reference[:140], held_reason="",
        ):
            raise PayoutWrongState("Only an approved payout can be marked sent.")
        after = _reload(payout.pk)
        _audit(actor=actor, action="payout.mark_sent", target=after, reason=f"Bank transfer {reference}", before=_snapshot(payout), after=_snapshot(after))
        _tell(after, f"Your payout of {after.amount_display} has been sent to {after.destination}.", step="sent")
        _push(after)
    return after


def mark_manual_paid(*, payout_id, actor, reference: str) -> Payout:
    """The operator confirms the money reached the creator's bank (audited)."""
    payout = _manual(payout_id, actor)
    reference = (reference or "").strip() or payout.manual_reference
    if not reference:
        raise InvalidBankDetails("The bank's reference is required.", fields={"reference": ["Required."]}, code="reference_required")
    if payout.status not in (PayoutStatus.APPROVED, PayoutStatus.SENT):
        raise PayoutWrongState("Only an approved or sent payout can be marked paid.")
    outcome = _mark_paid(
        payout, bank_payout_id=reference, from_statuses=(PayoutStatus.APPROVED, PayoutStatus.SENT),
        extra={"manual_reference": reference[:140], "held_reason": ""},
        audit={"actor": actor, "action": "payout.mark_paid", "reason": f"Bank transfer {reference}"},
    )
    if outcome != "paid":
        raise PayoutWrongState("This payout was already closed.")
    return _reload(payout.pk)


def mark_manual_failed(*, payout_id, actor, reason: str) -> Payout:
    """The bank transfer did not go through (audited): tokens back, creator told why."""
    payout = _manual(payout_id, actor)
    if not reason or not reason.strip():
        raise InvalidBankDetails("A reason is required.", fields={"reason": ["Required."]}, code="reason_required")
    with transaction.atomic(durable=True):
        if not _close_with_return(payout, from_statuses=(PayoutStatus.APPROVED, PayoutStatus.SENT), status=PayoutStatus.FAILED,
                                  reason=reason.strip(), code="bank_transfer_failed"):
            raise PayoutWrongState("Only an approved or sent payout can be marked failed.")
        after = _reload(payout.pk)
        _audit(actor=actor, action="payout.mark_failed", target=after, reason=reason, before=_snapshot(payout), after=_snapshot(after))
        _tell(after, f"Your payout of {after.amount_display} failed: {reason.strip()} The tokens are back in your wallet.", step="failed")
        _push(after)
    return after


# --- schedule and sweep --------------------------------------------------------------------------------


def create_scheduled_payouts(*, now=None) -> int:
    """The weekly schedule: once per week, on or after PAYOUT_WEEKLY_DAY, a payout
    of everything payable for each creator on the weekly schedule whose payable
    amount reaches the minimum. Safe to run hourly: one payout per creator and week."""
    now = now or _now()
    if timezone.localdate(now).weekday() < selectors.weekly_day():
        return 0
    key = selectors.schedule_key(now)
    created = 0
    for account in selectors.weekly_accounts():
        if Payout.objects.filter(creator_id=account.user_id, schedule_key=key).exists():
            continue
        try:
            request_payout(user=account.user, trigger=PayoutTrigger.SCHEDULE, schedule_key=key)
            created += 1
        except (BelowMinimum, PayoutInProgress, PayoutsSuspended, PayoutAccountMissing, PayoutAccountNotReady, NotACreator):
            continue
        except Exception:
            logger.exception("payouts: scheduled payout failed", extra={"user_id": str(account.user_id)})
    return created


def sweep(*, now=None) -> dict:
    """What the beat job does every PAYOUT_SWEEP_EVERY_S: send approved Stripe
    payouts (again, if held or a task was lost), take over expired leases,
    finish bank failures whose reversal must be retried, and ask Stripe about
    payouts sent long ago that we never heard back about."""
    now = now or _now()
    done = {"sent": 0, "failed": 0, "held": 0, "retry": 0, "reconciled": 0}
    ids = list(
        Payout.objects.filter(method=PayoutMethod.STRIPE, status=PayoutStatus.APPROVED).values_list("pk", flat=True)[:200]
    ) + list(
        Payout.objects.filter(method=PayoutMethod.STRIPE, status=PayoutStatus.SENDING, lease_until__lt=now).values_list("pk", flat=True)[:200]
    )
    for payout_id in ids:
        try:
            outcome = send_payout(payout_id=payout_id)
            if outcome in done:
                done[outcome] += 1
        except Exception:
            logger.exception("payouts: sending failed", extra={"payout": str(payout_id)})
    for payout_id in Payout.objects.filter(status=PayoutStatus.SENT, bank_failed=True).values_list("pk", flat=True)[:200]:
        try:
            finish_bank_failure(payout_id=payout_id)
        except Exception:
            logger.exception("payouts: finishing a bank failure failed", extra={"payout": str(payout_id)})
    quiet_since = now - timezone.timedelta(seconds=settings.PAYOUT_RECONCILE_AFTER_S)
    for payout_id in Payout.objects.filter(
        method=PayoutMethod.STRIPE, status=PayoutStatus.SENT, bank_failed=False, updated_at__lt=quiet_since
    ).values_list("pk", flat=True)[:50]:
        try:
            if reconcile_sent_payout(payout_id=payout_id) in ("paid", "failed"):
                done["reconciled"] += 1
        except Exception:
            logger.exception("payouts: reconciling failed", extra={"payout": str(payout_id)})
    return done
