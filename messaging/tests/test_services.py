"""Messaging services: sending, escrow (hold, release, refund), rules, deletion, reads."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.services import ban_user, block_user
from accounts.tests.factories import make_creator, make_user
from ledger.exceptions import InsufficientFunds, WalletFrozen
from ledger.models import Transaction
from ledger.selectors import pending_earnings
from ledger.services import balance_of, charge_with_fee, claw_back, message_escrow_balance
from messaging import selectors, services
from messaging.exceptions import (
    ClientMessageIdReused,
    ConversationNotFound,
    DeleteNotAllowed,
    FollowersOnly,
    InvalidMessage,
    MessageNotFound,
    MessagingBlocked,
    MessagingRateLimited,
    NotACreator,
    SpendRequired,
)
from messaging.models import Conversation, EscrowState, Message
from messaging.tests.conftest import assert_ledger_consistent
from messaging.tests.factories import fund, make_messaging_creator, new_id, open_between, send
from notifications.models import Notification

pytestmark = pytest.mark.django_db


# --- sending --------------------------------------------------------------------------


def test_a_paid_message_is_held_not_taken(convo, funded_alice, bob):
    # when alice writes to bob, whose messages cost 10
    message = send(funded_alice, convo, "Hi Bob!")
    # then 10 tokens left her wallet into escrow, bob has earned nothing yet
    message.refresh_from_db()
    assert (message.price, message.escrow_state) == (10, EscrowState.HELD)
    assert message.reply_by == message.created_at + timedelta(hours=72)
    assert balance_of(user=funded_alice) == 990
    assert message_escrow_balance() == 10
    assert pending_earnings(user=bob) == 0
    hold = Transaction.objects.get(pk=message.hold_transaction_id)
    assert hold.kind == "message_hold" and hold.idempotency_key == f"message:hold:{funded_alice.pk}:{message.client_message_id}"
    assert_ledger_consistent()


def test_the_creators_reply_releases_every_held_message_minus_the_fee(convo, funded_alice, bob):
    # given three held messages (10 tokens each) and the default 20 % fee
    held = [send(funded_alice, convo, f"message {n}") for n in range(3)]
    # when bob replies
    reply = send(bob, convo, "Hello Alice")
    # then all three are answered: bob's pending earnings get 3 x 8, the escrow is empty
    assert reply.price == 0 and reply.escrow_state == EscrowState.FREE
    for message in held:
        message.refresh_from_db()
        assert message.escrow_state == EscrowState.RELEASED and message.settled_at is not None
        settlement = Transaction.objects.get(pk=message.settle_transaction_id)
        assert (settlement.kind, settlement.original_id, settlement.idempotency_key) == (
            "message_release", message.hold_transaction_id, f"message:release:{message.pk}")
    assert pending_earnings(user=bob) == 24
    assert message_escrow_balance() == 0
    assert balance_of(user=funded_alice) == 970
    answered = Notification.objects.get(recipient=funded_alice, kind="message_answered")
    assert answered.data["tokens"] == 30 and sorted(answered.data["message_ids"]) == sorted(m.pk for m in held)
    assert_ledger_consistent()


def test_the_fee_is_floored_in_the_creators_favour(funded_alice, bob, settings):
    # given a 7-token message and a 15 % fee: 1.05 tokens of fee floors to 1
    settings.PLATFORM_FEE_BPS = 1500
    make_messaging_creator(bob, price=7)
    conversation = open_between(funded_alice, bob)
    send(funded_alice, conversation)
    send(bob, conversation, "thanks")
    assert pending_earnings(user=bob) == 6
    assert_ledger_consistent()


def test_a_reply_releases_only_what_came_before_it_and_later_messages_are_held_again(convo, funded_alice, bob):
    first = send(funded_alice, convo, "one")
    send(bob, convo, "answer")
    second = send(funded_alice, convo, "two")
    second.refresh_from_db()
    first.refresh_from_db()
    assert (first.escrow_state, second.escrow_state) == (EscrowState.RELEASED, EscrowState.HELD)
    assert message_escrow_balance() == 10


def test_a_resend_with_the_same_client_id_stores_and_charges_once(convo, funded_alice):
    client_id = new_id()
    first, created = services.send_message(sender=funded_alice, conversation_id=convo.pk, client_message_id=client_id, text="hi")
    again, created_again = services.send_message(sender=funded_alice, conversation_id=convo.pk, client_message_id=client_id, text="hi")
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert Message.objects.count() == 1 and balance_of(user=funded_alice) == 990
    with pytest.raises(ClientMessageIdReused):
        services.send_message(sender=funded_alice, conversation_id=convo.pk, client_message_id=client_id, text="something else")


def test_insufficient_tokens_is_a_402_and_nothing_is_stored(alice, bob, bob_profile):
    # given alice holds 5 tokens and bob asks 10
    fund(alice, 5)
    conversation = open_between(alice, bob)
    transactions_before = Transaction.objects.count()
    # when she writes
    with pytest.raises(InsufficientFunds) as refused:
        send(alice, conversation, "please")
    # then: 402, the shortfall named, and no message, no ledger row, no notification
    assert refused.value.status_code == 402 and refused.value.code == "insufficient_funds"
    assert (refused.value.shortfall, refused.value.extra["price"], refused.value.extra["balance"]) == (5, 10, 5)
    assert Message.objects.count() == 0 and Transaction.objects.count() == transactions_before
    assert Notification.objects.count() == 0
    conversation.refresh_from_db()
    assert conversation.last_message_id is None
    assert balance_of(user=alice) == 5


def test_a_frozen_wallet_cannot_pay_but_a_free_message_still_goes(funded_alice, bob, bob_profile):
    conversation = open_between(funded_alice, bob)
    claw_back(user=funded_alice, tokens=1500, idempotency_key="chargeback-1", reference="test", kind="chargeback")
    with pytest.raises(WalletFrozen):
        send(funded_alice, conversation, "hi")
    assert Message.objects.count() == 0
    make_messaging_creator(bob, price=0)
    assert send(funded_alice, conversation, "free now").escrow_state == EscrowState.FREE


def test_a_price_of_zero_makes_messages_free(funded_alice, bob):
    make_messaging_creator(bob, price=0)
    message = send(funded_alice, open_between(funded_alice, bob))
    assert (message.price, message.escrow_state, message.hold_transaction_id) == (0, EscrowState.FREE, None)
    assert balance_of(user=funded_alice) == 1000


def test_creators_messages_are_free(convo, bob):
    message = send(bob, convo, "Welcome!")
    assert message.price == 0 and message.escrow_state == EscrowState.FREE


def test_text_is_stored_as_given_without_control_characters_and_within_the_limit(convo, funded_alice, settings):
    message = send(funded_alice, convo, "  <script>alert(1)</script>\x00 hi\n  ")
    assert message.text == "<script>alert(1)</script> hi"
    settings.MESSAGE_MAX_CHARS = 20
    with pytest.raises(InvalidMessage) as refused:
        send(funded_alice, convo, "x" * 21)
    assert refused.value.code == "message_too_long"
    with pytest.raises(InvalidMessage):
        send(funded_alice, convo, "   ")


def test_a_client_message_id_is_required_and_plain(convo, funded_alice):
    from digis.errors import InvalidInput

    for bad in [None, "", "x" * 65, "has space", "<script>", 12]:
        with pytest.raises(InvalidInput) as refused:
            services.send_message(sender=funded_alice, conversation_id=convo.pk, client_message_id=bad, text="hi")
        assert refused.value.code == "invalid_client_message_id"


def test_sending_is_rate_limited_per_minute(convo, bob, settings):
    settings.MESSAGE_RATE_PER_MINUTE = 3
    for n in range(3):
        send(bob, convo, f"n{n}")
    with pytest.raises(MessagingRateLimited) as refused:
        send(bob, convo, "one too many")
    assert refused.value.status_code == 429 and refused.value.code == "message_rate_limited"


def test_a_resend_is_not_counted_against_the_rate_limit(convo, bob, settings):
    settings.MESSAGE_RATE_PER_MINUTE = 1
    client_id = new_id()
    send(bob, convo, "once", client_message_id=client_id)
    assert send(bob, convo, "once", client_message_id=client_id).text == "once"


# --- who may write ---------------------------------------------------------------------


def test_two_fans_cannot_open_a_conversation(alice, mallory):
    with pytest.raises(NotACreator):
        services.open_conversation(user=alice, with_user=mallory)


def test_a_creator_may_write_to_a_fan_and_is_the_creator_side(alice, bob, bob_profile):
    conversation, created = services.open_conversation(user=bob, with_user="alice")
    assert created and (conversation.fan_id, conversation.creator_id) == (alice.pk, bob.pk)
    assert services.open_conversation(user=alice, with_user=bob) == (conversation, False)


def test_one_conversation_per_pair_in_either_order_is_a_database_rule(alice, bob, bob_profile):
    conversation = open_between(alice, bob)
    with pytest.raises(IntegrityError), transaction.atomic():
        Conversation.objects.create(fan=bob, creator=alice)
    assert Conversation.objects.get() == conversation


def test_followers_only(funded_alice, bob):
    from creators.services import follow_creator

    make_messaging_creator(bob, price=10, policy="followers")
    conversation = open_between(funded_alice, bob)
    with pytest.raises(FollowersOnly):
        send(funded_alice, conversation)
    assert balance_of(user=funded_alice) == 1000 and Message.objects.count() == 0
    follow_creator(follower=funded_alice, creator_user_id=bob.pk)
    assert send(funded_alice, conversation).escrow_state == EscrowState.HELD


def test_spend_gated_counts_charges_and_answered_messages_but_not_held_ones(funded_alice, bob):
    # given bob takes messages from fans who spent at least 30 tokens with him
    make_messaging_creator(bob, price=10, policy="paying_fans", min_spend=30)
    conversation = open_between(funded_alice, bob)
    with pytest.raises(SpendRequired) as refused:
        send(funded_alice, conversation)
    assert refused.value.extra == {"min_spend": 30, "spent": 0}
    # when she tips him 20, still short
    charge_with_fee(payer=funded_alice, creator=bob, amount=20, kind="tip", idempotency_key="tip-1")
    with pytest.raises(SpendRequired):
        send(funded_alice, conversation)
    # and a call charge of 10 brings her to 30
    charge_with_fee(payer=funded_alice, creator=bob, amount=10, kind="call_charge", idempotency_key="call-1")
    assert selectors.spent_with(bob, funded_alice) == 30
    held = send(funded_alice, conversation)
    # a held message does not count; once answered it does
    assert selectors.spent_with(bob, funded_alice) == 30
    send(bob, conversation, "thanks for the tip")
    assert selectors.spent_with(bob, funded_alice) == 40
    held.refresh_from_db()
    assert held.escrow_state == EscrowState.RELEASED


def test_refunds_of_charges_do_not_count_as_spend(funded_alice, bob):
    from ledger.services import refund_charge

    make_messaging_creator(bob, price=10, policy="paying_fans", min_spend=10)
    tip = charge_with_fee(payer=funded_alice, creator=bob, amount=10, kind="tip", idempotency_key="tip-1")
    refund_charge(original=tip, amount=10, idempotency_key="tip-1-refund", reason="test")
    with pytest.raises(SpendRequired):
        send(funded_alice, open_between(funded_alice, bob))


def test_once_the_creator_wrote_the_fan_may_answer_whatever_the_policy(funded_alice, bob):
    make_messaging_creator(bob, price=10, policy="followers")
    conversation, _ = services.open_conversation(user=bob, with_user=funded_alice)
    send(bob, conversation, "Hi Alice, thanks for watching")
    assert send(funded_alice, conversation, "Hi!").escrow_state == EscrowState.HELD


def test_nobody_writes_to_a_banned_or_deleted_creator(convo, funded_alice, bob, moderator):
    ban_user(actor=moderator, user=bob, reason="test")
    from messaging.exceptions import RecipientNotFound

    with pytest.raises(RecipientNotFound):
        send(funded_alice, convo)


# --- escrow: expiry, deletion, block, ban --------------------------------------------------


def test_an_unanswered_message_is_refunded_in_full_after_the_window(traveller, convo, funded_alice, bob):
    message = send(funded_alice, convo)
    traveller.shift(timedelta(hours=71, minutes=59))
    assert services.refund_due_messages() == 0
    traveller.shift(timedelta(minutes=1))
    # when the job runs at the deadline
    assert services.refund_due_messages() == 1
    message.refresh_from_db()
    assert (message.escrow_state, message.refund_reason) == (EscrowState.REFUNDED, "expired")
    assert balance_of(user=funded_alice) == 1000 and message_escrow_balance() == 0
    refunded = Notification.objects.get(recipient=funded_alice, kind="message_refunded")
    assert refunded.data["tokens"] == 10
    # and running it again changes nothing; a late reply releases nothing
    assert services.refund_due_messages() == 0
    send(bob, convo, "sorry, late")
    assert pending_earnings(user=bob) == 0
    assert_ledger_consistent()


def test_the_reply_window_is_a_setting(traveller, convo, funded_alice, settings):
    settings.MESSAGE_REPLY_WINDOW_H = 1
    message = send(funded_alice, convo)
    assert message.reply_by == timezone.now() + timedelta(hours=1)


def test_the_creator_declines_a_held_message_by_deleting_it_and_the_fan_is_refunded(convo, funded_alice, bob):
    message = send(funded_alice, convo, "buy my crypto")
    services.delete_message(user=bob, message_id=message.pk)
    message.refresh_from_db()
    assert (message.escrow_state, message.refund_reason, message.text) == (EscrowState.REFUNDED, "deleted", "")
    assert message.deleted_at is not None and balance_of(user=funded_alice) == 1000
    assert_ledger_consistent()


def test_a_sender_deletes_within_the_window_only(traveller, convo, funded_alice, bob, settings):
    settings.MESSAGE_DELETE_WINDOW_S = 60
    mine = send(bob, convo, "oops")
    services.delete_message(user=bob, message_id=mine.pk)
    assert Message.objects.get(pk=mine.pk).deleted_at is not None
    late = send(bob, convo, "stays")
    traveller.shift(timedelta(seconds=61))
    with pytest.raises(DeleteNotAllowed):
        services.delete_message(user=bob, message_id=late.pk)
    # the fan cannot delete the creator's message, nor the creator an answered one
    with pytest.raises(DeleteNotAllowed):
        services.delete_message(user=funded_alice, message_id=late.pk)


def test_a_fan_deleting_a_held_message_gets_it_back(convo, funded_alice):
    message = send(funded_alice, convo)
    services.delete_message(user=funded_alice, message_id=message.pk)
    assert balance_of(user=funded_alice) == 1000
    assert Message.objects.get(pk=message.pk).escrow_state == EscrowState.REFUNDED


def test_a_block_either_way_refunds_what_is_held_and_hides_the_conversation(convo, funded_alice, bob):
    send(funded_alice, convo, "one")
    send(funded_alice, convo, "two")
    # when bob blocks alice
    block_user(blocker=bob, blocked=funded_alice)
    # then both messages are refunded, the conversation is hidden and closed both ways
    assert set(Message.objects.values_list("escrow_state", "refund_reason")) == {(EscrowState.REFUNDED, "blocked")}
    assert balance_of(user=funded_alice) == 1000
    for user in (funded_alice, bob):
        with pytest.raises(ConversationNotFound):
            selectors.conversation_for_party(conversation_id=convo.pk, user=user)
        assert selectors.inbox(user)[0] == []
    with pytest.raises(ConversationNotFound):
        send(funded_alice, convo, "let me in")
    with pytest.raises(MessagingBlocked):
        services.open_conversation(user=funded_alice, with_user=bob)
    assert_ledger_consistent()


def test_a_fan_blocking_the_creator_refunds_too(convo, funded_alice, bob):
    send(funded_alice, convo)
    block_user(blocker=funded_alice, blocked=bob)
    assert balance_of(user=funded_alice) == 1000


def test_banning_the_creator_refunds_every_fan(funded_alice, bob, bob_profile, moderator):
    carol = make_user("carol")
    fund(carol, 100)
    send(funded_alice, open_between(funded_alice, bob))
    send(carol, open_between(carol, bob))
    ban_user(actor=moderator, user=bob, reason="fraud", until=timezone.now() + timedelta(days=3))
    assert (balance_of(user=funded_alice), balance_of(user=carol)) == (1000, 100)
    assert set(Message.objects.values_list("refund_reason", flat=True)) == {"creator_banned"}
    assert_ledger_consistent()


def test_the_job_refunds_a_message_to_a_creator_banned_meanwhile(convo, funded_alice, bob):
    from accounts.models import User

    message = send(funded_alice, convo)
    # a ban committed without the hook (as a send racing the ban would leave it)
    User.objects.filter(pk=bob.pk).update(banned_at=timezone.now())
    assert services.refund_due_messages() == 1
    assert Message.objects.get(pk=message.pk).refund_reason == "creator_banned"


def test_a_moderator_hides_a_message_and_a_held_one_is_refunded(convo, funded_alice, moderator):
    from accounts.models import AuditEntry

    message = send(funded_alice, convo, "spam spam")
    services.hide_message(moderator=moderator, message_id=message.pk, reason="spam")
    message.refresh_from_db()
    assert message.hidden_at is not None and message.text == "spam spam"  # kept for the record
    assert message.escrow_state == EscrowState.REFUNDED and balance_of(user=funded_alice) == 1000
    assert AuditEntry.objects.filter(action="message.hide", target_id=str(message.pk)).exists()
    assert selectors.message_data(message, funded_alice)["text"] == ""


def test_only_moderators_hide_messages(convo, funded_alice, bob):
    from accounts.exceptions import NotAllowed

    message = send(funded_alice, convo)
    with pytest.raises(NotAllowed):
        services.hide_message(moderator=bob, message_id=message.pk, reason="I don't like it")


# --- reading ---------------------------------------------------------------------------


def test_read_receipts_show_what_the_reader_read_unless_they_turned_them_off(convo, funded_alice, bob):
    first = send(funded_alice, convo, "one")
    services.mark_read(user=bob, conversation_id=convo.pk)
    convo.refresh_from_db()
    selectors.decorate([convo], funded_alice)
    assert selectors.conversation_data(convo, funded_alice)["other_read_id"] == first.pk
    # bob turns receipts off: his next reads clear his unread count but show nothing to alice
    services.set_read_receipts(user=bob, enabled=False)
    second = send(funded_alice, convo, "two")
    selectors.decorate([convo], bob)
    assert convo.unread == 1
    services.mark_read(user=bob, conversation_id=convo.pk)
    convo.refresh_from_db()
    selectors.decorate([convo], bob)
    assert convo.unread == 0 and convo.creator_read_id == second.pk
    selectors.decorate([convo], funded_alice)
    assert selectors.conversation_data(convo, funded_alice)["other_read_id"] == first.pk


def test_read_pointers_only_move_forward_and_not_past_the_newest(convo, funded_alice, bob):
    message = send(funded_alice, convo)
    assert services.mark_read(user=bob, conversation_id=convo.pk, up_to=10**12)["read_id"] == message.pk
    assert services.mark_read(user=bob, conversation_id=convo.pk, up_to=0)["read_id"] == message.pk


def test_unread_summary_counts_messages_and_conversations(funded_alice, bob, bob_profile):
    carol = make_creator("carol")
    make_messaging_creator(carol, price=0)
    send(bob, open_between(bob, funded_alice), "a")
    send(bob, Conversation.objects.get(), "b")
    send(carol, open_between(carol, funded_alice), "c")
    assert selectors.unread_summary(funded_alice) == {"conversations": 2, "messages": 3}


# --- the stream ---------------------------------------------------------------------------


def test_the_stream_after_an_id_is_exactly_what_followed_in_order(convo, funded_alice, bob):
    carol = make_creator("carol")
    make_messaging_creator(carol, price=0)
    other = open_between(funded_alice, carol)
    sent = [send(funded_alice, convo, "1"), send(bob, convo, "2"), send(carol, other, "3"), send(funded_alice, other, "4")]
    messages, more = selectors.stream_after(user=funded_alice, after=sent[0].pk)
    assert [m.pk for m in messages] == [m.pk for m in sent[1:]] and not more
    assert selectors.stream_position(funded_alice) == sent[-1].pk
    assert [m.pk for m in selectors.stream_after(user=bob, after=0)[0]] == [sent[0].pk, sent[1].pk]


def test_every_new_message_event_names_the_one_before_it_in_each_persons_stream(convo, funded_alice, bob, django_capture_on_commit_callbacks):
    from unittest import mock

    with mock.patch("messaging.services.send_events_on_commit") as push:
        first = send(funded_alice, convo, "1")
        second = send(bob, convo, "2")
    events = [(users[0], event) for call in push.call_args_list for users, event in call.args[0] if event["type"] == "message.new"]
    assert [(str(who), e["message"]["id"], e["prev_id"]) for who, e in events] == [
        (str(funded_alice.pk), first.pk, 0), (str(bob.pk), first.pk, 0),
        (str(bob.pk), second.pk, first.pk), (str(funded_alice.pk), second.pk, first.pk),
    ]


# --- reports --------------------------------------------------------------------------------


def test_only_someone_in_the_conversation_reports_a_message(convo, funded_alice, bob, mallory):
    from moderation.exceptions import UnknownTarget
    from moderation.services import file_report

    message = send(bob, convo, "rude")
    report = file_report(reporter=funded_alice, target_kind="message", target_id=str(message.pk), reason="harassment")
    assert (report.target_user_id, report.target_id) == (bob.pk, str(message.pk))
    for reporter, target in [(mallory, message.pk), (funded_alice, 10**17), (funded_alice, "abc")]:
        with pytest.raises(UnknownTarget):
            file_report(reporter=reporter, target_kind="message", target_id=str(target), reason="spam")
    with pytest.raises(UnknownTarget):  # not your own
        file_report(reporter=bob, target_kind="message", target_id=str(message.pk), reason="spam")


def test_outsiders_get_not_found_for_everything(convo, funded_alice, bob, mallory):
    message = send(funded_alice, convo)
    with pytest.raises(ConversationNotFound):
        selectors.conversation_for_party(conversation_id=convo.pk, user=mallory)
    with pytest.raises(ConversationNotFound):
        send(mallory, convo, "let me in")
    with pytest.raises(ConversationNotFound):
        services.mark_read(user=mallory, conversation_id=convo.pk)
    with pytest.raises(ConversationNotFound):
        services.typing_target(user=mallory, conversation_id=convo.pk)
    with pytest.raises(ConversationNotFound):
        services.set_viewing(user=mallory, socket_id="specific.mallory", conversation_id=convo.pk)
    with pytest.raises(MessageNotFound):
        services.delete_message(user=mallory, message_id=message.pk)


# --- database backstops ------------------------------------------------------------------------


def test_the_database_refuses_an_inconsistent_escrow_state(convo, funded_alice):
    message = send(funded_alice, convo)
    for changes in [
        {"escrow_state": EscrowState.RELEASED},  # released without a settlement
        {"escrow_state": EscrowState.FREE},  # free with a hold
        {"price": 0},
        {"reply_by": None},
    ]:
        with pytest.raises(IntegrityError), transaction.atomic():
            Message.objects.filter(pk=message.pk).update(**changes)


def test_the_database_refuses_a_second_settlement_of_one_hold(convo, funded_alice, bob):
    from ledger.services import HoldSettlement, refund_message_payments, release_message_payments

    message = send(funded_alice, convo)
    release_message_payments(creator=bob, settlements=[HoldSettlement(message.hold_transaction_id, "release-a")])
    from ledger.exceptions import AlreadySettled

    with pytest.raises(AlreadySettled):
        refund_message_payments(settlements=[HoldSettlement(message.hold_transaction_id, "refund-b")])


def test_a_broadcast_reaches_a_recipient_once_by_database_rule(convo, funded_alice, bob):
    from messaging.models import Broadcast

    broadcast = Broadcast.objects.create(creator=bob, text="hi all", audience="followers", recipient_count=1)
    Message.objects.create(conversation=convo, sender=bob, recipient=funded_alice, kind="broadcast", text="hi", broadcast=broadcast)
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=convo, sender=bob, recipient=funded_alice, kind="broadcast", text="hi", broadcast=broadcast)


def test_ledger_check_notices_a_message_held_without_escrow(convo, funded_alice, bob):
    from ledger.checks import run_all

    first = send(funded_alice, convo)
    send(bob, convo, "answer")
    # a bug marks the released message held again
    Message.objects.filter(pk=first.pk).update(escrow_state=EscrowState.HELD, settle_transaction=None, settled_at=None)
    problems = run_all()["messages held match the escrow"]
    assert any("held add up to 10" in p for p in problems) and any("its hold was settled" in p for p in problems)
