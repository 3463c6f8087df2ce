"""Template helpers for messaging pages: ISO strings from the shared message shape back to datetimes."""

from datetime import datetime

from django import template

register = template.Library()


@register.filter
def isodate(value):
    """'2026-03-01T12:00:00+00:00' -> an aware datetime (None stays None) for the |date filter."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
