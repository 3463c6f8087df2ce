"""Named hook lists: how feature apps hear about changes to a user without accounts importing them.

The core must not import feature apps (STYLE.md, "Dependencies point inward").
A feature app that must act when a user is blocked or banned appends a callable
to one of these lists from its ``AppConfig.ready()``; the accounts service calls
every callable, with keyword arguments only, *inside its own transaction*, so
whatever the hook writes commits or rolls back with the block or ban itself.
A hook that raises aborts the change it was told about: hooks must be
idempotent and must not do network I/O (use ``transaction.on_commit``).

- ``user_blocked(blocker=, blocked=)``: a new block (not called for a repeat).
- ``user_banned(user=, actor=, until=)``: a ban (until=None) or a suspension
  (until = when it ends); called for every ban, also when re-banning.
- ``user_unbanned(user=, actor=)``: a ban or suspension was lifted.

Registered today: messaging (refunds held paid messages on a block and on a
creator's ban). docs/architecture.md lists them.
"""

from collections.abc import Callable

user_blocked: list[Callable[..., None]] = []
user_banned: list[Callable[..., None]] = []
user_unbanned: list[Callable[..., None]] = []


def register(hooks: list, func: Callable[..., None]) -> Callable[..., None]:
    """Append ``func`` to ``hooks`` once (AppConfig.ready may run twice in tests)."""
    if func not in hooks:
        hooks.append(func)
    return func


def run(hooks: list, **kwargs) -> None:
    """Call every hook with these keyword arguments, in registration order."""
    for func in list(hooks):
        func(**kwargs)
