from __future__ import annotations

from django.contrib import admin, messages

from quests.models import Player, Quest, QuestRun
from quests.services.prefetch import buffer_levels, buffer_refill


@admin.register(Quest)
class QuestAdmin(admin.ModelAdmin):
    list_display = ["number", "title", "destination", "model_display", "temperature", "max_tokens", "enabled", "buffered"]
    list_editable = ["temperature", "max_tokens", "enabled"]
    list_display_links = ["number", "title"]
    readonly_fields = ["refill_requested_at"]
    actions = ["refill_now"]
    fieldsets = [
        (None, {"fields": ["number", "slug", "title", "destination", "theme", "enabled"]}),
        ("Generation", {"fields": ["model", "temperature", "max_tokens", "system_prompt", "topics"]}),
        ("Buffer", {"fields": ["refill_requested_at"]}),
    ]

    def get_queryset(self, request):
        self._levels = buffer_levels()
        return super().get_queryset(request)

    @admin.display(description="model")
    def model_display(self, obj: Quest) -> str:
        return obj.model or "(pool default)"

    @admin.display(description="buffered runs")
    def buffered(self, obj: Quest) -> int:
        return getattr(self, "_levels", {}).get(obj.number, 0)

    @admin.action(description="Refill the buffer of the selected quests now")
    def refill_now(self, request, queryset):
        report = buffer_refill(quest_ids=list(queryset.values_list("pk", flat=True)))
        text = f"Generated {report.total} run(s)."
        if report.stopped:
            text += f" Stopped early: {report.stopped}."
        self.message_user(request, text, messages.SUCCESS if report.total else messages.WARNING)


@admin.register(QuestRun)
class QuestRunAdmin(admin.ModelAdmin):
    list_display = ["id", "quest", "source", "status", "player", "correct_count", "xp_awarded", "created_at"]
    list_filter = ["source", "status", "fallback_reason", "quest"]
    list_select_related = ["quest", "player"]
    search_fields = ["title", "archive_ref", "player__callsign"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in QuestRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Player)
class PlayerAdmin(admin.ModelAdmin):
    list_display = ["callsign", "user", "xp", "runs_completed", "perfect_runs", "streak_days", "last_played_on"]
    search_fields = ["callsign", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["xp", "runs_completed", "perfect_runs", "correct_answers", "streak_days", "best_streak", "last_played_on", "created_at"]
    show_full_result_count = False
