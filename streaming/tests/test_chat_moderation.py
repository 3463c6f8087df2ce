"""Chat rules and moderation through the services: every rule read from the database, every action audited."""

from datetime import timedelta

import pytest
from django.test import override_settings

from accounts.models import AuditEntry
from accounts.tests.factories import make_user
from streaming import selectors, services
from streaming.exceptions import (
    BannedFromChannel,
    ChatRateLimited,
    FollowersOnlyChat,
    InvalidModeration,
    MessageNotFound,
    NotHostOrModerator,
    SlowMode,
    TimedOut,
)
from streaming.models import ChatMessage, ChatRestriction
from streaming.tests.conftest import START, follow, live

pytestmark = pytest.mark.django_db


def say(stream, user, text, key=None):
    say.n = getattr(say, "n", 0) + 1
    return services.send_chat(stream_id=stream.pk, user=user, text=text, client_key=key or f"m{say.n}")


def test_a_resent_message_is_stored_once(host, alice):
    stream = live(host)
    first, created = say(stream, alice, "hello", key="same")
    again, created_again = say(stream, alice, "hello", key="same")
    assert (created, created_again, first["id"]) == (True, False, again["id"])
    assert ChatMessage.objects.count() == 1
    assert [m["text"] for m in selectors.recent_chat(stream)] == ["hello"]


@pytest.mark.parametrize("text", ["", "   ", "x" * 501, None, 5])
def test_bad_messages_are_refused(host, alice, text):
    stream = live(host)
    with pytest.raises(Exception) as refused:
        say(stream, alice, text)
    assert refused.value.status_code == 400
    assert not ChatMessage.objects.exists()


def test_a_resend_in_slow_mode_gets_the_stored_message_back(host, alice, traveller):
    """A client resending after a lost reply must not be told "slow mode" about a message everyone saw."""
    stream = live(host)
    services.update_chat_settings(stream_id=stream.pk, actor=host, slow_mode_s=30)
    first, _ = say(stream, alice, "one", key="k1")
    again, created = say(stream, alice, "one", key="k1")
    assert (again["id"], created) == (first["id"], False)
    with pytest.raises(SlowMode):
        say(stream, alice, "two", key="k2")


def test_slow_mode_holds_until_the_window_passes(host, alice, traveller):
    stream = live(host)
    services.update_chat_settings(stream_id=stream.pk, actor=host, slow_mode_s=30)
    say(stream, alice, "one")
    with pytest.raises(SlowMode) as refused:
        say(stream, alice, "two")
    assert refused.value.status_code == 429 and refused.value.extra["retry_after_s"] == 30
    say(stream, host, "the host is never slowed")
    say(stream, host, "the host is never slowed, really")
    # switching slow mode off lets her speak at once
    services.update_chat_settings(stream_id=stream.pk, actor=host, slow_mode_s=0)
    say(stream, alice, "three")


@pytest.mark.parametrize("value", [1, 2, 121, -1, True, "10"])
def test_slow_mode_range_is_three_to_one_twenty_seconds(host, value):
    stream = live(host)
    with pytest.raises(InvalidModeration):
        services.update_chat_settings(stream_id=stream.pk, actor=host, slow_mode_s=value)


def test_follower_only_chat_with_a_minimum_follow_age(host, alice, traveller):
    stream = live(host)
    services.update_chat_settings(stream_id=stream.pk, actor=host, followers_only=True, followers_min_minutes=10)
    with pytest.raises(FollowersOnlyChat):
        say(stream, alice, "not following")
    follow(alice, host)
    with pytest.raises(FollowersOnlyChat) as refused:
        say(stream, alice, "following for a moment")
    assert refused.value.extra["min_minutes"] == 10
    traveller.move_to(START + timedelta(minutes=10))
    say(stream, alice, "following for ten minutes")


def test_timeout_silences_then_expires(host, alice, traveller):
    stream = live(host)
    say(stream, alice, "spam")
    services.timeout_user(stream_id=stream.pk, actor=host, user="alice", seconds=600, reason="Spam")
    assert ChatMessage.objects.get().deleted_at is not None  # her messages are gone for everyone
    assert selectors.recent_chat(stream) == []
    with pytest.raises(TimedOut) as refused:
        say(stream, alice, "still here")
    assert refused.value.extra["retry_after_s"] == 600
    assert services.admit(stream, alice) == "viewer"  # she can still watch
    traveller.move_to(START + timedelta(seconds=600))
    say(stream, alice, "back")
    entry = AuditEntry.objects.get(action="live.timeout")
    assert (entry.actor, entry.reason, entry.after["messages_removed"]) == (host, "Spam", 1)


def test_the_page_is_told_what_stops_a_viewer_chatting(host, alice, traveller):
    stream = live(host)
    assert services.chat_standing(stream, alice) == {"timed_out_until": None, "banned": False}
    services.timeout_user(stream_id=stream.pk, actor=host, user="alice", seconds=600)
    until = (START + timedelta(seconds=600)).isoformat()
    assert services.chat_standing(stream, alice) == {"timed_out_until": until, "banned": False}
    services.ban_user(stream_id=stream.pk, actor=host, user="alice")
    assert services.chat_standing(stream, alice) == {"timed_out_until": None, "banned": True}  # the ban says it all
    traveller.move_to(START + timedelta(seconds=600))
    services.lift_restriction(stream_id=stream.pk, actor=host, user="alice", kind="ban")
    assert services.chat_standing(stream, alice) == {"timed_out_until": None, "banned": False}


