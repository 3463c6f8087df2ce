from django.contrib import admin, messages

from payments import services
from payments.models import Clawback, Purchase, StripeEvent, TokenPackage


@admin.register(TokenPackage)
class TokenPackageAdmin(admin.ModelAdmin):
    list_display = ["name", "tokens", "bonus_tokens", "price_cents", "currency", "active", "sort_order"]
    list_editable = ["active", "sort_order"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Purchases, events and claw-backs change only through payments.services."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ClawbackInline(admin.TabularInline):
    model = Clawback
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "key", "tokens", "transaction_id", "restored", "restore_transaction_id", "created_at"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "package", "tokens", "amount_cents", "currency", "status", "created_at"]
    list_filter = ["status", "currency"]
    search_fields = ["id", "payment_intent_id", "charge_id", "user__username"]
    inlines = [ClawbackInline]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["stripe_id", "type", "status", "attempts", "received_at", "processed_at"]
    list_filter = ["status", "type"]
    search_fields = ["stripe_id"]
    actions = ["replay"]

    def has_change_permission(self, request, obj=None):
        # Viewing is allowed, editing is not: the form has no editable field.
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    @admin.action(description="Replay the selected events (idempotent)")
    def replay(self, request, queryset):
        for event in queryset:
            outcome = services.process_event(event_id=event.pk, force=True)
            self.message_user(request, f"{event.stripe_id}: {outcome}", messages.INFO if outcome != "failed" else messages.ERROR)


# dj-stripe's own models (~45 of them) crowd the admin index, and none of them
# serves a moderator: Digis keeps what it learns from Stripe in the payments
# tables above (purchases, events, claw-backs) and never syncs dj-stripe's.
def _unregister_djstripe_models() -> None:
    from django.apps import apps as django_apps

    if not django_apps.is_installed("djstripe"):
        return
    for model in django_apps.get_app_config("djstripe").get_models():
        if admin.site.is_registered(model):
            admin.site.unregister(model)


_unregister_djstripe_models()
