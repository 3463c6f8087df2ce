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


class StreamingConfig(AppConfig):
    name = "streaming"

    def ready(self):
        from moderation.services import register_target

        # Socket events register with the realtime dispatcher on import.
        from streaming import consumers  # noqa: F401

        register_target("stream", _resolve_reported_stream)