@pytest.mark.parametrize("seconds", [0, 14 * 24 * 3600 + 1, True])
def test_timeouts_last_one_second_to_two_weeks(host, alice, seconds):
    stream = live(host)
    with pytest.raises(InvalidModeration):
        services.timeout_user(stream_id=stream.pk, actor=host, user=alice.pk, seconds=seconds)
    services.timeout_user(stream_id=stream.pk, actor=host, user=alice.pk, seconds=1)
    services.timeout_user(stream_id=stream.pk, actor=host, user=alice.pk, seconds=14 * 24 * 3600)
    assert ChatRestriction.objects.filter(lifted_at__isnull=True).count() == 1  # the new one replaced the old


def test_a_ban_covers_every_stream_of_the_host_until_lifted(host, alice):
    stream = live(host)
    services.ban_user(stream_id=stream.pk, actor=host, user="alice", reason="Abuse")
    services.ban_user(stream_id=stream.pk, actor=host, user="alice", reason="Abuse")  # idempotent
    with pytest.raises(BannedFromChannel):
        services.join_stream(stream_id=stream.pk, user=alice)
    with pytest.raises(BannedFromChannel):
        say(stream, alice, "let me in")
    services.end_stream(stream_id=stream.pk, actor=host)
    next_stream = live(host, title="Tomorrow")
    with pytest.raises(BannedFromChannel):
        services.join_stream(stream_id=next_stream.pk, user=alice)
    assert services.lift_restriction(stream_id=next_stream.pk, actor=host, user="alice", kind="ban") is True
    assert services.join_stream(stream_id=next_stream.pk, user=alice)[2] == "viewer"
    assert list(AuditEntry.objects.filter(action__startswith="live.ban").values_list("action", flat=True).order_by("created_at")) == [
        "live.ban", "live.ban.lift"]


def test_a_viewer_cannot_moderate(host, alice, mallory):
    stream = live(host)
    message, _ = say(stream, alice, "hi")
    attempts = [
        lambda: services.update_chat_settings(stream_id=stream.pk, actor=mallory, slow_mode_s=10),
        lambda: services.delete_message(stream_id=stream.pk, message_id=message["id"], actor=mallory),
        lambda: services.timeout_user(stream_id=stream.pk, actor=mallory, user="alice", seconds=60),
        lambda: services.ban_user(stream_id=stream.pk, actor=mallory, user="alice"),
        lambda: services.lift_restriction(stream_id=stream.pk, actor=mallory, user="alice", kind="ban"),
    ]
    for attempt in attempts:
        with pytest.raises(NotHostOrModerator):
            attempt()
    assert not ChatRestriction.objects.exists() and ChatMessage.objects.get().deleted_at is None
    assert not AuditEntry.objects.filter(action__startswith="live.").exists()


def test_moderators_moderate_but_not_each_other_nor_the_host(host, alice, mallory):
    stream = live(host)
    services.add_moderator(host=host, user="alice")
    other_mod = make_user("carol")
    services.add_moderator(host=host, user=other_mod)
    message, _ = say(stream, mallory, "rude")
    services.delete_message(stream_id=stream.pk, message_id=message["id"], actor=alice)
    services.timeout_user(stream_id=stream.pk, actor=alice, user="mallory", seconds=60)
    with pytest.raises(NotHostOrModerator):
        services.ban_user(stream_id=stream.pk, actor=alice, user=other_mod)
    with pytest.raises(InvalidModeration):
        services.timeout_user(stream_id=stream.pk, actor=alice, user=host, seconds=60)
    services.ban_user(stream_id=stream.pk, actor=host, user=other_mod)  # the host may
    assert {e.action for e in AuditEntry.objects.all()} >= {"live.moderator.add", "live.chat.delete", "live.timeout", "live.ban"}


def test_deleting_a_message_is_idempotent_and_scoped_to_the_stream(host, alice):
    stream = live(host)
    message, _ = say(stream, alice, "oops")
    services.delete_message(stream_id=stream.pk, message_id=message["id"], actor=host)
    services.delete_message(stream_id=stream.pk, message_id=message["id"], actor=host)
    assert AuditEntry.objects.filter(action="live.chat.delete").count() == 1
    with pytest.raises(MessageNotFound):
        services.delete_message(stream_id=stream.pk, message_id=2**70, actor=host)


@override_settings(LIVE_CHAT_RATE=(3, 30))
def test_per_viewer_rate_limit(host, alice):
    stream = live(host)
    for n in range(3):
        say(stream, alice, f"message {n}")
    with pytest.raises(ChatRateLimited):
        say(stream, alice, "one too many")
    for n in range(5):
        say(stream, host, f"the host is not limited {n}")
