"""The path converter for message ids (registered once, on import, for pages and API alike)."""

from django.urls import register_converter


class MessageIdConverter:
    """Digits that fit a bigint: /api/messages/9999999999999999999999/ is a 404 like any
    unknown id, never a database range error."""

    regex = "[0-9]{1,18}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(int(value))


register_converter(MessageIdConverter, "message_id")
