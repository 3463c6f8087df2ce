"""Small formatting helpers for the console's templates."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def money(cents, currency: str = "usd") -> str:
    """Integer cents -> "USD 1,234.56" (no floats near money)."""
    cents = int(cents or 0)
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{currency.upper()} {sign}{cents // 100:,}.{cents % 100:02d}"


@register.filter
def tokens(value) -> str:
    return f"{int(value or 0):,}"


@register.filter
def duration(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


@register.filter
def get(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.simple_tag
def delta(current, previous, better: str = "up"):
    """The change from the previous period: "+12.5 %" (green when better)."""
    if current is None or current == "":
        return ""
    try:
        current = float(current)
        # A figure the previous period did not have at all (no purchases in that currency) was zero.
        previous = float(previous) if previous not in (None, "") else 0.0
    except (TypeError, ValueError):
        return ""
    if previous == 0:
        if current == 0:
            return mark_safe('<span class="delta">±0</span>')
        return mark_safe('<span class="delta">new</span>')
    change = (current - previous) / abs(previous) * 100
    good = change > 0 if better == "up" else change < 0
    css = "delta delta-good" if good and abs(change) >= 0.05 else "delta delta-bad" if abs(change) >= 0.05 else "delta"
    return format_html('<span class="{}" title="previous period: {}">{}{} %</span>', css, f"{previous:g}", "+" if change > 0 else "", f"{change:.1f}")


@register.filter
def urlencode_dict(params) -> str:
    from urllib.parse import urlencode

    return urlencode(params or {})
