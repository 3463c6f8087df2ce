"""Named hook lists: how feature apps hear about a change to a user without accounts importing them.

accounts is a core app and imports no feature app (STYLE.md, "Dependencies
point inward"). A feature app that must react to a user change registers a
receiver here from its ``AppConfig.ready()``; the accounts service calls the
list inside its own transaction, after its own writes, so whatever a receiver
writes commits or rolls back with the change. Receivers take keyword
arguments only, must be cheap (no network I/O: use ``transaction.on_commit``
for that) and must not raise for expected conditions: an exception rolls back
the change. The lists are documented in docs/architecture.md.
"""

from collections.abc import Callable


class Hook:
    """A named list of receivers, called in registration order."""

    def __init__(self, name: str, arguments: str):
        self.name = name
        self.arguments = arguments
        self._receivers: list[Callable] = []

    def register(self, receiver: Callable) -> Callable:
        """Add ``receiver`` (idempotent: registering twice keeps one). Usable as a decorator."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def unregister(self, receiver: Callable) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    def __call__(self, **kwargs) -> None:
        for receiver in list(self._receivers):
            receiver(**kwargs)

    def __repr__(self):
        return f"<Hook {self.name}({self.arguments}): {len(self._receivers)} receivers>"


# A moderator banned (until=None) or suspended (until=a datetime) a user.
# notice: what to tell the person, or None (then the reason is what they read).
user_banned = Hook("user_banned", "user, actor, reason, until, notice")
# A moderator lifted a ban or suspension that was in force.
user_unbanned = Hook("user_unbanned", "user, actor, reason")
# Someone blocked someone (a new block; blocking again calls nothing).
user_blocked = Hook("user_blocked", "blocker, blocked")
# The account holder (or an admin) deleted the account; its row is now a
# tombstone. Receivers forget what still reaches the person (push endpoints).
user_deleted = Hook("user_deleted", "user")
