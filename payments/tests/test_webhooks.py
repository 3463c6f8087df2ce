"""Stripe events -> ledger: credited exactly once, refunds and disputes claw back.

Payments happen for real at localstripe; where localstripe has no event
(refunds, disputes) the test builds one around localstripe's real objects and
signs it exactly as Stripe does."""

import threading

import pytest
import stripe
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from digis.testing import run_concurrently
from ledger import services as ledger
from ledger.exceptions import WalletFrozen
from ledger.models import Account, AccountKind, Transaction
from payments import services
from payments.models import EventStatus, Purchase, PurchaseStatus, StripeEvent
from payments.tests.conftest import buy, event_for, post_event, succeeded_event, wait_for


def debt_of(user) -> int:
    return -int(Account.objects.filter(user=user, kind=AccountKind.RECEIVABLE).values_list("balance", flat=True).first() or 0)


def purchase_credits(purchase) -> int:
    return Transaction.objects.filter(kind="purchase", idempotency_key=purchase.payment_intent_id).count()


def credited(user, package, **kwargs) -> Purchase:
    purchase = buy(user, package, **kwargs)
    assert post_event(succeeded_event(purchase)).status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.SUCCEEDED
    return purchase


def refund(purchase, amount=None):
    stripe.Refund.create(payment_intent=purchase.payment_intent_id, **({"amount": amount} if amount else {}))
    return post_event(event_for(stripe.Charge.retrieve(purchase.charge_id), "charge.refunded"))


