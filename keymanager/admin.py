from django.contrib import admin

from keymanager.models import Budget, Cooldown, Key, Limit, UsageLog


@admin.register(Key)
class KeyAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "organization", "masked", "enabled", "last_used_at"]
    list_filter = ["provider", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["masked", "created_at", "updated_at", "last_used_at"]

    def has_add_permission(self, request):
        # Keys are added through the service (validation, encryption): `manage.py keys add`.
        return False


@admin.register(Limit)
class LimitAdmin(admin.ModelAdmin):
    list_display = ["provider", "organization", "model", "rpm", "rpd", "tpm", "tpd"]
    list_filter = ["provider", "model"]


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Cooldown)
class CooldownAdmin(ReadOnlyAdmin):
    list_display = ["key", "organization", "model", "reason", "started_at", "ends_at"]
    list_filter = ["reason", "provider"]


@admin.register(UsageLog)
class UsageLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "key", "model", "purpose", "outcome", "http_status", "total_tokens", "latency_ms"]
    list_filter = ["outcome", "provider"]
    date_hierarchy = "created_at"


@admin.register(Budget)
class BudgetAdmin(ReadOnlyAdmin):
    list_display = ["provider", "organization", "model", "remaining_requests", "remaining_tokens", "observed_at"]
