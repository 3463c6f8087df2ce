"""What each kind of notification is: its default channels, and how its web push travels.

One table, read by ``services`` (who hears what), ``webpush`` (TTL, urgency,
topic) and the settings page (labels, which switches exist). A new kind gets
a row here and a value in ``models.NotificationKind``.

Push fields (RFC 8030):
- ``ttl_s``: how long a push service keeps the message for an offline
  browser. It counts from the notification's creation: a push that is sent
  late gets what is left, and one whose time ran out is not sent at all.
- ``urgency``: "very-low", "low", "normal" or "high"; a phone on battery
  saving may hold back anything below "high".
- ``topic``: a newer push with the same topic replaces an older one still
  waiting at the push service (and the same tag replaces the shown
  notification on the device), e.g. a thread's third message replaces the
  second, and a missed call replaces its own ring.
"""

from dataclasses import dataclass, field

from django.conf import settings

from notifications.models import Channel, NotificationKind

HOUR = 3600


@dataclass(frozen=True)
class KindPolicy:
    kind: str
    title: str
    description: str
    defaults: dict
    urgency: str = "normal"
    ttl_s: int = 24 * HOUR
    # Which key of the notification names its topic: "target", "thread"
    # (data["thread"]), "actor", or "" for none.
    topic_by: str = "target"
    # Channels a person cannot turn off for this kind.
    locked: frozenset = field(default_factory=frozenset)
    # The device keeps showing it until the person acts (a ringing call).
    require_interaction: bool = False

    def ttl(self) -> int:
        if self.kind == NotificationKind.CALL_INCOMING:
            # A ring lasts CALL_RING_TIMEOUT_S: a push arriving later would
            # announce a call that is already over.
            return int(settings.CALL_RING_TIMEOUT_S)
        return self.ttl_s


def _on(*channels) -> dict:
    return {channel: channel in channels for channel in Channel.values}


IN_APP, PUSH, EMAIL = Channel.IN_APP.value, Channel.PUSH.value, Channel.EMAIL.value

POLICIES: dict[str, KindPolicy] = {
    policy.kind: policy
    for policy in [
        KindPolicy(
            NotificationKind.CALL_INCOMING, "Incoming call", "Someone is calling you.",
            _on(IN_APP, PUSH), urgency="high", topic_by="target", require_interaction=True,
        ),
        KindPolicy(
            NotificationKind.CALL_MISSED, "Missed call", "A call you did not answer in time.",
            _on(IN_APP, PUSH), ttl_s=24 * HOUR, topic_by="target",
        ),
        KindPolicy(
            NotificationKind.MESSAGE_NEW, "New message", "A message in a conversation you are not looking at.",
            _on(IN_APP, PUSH), ttl_s=24 * HOUR, topic_by="thread",
        ),
        KindPolicy(
            NotificationKind.MESSAGE_ANSWERED, "Paid message answered", "A creator answered your paid message.",
            _on(IN_APP, PUSH), ttl_s=48 * HOUR, topic_by="thread",
        ),
        KindPolicy(
            NotificationKind.MESSAGE_REFUNDED, "Paid message refunded", "A paid message went unanswered and was refunded.",
            _on(IN_APP, PUSH), ttl_s=48 * HOUR, topic_by="thread",
        ),
        KindPolicy(
            NotificationKind.TIP_RECEIVED, "Tip received", "A fan tipped you.",
            _on(IN_APP, PUSH), ttl_s=6 * HOUR, topic_by="target",
        ),
        KindPolicy(
            NotificationKind.CREATOR_LIVE, "A creator you follow went live", "A creator you follow started a stream.",
            _on(IN_APP, PUSH), ttl_s=1 * HOUR, topic_by="actor",
        ),
        KindPolicy(
            NotificationKind.PURCHASE_CREDITED, "Tokens credited", "Tokens you bought reached your wallet.",
            _on(IN_APP), urgency="low", ttl_s=24 * HOUR, topic_by="",
        ),
        KindPolicy(
            NotificationKind.PAYOUT_STATUS, "Payout status", "A payout was sent, paid or returned.",
            _on(IN_APP, PUSH, EMAIL), ttl_s=48 * HOUR, topic_by="target",
        ),
        KindPolicy(
            NotificationKind.MODERATION, "Your account", "A moderator's decision about your account.",
            _on(IN_APP, PUSH, EMAIL), ttl_s=48 * HOUR, topic_by="", locked=frozenset({IN_APP}),
        ),
    ]
}

assert set(POLICIES) == set(NotificationKind.values), "every NotificationKind needs a KindPolicy"


def policy(kind: str) -> KindPolicy:
    return POLICIES[kind]


def resolve_channels(kind: str, overrides: dict | None) -> dict:
    """{channel: bool} for one kind: the defaults, then the person's own choices, then the locks."""
    rule = POLICIES[kind]
    chosen = dict(rule.defaults)
    for channel, value in ((overrides or {}).get(kind) or {}).items():
        if channel in chosen and isinstance(value, bool):
            chosen[channel] = value
    for channel in rule.locked:
        chosen[channel] = rule.defaults[channel]
    return chosen
