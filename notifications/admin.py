from django.contrib import admin

from notifications.models import Notification, NotificationSettings, PushSubscription


class ReadOnlyAdmin(admin.ModelAdmin):
    # Written only by notifications.services; read-only here.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "recipient", "kind", "text", "read_at")
    list_filter = ("kind",)
    search_fields = ("recipient__username", "text")
    raw_id_fields = ("recipient", "actor")


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(ReadOnlyAdmin):
    list_display = ("user", "filter_not_following", "filter_never_paid", "updated_at")
    search_fields = ("user__username",)
    raw_id_fields = ("user",)


@admin.register(PushSubscription)
class PushSubscriptionAdmin(ReadOnlyAdmin):
    """Delivery counts per device: what an operator looks at when someone says "I get no pushes"."""

    list_display = ("user", "created_at", "sent_count", "failed_count", "last_status", "last_success_at", "user_agent")
    list_filter = ("last_status",)
    search_fields = ("user__username",)
    raw_id_fields = ("user",)
    exclude = ("p256dh", "auth")
