"""Client socket events for notifications.

``notifications.viewing`` {"thread": "<id>" | null}: this tab now shows that
conversation thread (or none, or it went to the background), so new-message
notifications for it are held back (``notifications.viewing``). Replies
``notifications.viewing`` with what was recorded.
"""

from digis.errors import InvalidInput
from digis.realtime.registry import on
from notifications import viewing


@on("notifications.viewing")
def viewing_thread(*, user, payload, consumer):
    thread = payload.get("thread")
    if thread is not None and (not isinstance(thread, str) or not thread or len(thread) > viewing.MAX_THREAD_CHARS):
        raise InvalidInput(
            "thread must be a thread's id or null.", fields={"thread": ["A string of at most 64 characters, or null."]}
        )
    viewing.set_viewing(user_id=user.pk, socket_id=consumer.channel_name, thread=thread)
    return {"type": "notifications.viewing", "thread": thread}
