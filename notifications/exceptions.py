"""Notification errors. Codes are stable: clients switch on them."""

from digis.errors import Conflict, InvalidInput, NotFound


class NotificationNotFound(NotFound):
    code = "notification_not_found"
    default_message = "No such notification."


class InvalidSubscription(InvalidInput):
    code = "invalid_push_subscription"
    default_message = "That is not a valid push subscription."


class PushSubscriptionNotFound(NotFound):
    code = "push_subscription_not_found"
    default_message = "No such push subscription."


class PushNotConfigured(Conflict):
    code = "push_not_configured"
    default_message = "Web push is not configured on this server."


class InvalidPreferences(InvalidInput):
    code = "invalid_preferences"
    default_message = "Those notification settings are not valid."