def dispute(purchase, status: str, dispute_id: str = "du_test_1") -> dict:
    charge = stripe.Charge.retrieve(purchase.charge_id)
    return {
        "id": dispute_id, "object": "dispute", "amount": charge.amount, "currency": charge.currency,
        "charge": charge.id, "payment_intent": purchase.payment_intent_id, "reason": "fraudulent", "status": status,
    }


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_card_payment_is_credited_once_by_localstripes_webhook(alice, starter, localstripe_webhooks, api_as):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"user.{alice.pk}", channel)
    client = api_as(alice)
    purchase = client.post("/api/payments/purchases/", {"package": starter.pk}, format="json").json()
    token = stripe.Token.create(card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"})

    assert client.post(f"/api/payments/purchases/{purchase['id']}/confirm/", {"token": token.id}, format="json").status_code == 200

    # localstripe signs and delivers payment_intent.succeeded about a second later.
    wait_for(lambda: Purchase.objects.get(pk=purchase["id"]).status == PurchaseStatus.SUCCEEDED)
    assert ledger.balance_of(user=alice) == 100
    message = async_to_sync(layer.receive)(channel)
    assert message["event"] == {"type": "wallet.updated", "balance": 100}
    event = StripeEvent.objects.get(type="payment_intent.succeeded", payload__data__object__id=purchase["payment_intent_id"])
    assert event.status == EventStatus.PROCESSED

    # Stripe delivers the very same event again: acknowledged, nothing moves.
    again = post_event(event.payload)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert ledger.balance_of(user=alice) == 100
    assert purchase_credits(Purchase.objects.get(pk=purchase["id"])) == 1
    assert client.get(f"/api/payments/purchases/{purchase['id']}/").json()["status"] == "succeeded"


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_credit_once(alice, starter, localstripe):
    purchase = buy(alice, starter)
    event = succeeded_event(purchase)

    responses = run_concurrently([lambda: post_event(event, client=Client()) for _ in range(8)])

    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {200, 409}, codes
    assert [r.json().get("outcome") for r in responses if r.status_code == 200].count("processed") == 1
    assert ledger.balance_of(user=alice) == 100
    assert purchase_credits(purchase) == 1


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_distinct_events_for_one_payment_at_once_credit_once(alice, starter, localstripe):
    purchase = buy(alice, starter)
    events = [succeeded_event(purchase) for _ in range(6)]  # distinct event ids, one intent

    responses = run_concurrently([lambda e=e: post_event(e, client=Client()) for e in events])

    assert all(r.status_code == 200 for r in responses), [r.content for r in responses]
    assert ledger.balance_of(user=alice) == 100
    assert purchase_credits(purchase) == 1


@pytest.mark.django_db
def test_retry_after_a_crash_halfway_credits_once(alice, starter, localstripe, monkeypatch):
    purchase = buy(alice, starter)
    event = succeeded_event(purchase)
    real_credit = ledger.credit_purchase

    def credit_then_crash(**kwargs):
        real_credit(**kwargs)
        raise RuntimeError("worker died after the ledger write")

    monkeypatch.setattr(ledger, "credit_purchase", credit_then_crash)
    first = post_event(event)
    assert first.status_code == 500 and first.json()["error"]["code"] == "event_failed"
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert stored.status == EventStatus.FAILED and "worker died" in stored.last_error and stored.attempts == 1
    # The credit shared the failed attempt's transaction: rolled back with it.
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.PENDING
    assert ledger.balance_of(user=alice) == 0 and purchase_credits(purchase) == 0

    again = post_event(event)  # Stripe retries; the ledger is still failing
    assert again.status_code == 500
    stored.refresh_from_db()
    assert stored.status == EventStatus.FAILED and stored.attempts == 2

    monkeypatch.setattr(ledger, "credit_purchase", real_credit)
    third = post_event(event)  # Stripe's next retry

    assert third.status_code == 200 and third.json()["outcome"] == "processed"
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.SUCCEEDED
    assert ledger.balance_of(user=alice) == 100 and purchase_credits(purchase) == 1
    stored.refresh_from_db()
    assert stored.status == EventStatus.PROCESSED and stored.attempts == 3 and stored.last_error == ""


@pytest.mark.postgres  # on SQLite the claim commits first; a killed worker's claim is taken over after the lease
@pytest.mark.django_db
def test_a_worker_killed_halfway_leaves_nothing_and_the_redelivery_credits(alice, starter, localstripe, monkeypatch):
    # given a worker that dies after the ledger write (no chance to record anything)
    purchase = buy(alice, starter)
    event = succeeded_event(purchase)
    real_credit = ledger.credit_purchase

    def credit_then_die(**kwargs):
        real_credit(**kwargs)
        raise SystemExit("killed")

    monkeypatch.setattr(ledger, "credit_purchase", credit_then_die)
    with pytest.raises(SystemExit):
        services.receive_event(payload=event)

    # then nothing of that attempt was committed: no event, no credit
    assert not StripeEvent.objects.filter(stripe_id=event["id"]).exists()
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.PENDING and ledger.balance_of(user=alice) == 0

    # and Stripe's redelivery (the dead worker never answered 2xx) credits once
    monkeypatch.setattr(ledger, "credit_purchase", real_credit)
    assert post_event(event).json()["outcome"] == "processed"
    assert ledger.balance_of(user=alice) == 100 and purchase_credits(purchase) == 1


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_crediting_delivery_commits_once(alice, starter, localstripe):
    purchase = buy(alice, starter)
    event = succeeded_event(purchase)

    with CaptureQueriesContext(connection) as first:
        assert post_event(event).json()["outcome"] == "processed"
    with CaptureQueriesContext(connection) as duplicate:
        assert post_event(event).json()["outcome"] == "duplicate"

    def commits(ctx):
        return sum(1 for q in ctx.captured_queries if q["sql"].strip().upper().startswith("COMMIT"))

    # claim, purchase, ledger, purchase state, balance for the socket push, the fan's notification
    # settings and the "tokens credited" notification, event done: one commit
    assert commits(first) == 1 and len(first.captured_queries) <= 10, [q["sql"][:80] for q in first.captured_queries]
    # the fan's user row is not read: the ledger and the push need only its id
    user_table = type(alice)._meta.db_table
    assert not [q["sql"] for q in first.captured_queries if user_table in q["sql"]]
    assert len(duplicate.captured_queries) <= 4, [q["sql"][:80] for q in duplicate.captured_queries]
    assert ledger.balance_of(user=alice) == 100 and purchase_credits(purchase) == 1


def deliver_in_a_thread(event) -> dict:
    """Another worker delivering `event`, from its own thread and connection; waits for it."""
    result = {}

    def run():
        try:
            result["response"] = post_event(event, client=Client())
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(15)
    assert not thread.is_alive(), "the other delivery waited on this one"
    return result


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_copy_arriving_while_the_event_is_handled_is_answered_at_once(alice, starter, localstripe, monkeypatch):
    # given: Stripe delivers the event again while the first delivery is crediting it
    purchase = buy(alice, starter)
    event = succeeded_event(purchase)
    real_credit = ledger.credit_purchase
    meanwhile = {}

    def credit(**kwargs):
        meanwhile.update(deliver_in_a_thread(event))  # joined: it must not wait for this transaction
        return real_credit(**kwargs)

    monkeypatch.setattr(ledger, "credit_purchase", credit)

    first = post_event(event)

    # then the copy was told "in progress" (409: Stripe retries), the first credited once,
    # and a later copy is a duplicate
    assert meanwhile["response"].status_code == 409
    assert meanwhile["response"].json()["error"]["code"] == "event_in_progress"
    assert first.status_code == 200 and first.json()["outcome"] == "processed"
    monkeypatch.setattr(ledger, "credit_purchase", real_credit)
    assert post_event(event).json()["outcome"] == "duplicate"
    assert ledger.balance_of(user=alice) == 100 and purchase_credits(purchase) == 1


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failure_is_not_recorded_over_a_retry_that_succeeded(alice, starter, localstripe, monkeypatch):
    # given: an attempt fails, and between its rollback and the recording of its
    # failure a retry of the same event runs and credits
    purchase = buy(alice, starter)
    event = succeeded_event(purchase)
    real_credit, real_error_text = ledger.credit_purchase, services._error_text
    retry = {}

    def credit_once_failing(**kwargs):
        monkeypatch.setattr(ledger, "credit_purchase", real_credit)
        raise RuntimeError("ledger hiccup")

    def retry_before_recording(exc):
        retry.update(deliver_in_a_thread(event))
        return real_error_text(exc)

    monkeypatch.setattr(ledger, "credit_purchase", credit_once_failing)
    monkeypatch.setattr(services, "_error_text", retry_before_recording)

    first = post_event(event)

    # then the failure is answered, and the event stays as the retry left it
    assert first.status_code == 500
    assert retry["response"].status_code == 200 and retry["response"].json()["outcome"] == "processed"
    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert stored.status == EventStatus.PROCESSED and stored.outcome == "credited" and stored.last_error == ""
    assert ledger.balance_of(user=alice) == 100 and purchase_credits(purchase) == 1


@pytest.mark.django_db
def test_amount_mismatch_is_refused_and_recorded(alice, starter, localstripe):
    purchase = services_start(alice, starter)
    stripe.PaymentIntent.modify(purchase.payment_intent_id, amount=1)  # someone tampered at Stripe
    from payments import services

    services.confirm_purchase(user=alice, purchase_id=purchase.pk, payment_method="pm_card_visa")

    response = post_event(succeeded_event(purchase))

    assert response.status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.REFUSED and "mismatch" in purchase.failure_reason
    assert ledger.balance_of(user=alice) == 0
    assert "refused" in StripeEvent.objects.get(type="payment_intent.succeeded").outcome


def services_start(user, package):
    from payments import services

    return services.start_purchase(user=user, package_id=package.pk)


@pytest.mark.django_db
def test_a_canceled_payment_expires_the_purchase(alice, starter, localstripe):
    purchase = services_start(alice, starter)
    intent = stripe.PaymentIntent.cancel(purchase.payment_intent_id)

    assert post_event(event_for(intent, "payment_intent.canceled")).status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.EXPIRED and purchase.failure_reason == "The payment was cancelled."
    assert ledger.balance_of(user=alice) == 0


@pytest.mark.django_db
def test_a_failed_payment_marks_the_purchase_failed_with_stripes_words(alice, starter, localstripe):
    purchase = services_start(alice, starter)
    intent = stripe.PaymentIntent.retrieve(purchase.payment_intent_id).to_dict()
    intent["last_payment_error"] = {"code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}

    assert post_event(event_for(intent, "payment_intent.payment_failed")).status_code == 200
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.FAILED and purchase.failure_reason == "Your card has insufficient funds."
    assert ledger.balance_of(user=alice) == 0


@pytest.mark.django_db
def test_refund_after_partial_spend_leaves_a_debt_and_freezes_spending(alice, bob, starter, localstripe):
    purchase = credited(alice, starter)
    ledger.charge_with_fee(payer=alice, creator=bob, amount=60, kind="tip", idempotency_key="tip-1")

    assert refund(purchase).status_code == 200

    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.REFUNDED
    assert ledger.balance_of(user=alice) == 0 and debt_of(alice) == 60
    with pytest.raises(WalletFrozen):
        ledger.charge_with_fee(payer=alice, creator=bob, amount=1, kind="tip", idempotency_key="tip-2")


@pytest.mark.django_db
def test_partial_then_full_refund_take_back_every_token_once(alice, starter, localstripe):
    purchase = credited(alice, starter)

    assert refund(purchase, amount=499).status_code == 200
    assert ledger.balance_of(user=alice) == 100 - 49  # 100 * 499 // 999
    assert refund(purchase, amount=500).status_code == 200  # the rest
    assert ledger.balance_of(user=alice) == 0 and debt_of(alice) == 0
    # A late redelivery of the first refund's event moves nothing.
    assert post_event(event_for(stripe.Charge.retrieve(purchase.charge_id), "charge.refunded")).status_code == 200
    assert ledger.balance_of(user=alice) == 0
    assert sum(c.tokens for c in purchase.clawbacks.all()) == 100


@pytest.mark.django_db
def test_refund_before_the_payment_event_fails_until_it_arrives(alice, starter, localstripe):
    purchase = buy(alice, starter)
    stripe.Refund.create(payment_intent=purchase.payment_intent_id)
    refunded = event_for(stripe.Charge.retrieve(stripe.PaymentIntent.retrieve(purchase.payment_intent_id).latest_charge.id), "charge.refunded")

    early = post_event(refunded)
    assert early.status_code == 500  # Stripe retries it later
    assert post_event(succeeded_event(purchase)).status_code == 200
    assert post_event(refunded).status_code == 200  # the retry

    assert ledger.balance_of(user=alice) == 0
    assert StripeEvent.objects.get(stripe_id=refunded["id"]).attempts == 2


@pytest.mark.django_db
def test_dispute_lost_takes_the_tokens_for_good(alice, bob, starter, localstripe):
    purchase = credited(alice, starter)
    ledger.charge_with_fee(payer=alice, creator=bob, amount=30, kind="tip", idempotency_key="tip-1")

    assert post_event(event_for(dispute(purchase, "needs_response"), "charge.dispute.created")).status_code == 200
    assert ledger.balance_of(user=alice) == 0 and debt_of(alice) == 30
    assert post_event(event_for(dispute(purchase, "lost"), "charge.dispute.closed")).status_code == 200

    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.CHARGEBACK
    assert ledger.balance_of(user=alice) == 0 and debt_of(alice) == 30


@pytest.mark.django_db
def test_dispute_won_restores_the_tokens(alice, starter, localstripe):
    purchase = credited(alice, starter)

    assert post_event(event_for(dispute(purchase, "needs_response"), "charge.dispute.created")).status_code == 200
    assert ledger.balance_of(user=alice) == 0
    closed = event_for(dispute(purchase, "won"), "charge.dispute.closed")
    assert post_event(closed).status_code == 200

    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.SUCCEEDED
    assert ledger.balance_of(user=alice) == 100 and debt_of(alice) == 0
    call_command("replay_stripe_events", closed["id"])  # an operator's replay is harmless
    assert ledger.balance_of(user=alice) == 100


@pytest.mark.django_db
def test_dispute_closed_in_our_favour_before_it_opened_takes_nothing(alice, starter, localstripe):
    purchase = credited(alice, starter)
    assert post_event(event_for(dispute(purchase, "won"), "charge.dispute.closed")).status_code == 200
    assert post_event(event_for(dispute(purchase, "needs_response"), "charge.dispute.created")).status_code == 200
    assert ledger.balance_of(user=alice) == 100


@pytest.mark.django_db
def test_replay_command_runs_failed_events_again(alice, starter, localstripe, monkeypatch):
    purchase = buy(alice, starter)
    event = succeeded_event(purchase)
    monkeypatch.setattr(ledger, "credit_purchase", lambda **kwargs: (_ for _ in ()).throw(RuntimeError("ledger down")))
    assert post_event(event).status_code == 500
    with pytest.raises(CommandError):  # still down: recorded as another failed attempt
        call_command("replay_stripe_events", "--failed")
    assert StripeEvent.objects.get(stripe_id=event["id"]).attempts == 2
    monkeypatch.undo()

    call_command("replay_stripe_events", "--failed")

    stored = StripeEvent.objects.get(stripe_id=event["id"])
    assert stored.status == EventStatus.PROCESSED and stored.attempts == 3
    assert ledger.balance_of(user=alice) == 100


@pytest.mark.django_db
def test_replaying_a_credited_payment_moves_nothing(alice, starter, localstripe):
    purchase = credited(alice, starter)
    event = StripeEvent.objects.get(type="payment_intent.succeeded")

    call_command("replay_stripe_events", event.stripe_id)  # an operator re-runs a processed event

    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED and event.outcome == "already credited" and event.attempts == 2
    assert ledger.balance_of(user=alice) == 100 and purchase_credits(purchase) == 1


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_does_not_queue_on_the_event_row(alice, starter, localstripe):
    # given a handled event whose row someone else holds locked (20 copies of it arriving at once)
    purchase = buy(alice, starter)
    event = succeeded_event(purchase)
    assert post_event(event).json()["outcome"] == "processed"
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        try:
            with transaction.atomic():
                StripeEvent.objects.select_for_update().get(stripe_id=event["id"])
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert locked.wait(10)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '1s'")  # a duplicate that tried to lock the row would fail
        # when another copy arrives
        response = post_event(event)
    finally:
        release.set()
        holder.join(30)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    # then it is answered from the status alone, without waiting
    assert response.status_code == 200 and response.json()["outcome"] == "duplicate"
    assert purchase_credits(purchase) == 1
