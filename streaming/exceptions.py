"""Live streaming errors. Codes are stable: the live page and apps switch on them."""

from digis.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, PaymentRequired


class StreamNotFound(NotFound):
    code = "stream_not_found"
    default_message = "No such live stream."


class NotACreator(Forbidden):
    code = "not_a_creator"
    default_message = "Only creators can go live."


class AlreadyLive(Conflict):
    code = "already_live"
    default_message = "You are already live. End that stream first."


class StreamNotLive(Conflict):
    code = "stream_not_live"
    default_message = "This stream has ended."


class InvalidStream(InvalidInput):
    code = "invalid_stream"
    default_message = "Some of the stream's settings are not valid."


class NotHostOrModerator(Forbidden):
    """The caller may not do this to the stream (403, with a code per action)."""

    code = "not_a_moderator"
    default_message = "Only the host and the stream's moderators can do that."


class NotHost(Forbidden):
    code = "not_the_host"
    default_message = "Only the host can do that."


class StreamBlocked(Forbidden):
    code = "blocked"
    default_message = "You cannot watch this stream."


class BannedFromChannel(Forbidden):
    code = "banned_from_channel"
    default_message = "You are banned from this creator's streams."


class FollowersOnly(Forbidden):
    code = "followers_only"
    default_message = "This stream is for followers. Follow the creator to watch."


class TicketRequired(PaymentRequired):
    code = "ticket_required"
    status_code = 402
    default_message = "This stream needs a ticket. Join it to buy one."


class CannotAffordTicket(PaymentRequired):
    code = "insufficient_funds"
    status_code = 402
    default_message = "You need more tokens for a ticket."


class CannotAffordTip(PaymentRequired):
    code = "insufficient_funds"
    status_code = 402
    default_message = "You need more tokens for this tip."


class RoomFull(Conflict):
    code = "room_full"
    default_message = "This room is full."


class CannotTipSelf(InvalidInput):
    code = "cannot_tip_self"
    default_message = "You cannot tip your own stream."


class InvalidTip(InvalidInput):
    code = "invalid_tip"
    default_message = "The tip is not valid."


class ChatRefused(DomainError):
    """A chat message the rules refuse: 403/429 with a code per rule
    (timed_out, slow_mode, followers_only_chat, chat_rate_limited)."""

    code = "chat_refused"
    status_code = 403
    default_message = "You cannot chat right now."


class TimedOut(ChatRefused):
    code = "timed_out"
    default_message = "You are timed out."


class FollowersOnlyChat(ChatRefused):
    code = "followers_only_chat"
    default_message = "Follower-only chat."


class SlowMode(ChatRefused):
    code = "slow_mode"
    status_code = 429
    default_message = "Slow mode is on."


class ChatRateLimited(ChatRefused):
    code = "chat_rate_limited"
    status_code = 429
    default_message = "You are sending messages too fast."


class InvalidChatMessage(InvalidInput):
    code = "invalid_message"
    default_message = "The message is not valid."


class MessageNotFound(NotFound):
    code = "message_not_found"
    default_message = "No such chat message."


class InvalidModeration(InvalidInput):
    code = "invalid_moderation"
    default_message = "The moderation request is not valid."


class UserNotFound(NotFound):
    code = "user_not_found"
    default_message = "No such user."


class SignalRefused(Forbidden):
    code = "signal_refused"
    default_message = "You cannot signal that viewer."
