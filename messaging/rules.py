"""Who may write to whom, and what it costs: one set of rules for the service and the pages.

``send_message`` enforces them inside its transaction (under the inbox locks);
the thread page and the API's conversation detail use ``sending_gate`` to say
beforehand what a message would cost and why it would be refused.
"""

from dataclasses import dataclass

from digis.errors import DomainError
from messaging import selectors
from messaging.exceptions import FollowersOnly, MessagingBlocked, RecipientNotFound, SpendRequired


def reachable(user) -> bool:
    return user.is_active and user.deleted_at is None and not user.is_banned


def creator_profile(user):
    from creators.models import CreatorProfile

    return CreatorProfile.objects.filter(user_id=user.pk).first()


def check_not_blocked(a, b) -> None:
    from accounts.selectors import is_blocked_between

    if is_blocked_between(a, b):
        raise MessagingBlocked()


def check_policy(*, conversation, fan, profile) -> None:
    """Whether the fan may write to this creator now (403 followers_only / spend_required).

    The policy gates fans who write first: once the creator has written to the
    fan directly (not a broadcast), the fan may always answer.
    """
    from creators.models import MessagePolicy

    policy = profile.message_policy
    if policy == MessagePolicy.ANYONE or selectors.creator_has_written(conversation):
        return
    if policy == MessagePolicy.FOLLOWERS:
        if not selectors.is_following(fan, conversation.creator):
            raise FollowersOnly()
        return
    # "Fans who have spent at least N tokens with me": at least one token, whatever N says.
    needed = max(1, int(profile.message_min_spend))
    spent = selectors.spent_with(conversation.creator, fan)
    if spent < needed:
        raise SpendRequired(
            f"This creator takes messages from fans who have spent at least {needed} tokens with them; "
            f"you have spent {spent}.",
            min_spend=needed, spent=spent,
        )


@dataclass
class Gate:
    price: int
    error: DomainError | None


def sending_gate(*, conversation, user) -> Gate:
    """What ``user``'s next message in ``conversation`` would cost, and the error it would get now (or None).

    Funds are not checked here (the 402 comes from the ledger at send time).
    """
    from ledger.exceptions import WalletFrozen
    from ledger.selectors import debt_of

    other = conversation.creator if user.pk == conversation.fan_id else conversation.fan
    try:
        if not reachable(other):
            raise RecipientNotFound()
        check_not_blocked(user, other)
        if user.pk != conversation.fan_id:
            return Gate(price=0, error=None)
        profile = creator_profile(conversation.creator)
        if profile is None:
            raise RecipientNotFound()
        price = int(profile.message_price)
        check_policy(conversation=conversation, fan=user, profile=profile)
        debt = debt_of(user=user) if price > 0 else 0
        if debt > 0:
            raise WalletFrozen(debt=debt)
        return Gate(price=price, error=None)
    except DomainError as exc:
        return Gate(price=locals().get("price", 0), error=exc)
