"""The bell: ``{% load notifications_tags %}{% notification_bell %}`` in base.html's nav."""

from django import template

from notifications.selectors import UNREAD_CAP, unread_count

register = template.Library()


def bell_label(count: int) -> str:
    return f"{UNREAD_CAP - 1}+" if count >= UNREAD_CAP else str(count)


@register.inclusion_tag("notifications/_bell.html", takes_context=True)
def notification_bell(context):
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return {"show": False}
    count = unread_count(user.pk)
    return {"show": True, "count": count, "label": bell_label(count), "cap": UNREAD_CAP}
