from django.contrib import admin

from moderation.models import Report


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ("created_at", "reason", "target_kind", "target_id", "target_user", "reporter", "status")
    list_filter = ("status", "reason", "target_kind")
    search_fields = ("target_id", "target_user__username", "reporter__username", "note")
    raw_id_fields = ("reporter", "target_user", "assigned_to")
    readonly_fields = [f.name for f in Report._meta.fields]

    def has_add_permission(self, request):
        return False
