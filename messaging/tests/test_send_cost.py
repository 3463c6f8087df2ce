"""What one message costs the database: an upper bound on the statements each send issues, so the
cost found by bench/realtime.py (docs/messaging.md, "Speed") cannot silently come back.

Counted inside the test's transaction, so the service's own transaction shows as a SAVEPOINT and a
RELEASE (BEGIN and COMMIT in production). The people are read fresh from the database, as the
socket's user is: nothing (a creator profile, say) is already cached on them."""

import pytest

from accounts.models import User
from messaging import services
from messaging.tests.factories import fund, make_messaging_creator, new_id, open_between

pytestmark = pytest.mark.django_db


def _fresh(user):
    return User.objects.get(pk=user.pk)


def _send(user, conversation, text="hello"):
    return services.send_message(sender=user, conversation_id=conversation.pk, client_message_id=new_id(), text=text)


@pytest.fixture
def free_convo(alice, bob):
    make_messaging_creator(bob, price=0)
    conversation = open_between(alice, bob)
    _send(alice, conversation, "first")  # inboxes exist, as for anyone who has written before
    _send(bob, conversation, "first back")
    return conversation


# The service's transaction (2: SAVEPOINT/RELEASE here), the conversation (is the sender in it?), the
# inbox locks, both people (their profiles and the block check), the resend check, the insert, the
# conversation's and inboxes' pointers, and the notification (the recipient's settings, read once for
# the filter and the channels, and the insert: its key is the new message's, so no savepoint: 2).
FAN_MESSAGE = 2 + 7 + 2


def test_a_free_fan_message_costs_a_fixed_handful_of_statements(alice, free_convo, django_assert_max_num_queries):
    sender = _fresh(alice)
    with django_assert_max_num_queries(FAN_MESSAGE):
        message, created = _send(sender, free_convo)
    assert created and message.text == "hello"


def test_a_creators_message_adds_only_the_check_for_held_messages(bob, free_convo, django_assert_max_num_queries):
    # one more: the messages still held in the conversation, locked (none here); the creator's own
    # profile (the notification's name) comes with the people, not as a query of its own
    sender = _fresh(bob)
    with django_assert_max_num_queries(FAN_MESSAGE + 1):
        message, created = _send(sender, free_convo)
    assert created


@pytest.mark.postgres
def test_a_paid_message_adds_one_statement_for_the_hold(alice, bob, django_assert_max_num_queries):
    make_messaging_creator(bob, price=10)
    fund(alice, 100)
    conversation = open_between(alice, bob)
    _send(alice, conversation, "first")
    sender = _fresh(alice)
    with django_assert_max_num_queries(FAN_MESSAGE + 1):  # the ledger's hold: one ledger_post() call
        message, _ = _send(sender, conversation)
    assert message.escrow_state == "held"


def test_a_resend_is_answered_from_under_the_locks(alice, free_convo, django_assert_max_num_queries):
    first, _ = services.send_message(sender=alice, conversation_id=free_convo.pk, client_message_id="again", text="hi")
    sender = _fresh(alice)
    with django_assert_max_num_queries(2 + 4):  # transaction, conversation, locks, people and block, the first message
        again, created = services.send_message(sender=sender, conversation_id=free_convo.pk, client_message_id="again", text="hi")
    assert (again.pk, created) == (first.pk, False)


def test_a_typing_signal_is_one_query(alice, bob, free_convo, django_assert_num_queries):
    typist = _fresh(alice)
    with django_assert_num_queries(1):
        assert services.typing_target(user=typist, conversation_id=free_convo.pk) == str(bob.pk)


def test_the_settings_read_once_still_decide_the_channels(alice, bob, free_convo):
    """The one settings read serves the filter and the channels: a recipient who switched a kind off gets nothing."""
    from notifications.models import Notification
    from notifications.services import update_preferences

    update_preferences(user=bob, kinds_channels={"message_new": {"in_app": False, "push": False, "email": False}})
    before = Notification.objects.filter(recipient=bob, kind="message_new").count()
    _send(alice, free_convo, "are you there?")
    assert Notification.objects.filter(recipient=bob, kind="message_new").count() == before
    update_preferences(user=bob, kinds_channels={"message_new": {"in_app": True}})
    _send(alice, free_convo, "now?")
    assert Notification.objects.filter(recipient=bob, kind="message_new").count() == before + 1
