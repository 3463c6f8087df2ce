from django.apps import AppConfig


def _resolve_reported_stream(target_id: str, reporter):
    """A report on a stream files under its host; a stream the reporter may not see is UnknownTarget (404)."""
    import uuid

    from accounts.selectors import is_blocked_between
    from moderation.exceptions import UnknownTarget
    from streaming.models import LiveStream

    try:
        stream_id = uuid.UUID(str(target_id))
    except ValueError:
        raise UnknownTarget()
    stream = LiveStream.objects.select_related("host").filter(pk=stream_id).first()
    if stream is None or is_blocked_between(reporter, stream.host_id):
        raise UnknownTarget()
    return stream.host, str(stream.pk)


def _host_banned(*, user, actor, reason, until, notice=None):
    """A banned creator's live stream ends (after the ban commits; no I/O inside accounts' transaction)."""
    from django.db import transaction

    user_id = str(user.pk)

    def end():
        from streaming.tasks import end_streams_of_banned_host

        end_streams_of_banned_host.delay(user_id)

    transaction.on_commit(end)


class StreamingConfig(AppConfig):
    name = "streaming"

    def ready(self):
        from moderation.services import register_target

        # Socket events register with the realtime dispatcher on import.
        from streaming import consumers  # noqa: F401

        register_target("stream", _resolve_reported_stream)

        from accounts import hooks

        hooks.user_banned.register(_host_banned)
