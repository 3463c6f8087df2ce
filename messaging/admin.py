"""Messaging in the admin: read-only records for support and moderators. The one action,
"Hide for both people", goes through services.hide_message (audited, refunds a held message)."""

from django.contrib import admin, messages

from digis.errors import DomainError
from messaging import services
from messaging.models import Broadcast, Conversation, Message


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("id", "fan", "creator", "created_at", "last_message_at")
    search_fields = ("fan__username", "creator__username", "id")
    raw_id_fields = ("fan", "creator")


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "sender", "recipient", "kind", "price", "escrow_state", "refund_reason", "deleted_at", "hidden_at")
    list_filter = ("escrow_state", "kind", "refund_reason")
    search_fields = ("=id", "sender__username", "recipient__username", "=conversation__id")
    raw_id_fields = ("conversation", "sender", "recipient", "hold_transaction", "settle_transaction", "broadcast", "hidden_by")
    actions = ["hide_for_both"]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Hide for both people (refunds a held message)", permissions=["hide"])
    def hide_for_both(self, request, queryset):
        hidden = 0
        for message in queryset:
            try:
                services.hide_message(moderator=request.user, message_id=message.pk, reason="Hidden from the admin")
                hidden += 1
            except DomainError as exc:
                self.message_user(request, f"Message {message.pk}: {exc.message}", messages.ERROR)
        if hidden:
            self.message_user(request, f"Hid {hidden} message(s).", messages.SUCCESS)

    def has_hide_permission(self, request):
        return request.user.has_perm("accounts.ban_user")


@admin.register(Broadcast)
class BroadcastAdmin(ReadOnlyAdmin):
    list_display = ("id", "creator", "audience", "min_spend", "status", "recipient_count", "delivered_count", "created_at")
    list_filter = ("status", "audience")
    search_fields = ("creator__username", "=id")
    raw_id_fields = ("creator",)
