"""Read-only views of live streams for staff. Changes go through streaming.services
(ending a stream from the admin would skip the summary, the refunds and the audit)."""

from django.contrib import admin

from streaming.models import ChannelModerator, ChatMessage, ChatRestriction, LiveStream, Ticket, Tip


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LiveStream)
class LiveStreamAdmin(ReadOnlyAdmin):
    list_display = ["title", "host", "status", "audience", "ticket_price", "started_at", "ended_at", "end_reason", "peak_viewers"]
    list_filter = ["status", "audience", "end_reason", "media_provider"]
    search_fields = ["title", "host__username"]
    date_hierarchy = "started_at"


@admin.register(ChatRestriction)
class ChatRestrictionAdmin(ReadOnlyAdmin):
    list_display = ["host", "user", "kind", "until", "created_by", "created_at", "lifted_at"]
    list_filter = ["kind"]
    search_fields = ["host__username", "user__username"]


@admin.register(ChatMessage)
class ChatMessageAdmin(ReadOnlyAdmin):
    list_display = ["stream", "author", "text", "created_at", "deleted_at"]
    search_fields = ["text", "author__username"]


@admin.register(Tip)
class TipAdmin(ReadOnlyAdmin):
    list_display = ["stream", "tipper", "amount", "message", "transaction_id", "created_at"]


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    list_display = ["stream", "viewer", "price", "transaction_id", "created_at", "refunded_at"]


@admin.register(ChannelModerator)
class ChannelModeratorAdmin(ReadOnlyAdmin):
    list_display = ["host", "user", "created_at"]
