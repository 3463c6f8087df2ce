from django.contrib import admin
from django.core.cache import cache

from creators.models import Category, CreatorProfile, Follow
from creators.selectors import CATEGORIES_CACHE_KEY, _categories_memo


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    """The curated list is the admin's to manage (it is not domain state anyone owns)."""

    list_display = ["slug", "name", "position"]
    list_editable = ["name", "position"]
    search_fields = ["slug", "name"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # Other processes see the change within 30 s (their memo's life).
        cache.delete(CATEGORIES_CACHE_KEY)
        _categories_memo.clear()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        cache.delete(CATEGORIES_CACHE_KEY)
        _categories_memo.clear()


@admin.register(CreatorProfile)
class CreatorProfileAdmin(admin.ModelAdmin):
    """Read-only: creators edit their own profiles through creators.services."""

    list_display = ["user", "display_name", "follower_count", "video_call_rate", "do_not_disturb", "created_at"]
    search_fields = ["user__username", "display_name"]
    list_select_related = ["user"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ["follower", "creator", "created_at"]
    list_select_related = ["follower", "creator__user"]
    raw_id_fields = ["follower", "creator"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
