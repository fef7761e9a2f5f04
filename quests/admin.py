from __future__ import annotations

from django.contrib import admin, messages

from quests.models import DailyMission, Player, Quest, QuestRun, QuestTier
from quests.services.prefetch import buffer_levels, buffer_refill


class QuestTierInline(admin.TabularInline):
    """Each difficulty tier's own LLM configuration: model, temperature, max tokens, guidance."""

    model = QuestTier
    extra = 0
    max_num = 3
    fields = ["tier", "model", "temperature", "max_tokens", "guidance"]


@admin.register(Quest)
class QuestAdmin(admin.ModelAdmin):
    list_display = ["number", "title", "destination", "tier_models", "enabled", "buffered"]
    list_editable = ["enabled"]
    list_display_links = ["number", "title"]
    readonly_fields = ["refill_requested_at"]
    actions = ["refill_now"]
    inlines = [QuestTierInline]
    fieldsets = [
        (None, {"fields": ["number", "slug", "title", "destination", "theme", "enabled"]}),
        ("Generation (per tier below)", {"fields": ["system_prompt", "topics"]}),
        ("Buffer", {"fields": ["refill_requested_at"]}),
    ]

    def get_queryset(self, request):
        self._levels = buffer_levels()
        return super().get_queryset(request).prefetch_related("tiers")

    @admin.display(description="models (cadet / officer / commander)")
    def tier_models(self, obj: Quest) -> str:
        by_tier = {t.tier: t.model or "pool default" for t in obj.tiers.all()}
        return " / ".join(by_tier.get(tier, "pool default") for tier in ("cadet", "officer", "commander"))

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


@admin.register(DailyMission)
class DailyMissionAdmin(admin.ModelAdmin):
    list_display = ["day", "quest", "title", "source", "model"]
    list_select_related = ["quest"]
    readonly_fields = [f.name for f in DailyMission._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(QuestRun)
class QuestRunAdmin(admin.ModelAdmin):
    list_display = ["id", "quest", "tier", "source", "status", "player", "correct_count", "xp_awarded", "xp_note", "created_at"]
    list_filter = ["source", "status", "tier", "quest"]
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
    exclude = ["callsign_key"]
    search_fields = ["callsign", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["xp", "runs_completed", "perfect_runs", "correct_answers", "streak_days", "best_streak", "last_played_on", "created_at"]
    show_full_result_count = False
