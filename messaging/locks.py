"""The only place messaging rows are locked.

Lock order, everywhere: inboxes (by user id) -> message rows (by id, through
compare-and-swap updates) -> ledger accounts (the ledger's own order). The
expiry job and moderation touch messages without inboxes, which is fine: they
insert no message, and nothing that holds a message row waits for an inbox.
"""

from collections.abc import Iterable

from messaging.models import Inbox


def ensure_inboxes(user_ids: Iterable) -> None:
    """Create missing inbox rows (a concurrent creator wins quietly)."""
    ids = {str(user_id) for user_id in user_ids}
    existing = {str(pk) for pk in Inbox.objects.filter(user_id__in=ids).values_list("user_id", flat=True)}
    missing = ids - existing
    if missing:
        Inbox.objects.bulk_create([Inbox(user_id=user_id) for user_id in sorted(missing)], ignore_conflicts=True)


def lock_inboxes(user_ids: Iterable) -> dict[str, Inbox]:
    """Lock the inboxes of these people (creating missing ones), in user-id order.

    Held until the transaction ends: every message that involves one of them
    is inserted and committed after ours, so each person's stream commits in
    id order. FOR NO KEY UPDATE: inserting a message's foreign keys to the
    users does not wait on it.
    """
    ids = sorted({str(user_id) for user_id in user_ids})

    def lock():
        rows = Inbox.objects.select_for_update(no_key=True).filter(user_id__in=ids).order_by("user_id")
        return {str(inbox.user_id): inbox for inbox in rows}

    locked = lock()
    if len(locked) < len(ids):  # someone's first message: create the missing rows, then lock them all in order
        ensure_inboxes(ids)
        locked = lock()
    return locked
