"""The only place stream rows are locked.

Ending a stream takes its row lock (FOR NO KEY UPDATE) and flips its status by
compare-and-swap. Tickets and tips take a *shared* lock on the live row
(FOR SHARE) in their own transaction: buyers and tippers do not wait for one
another, but an end waits for the ones in flight and every one after it sees
the stream ended, so nobody pays for a stream that has already ended. Ledger
rows are locked by the ledger, always after the stream row, never before.
"""

from django.db import connection

from streaming.models import LiveStream, StreamStatus


def lock_stream(stream_id) -> LiveStream:
    return LiveStream.objects.select_for_update(of=("self",), no_key=True).select_related("host").get(pk=stream_id)


def share_live_stream(stream_id) -> bool:
    """Inside a transaction: hold a shared lock on the stream while it is live. False if it is not live."""
    if connection.vendor != "postgresql":
        # SQLite has one writer at a time: the status read is as good as a lock.
        return LiveStream.objects.filter(pk=stream_id, status=StreamStatus.LIVE).exists()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {LiveStream._meta.db_table} WHERE id = %s AND status = %s FOR SHARE",
            [stream_id, StreamStatus.LIVE],
        )
        return cursor.fetchone() is not None
