"""Read-only admin of the pool's logs: cooldowns, usage, budgets, incidents, admin changes.

Append-only tables: no add, change or delete; `show_full_result_count = False` so that a
filtered page does not count millions of rows twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.db.models import Max, Min, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from keymanager.models import Budget, Cooldown, Incident, OrganizationChange, UsageLog


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def key_link(key, *, compact: bool = False) -> str:
    if key is None:
        return "–"
    url = reverse("admin:keymanager_key_change", args=[key.pk])
    if compact:  # name above its masked tail, for narrow list columns
        return format_html('<a href="{}">{}</a><br><code class="cq-nowrap cq-small">{}</code>', url, key.name, key.masked)
    return format_html('<a href="{}">{}</a> <code>{}</code>', url, key.name, key.masked)


class ActiveFilter(admin.SimpleListFilter):
    title = "active"
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return [("yes", "Active now"), ("no", "Ended")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(ends_at__gt=now)
        if self.value() == "no":
            return queryset.filter(ends_at__lte=now)
        return queryset


@admin.register(Cooldown)
class CooldownAdmin(ReadOnlyAdmin):
    list_display = ["target", "provider", "model_label", "reason", "started_at", "ends_at", "is_active"]
    list_filter = [ActiveFilter, "reason", "provider"]
    list_select_related = ["key"]
    search_fields = ["organization", "model", "key__name"]
    date_hierarchy = "started_at"

    @admin.display(description="key or organization")
    def target(self, obj: Cooldown):
        return key_link(obj.key) if obj.key_id else format_html("organization <strong>{}</strong>", obj.organization)

    @admin.display(description="model", ordering="model")
    def model_label(self, obj: Cooldown) -> str:
        return obj.model or "all models"

    @admin.display(description="active", boolean=True)
    def is_active(self, obj: Cooldown) -> bool:
        return obj.ends_at > timezone.now()


class CreatedFilter(admin.SimpleListFilter):
    """Recent windows: cheap on a big table (an index range), unlike distinct-value filters."""

    title = "created"
    parameter_name = "within"
    WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}

    def lookups(self, request, model_admin):
        return [("1h", "Last hour"), ("24h", "Last 24 hours"), ("7d", "Last 7 days")]

    def queryset(self, request, queryset):
        window = self.WINDOWS.get(self.value())
        return queryset.filter(created_at__gte=timezone.now() - window) if window else queryset


class CalendarDatesQuerySet(QuerySet):
    """`datetimes()` answered from the range's first and last row (two index lookups)
    instead of a DISTINCT over every row, which admin's date hierarchy would otherwise
    run across millions of usage-log rows. A day without rows shows as an empty page."""

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        first, last = (timezone.localtime(v) for v in (bounds["first"], bounds["last"]))
        result, current = [], first.replace(month=1 if kind == "year" else first.month, day=1, hour=0, minute=0, second=0, microsecond=0)
        if kind == "day":
            current = current.replace(day=first.day)
        while current <= last:
            result.append(current)
            if kind == "year":
                current = current.replace(year=current.year + 1)
            elif kind == "month":
                current = current.replace(year=current.year + current.month // 12, month=current.month % 12 + 1)
            else:
                current = current + timedelta(days=1)
        return result if order == "ASC" else result[::-1]


@admin.register(UsageLog)
class UsageLogAdmin(ReadOnlyAdmin):
    # Eight columns that fit beside the filters at 1280 px: related figures share a cell.
    list_display = [
        "created",
        "call",
        "key_column",
        "provider_and_model",
        "purpose_and_quest",
        "outcome_detail",
        "tokens",
        "latency",
    ]
    list_filter = [CreatedFilter, "outcome", "provider", "key"]
    list_select_related = ["key"]
    # The request id of the web request or task (X-Request-ID, `trace_id` in the logs): exact, indexed.
    search_fields = ["=trace_id"]
    search_help_text = "Request id (X-Request-ID / trace_id in the logs)"

    class Media:
        css = {"all": ["keymanager/dashboard.css"]}

    date_hierarchy = "created_at"
    # Newest first by id: the primary key index, no sort of a large table.
    ordering = ["-id"]
    fields = [
        "created_at",
        "finished_at",
        "request_id",
        "trace_id",
        "attempt",
        "attempts_of_call",
        "key_column",
        "provider",
        "organization",
        "model",
        "purpose",
        "quest",
        "outcome",
        "http_status",
        "error_code",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "budget_tokens",
        "latency_ms",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        query = super().get_queryset(request)
        return CalendarDatesQuerySet(model=query.model, query=query.query, using=query._db)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: UsageLog):
        return format_html('<span class="cq-nowrap">{}</span><br><span class="cq-muted cq-small cq-nowrap">{}</span>',
                           f"{obj.created_at:%Y-%m-%d}", f"{obj.created_at:%H:%M:%S} UTC")

    @admin.display(description="tokens", ordering="total_tokens")
    def tokens(self, obj: UsageLog):
        return "–" if obj.total_tokens is None else f"{obj.total_tokens:,}"

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj: UsageLog):
        return "–" if obj.latency_ms is None else f"{obj.latency_ms:,} ms"

    @admin.display(description="call · attempt", ordering="request_id")
    def call(self, obj: UsageLog):
        """The logical call: a link to every attempt of it."""
        url = reverse("admin:keymanager_usagelog_changelist") + f"?request_id={obj.request_id}"
        return format_html('<a href="{}" title="All attempts of this call">{}</a><br><span class="cq-muted cq-small">'
                           "attempt {}</span>", url, str(obj.request_id)[:8], obj.attempt)

    @admin.display(description="provider · model", ordering="model")
    def provider_and_model(self, obj: UsageLog):
        return format_html('{}<br><span class="cq-muted cq-small">{}</span>', obj.get_provider_display(), obj.model)

    @admin.display(description="purpose · quest", ordering="purpose")
    def purpose_and_quest(self, obj: UsageLog):
        quest = f"quest {obj.quest}" if obj.quest is not None else ""
        return format_html('{}<br><span class="cq-muted cq-small">{}</span>', obj.purpose or "–", quest)

    @admin.display(description="outcome", ordering="outcome")
    def outcome_detail(self, obj: UsageLog):
        detail = " ".join(str(part) for part in (obj.http_status, obj.error_code) if part)
        return format_html('{}<br><span class="cq-muted cq-small">{}</span>', obj.get_outcome_display(), detail)

    @admin.display(description="key", ordering="key__name")
    def key_column(self, obj: UsageLog):
        return key_link(obj.key, compact=True)

    @admin.display(description="attempts of this call")
    def attempts_of_call(self, obj: UsageLog):
        rows = UsageLog.objects.filter(request_id=obj.request_id).select_related("key").order_by("attempt", "id")
        return format_html(
            "<ol>{}</ol>",
            format_html_join(
                "",
                '<li><a href="{}">attempt {}</a>: {} · {} · {} ms</li>',
                (
                    (
                        reverse("admin:keymanager_usagelog_change", args=[row.pk]),
                        row.attempt,
                        row.key.name if row.key else "deleted key",
                        row.get_outcome_display(),
                        row.latency_ms if row.latency_ms is not None else "–",
                    )
                    for row in rows[:50]
                ),
            ),
        )


def _limit_cell(view) -> str:
    if view.value is None:
        return mark_safe('<span class="cq-muted">none</span>')  # a constant: nothing to escape
    when = ""
    if view.learned_at:
        when = datetime.fromtimestamp(view.learned_at, UTC).strftime("%Y-%m-%d %H:%M")
    return format_html(
        '{}<br><small class="cq-muted">{}{}</small>',
        f"{view.value:,}",
        view.source_label,
        f" · {when} UTC" if when else "",
    )


@admin.register(Budget)
class BudgetAdmin(ReadOnlyAdmin):
    """Per organization and model: each limit the pool works with, where it came from
    (shipped guess, probing, the provider's header or 429, an admin's ceiling) and when,
    and what the budget holds now. Read from the row's ledger; nothing here writes."""

    list_display = [
        "organization",
        "model",
        "provider",
        "rpm",
        "tpm",
        "rpd",
        "tpd",
        "used_now",
        "headroom",
        "reported",
    ]
    list_filter = ["provider", "model"]
    search_fields = ["organization", "model"]
    fields = ["organization", "model", "provider", "rpm", "tpm", "rpd", "tpd", "used_now", "headroom", "reported",
              "updated_at"]
    actions = ["reset_learned"]

    def has_reset_permission(self, request) -> bool:
        # Whoever may edit the ceilings may make the pool forget what it learned.
        return request.user.has_perm("keymanager.change_limit")

    @admin.action(description="Reset learned limits (the provider restates them)", permissions=["reset"])
    def reset_learned(self, request, queryset):
        from keymanager.services.ceilings import limits_reset

        count = sum(
            limits_reset(provider=b.provider, organization=b.organization, model=b.model)
            for b in queryset.only("provider", "organization", "model")
        )
        self.message_user(request, f"Learned limits reset on {count} budget(s): the shipped guesses and ceilings "
                                   "stand until the provider's next word.")

    def _usage(self, obj: Budget):
        usage = getattr(obj, "cq_usage", None)
        if usage is None:
            from keymanager.selectors import budget_usage

            usage = obj.cq_usage = budget_usage(obj)
        return usage

    @admin.display(description="RPM")
    def rpm(self, obj: Budget):
        return _limit_cell(self._usage(obj).limits["rpm"])

    @admin.display(description="TPM")
    def tpm(self, obj: Budget):
        return _limit_cell(self._usage(obj).limits["tpm"])

    @admin.display(description="RPD")
    def rpd(self, obj: Budget):
        return _limit_cell(self._usage(obj).limits["rpd"])

    @admin.display(description="TPD")
    def tpd(self, obj: Budget):
        return _limit_cell(self._usage(obj).limits["tpd"])

    @admin.display(description="used now (minute / day)")
    def used_now(self, obj: Budget) -> str:
        u = self._usage(obj)
        return (f"{u.requests_minute:,} req, {u.tokens_minute:,} tok / "
                f"{u.requests_day:,} req, {u.tokens_day:,} tok")

    @admin.display(description="headroom")
    def headroom(self, obj: Budget) -> str:
        return f"{self._usage(obj).headroom:.0%}"

    @admin.display(description="provider reported")
    def reported(self, obj: Budget) -> str:
        u = self._usage(obj)
        if u.reported_at is None:
            return "–"
        req = "?" if u.reported_remaining_requests is None else f"{u.reported_remaining_requests:,}"
        tok = "?" if u.reported_remaining_tokens is None else f"{u.reported_remaining_tokens:,}"
        period = "this minute" if u.provider == "openai" else "today"
        return f"{req} req {period} / {tok} tok this minute left, at {u.reported_at:%H:%M:%S} UTC"


@admin.register(OrganizationChange)
class OrganizationChangeAdmin(ReadOnlyAdmin):
    """Keys the pool found to belong to another organization (a 429 named it, or an
    operator stated it); each time, the key's budgets were merged into that organization's."""

    list_display = ["at", "key_label", "from_organization", "to_organization", "source", "detail"]
    list_filter = ["source", "provider"]
    list_select_related = ["key"]

    @admin.display(description="key")
    def key_label(self, obj: OrganizationChange) -> str:
        return key_link(obj.key)


class OpenFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open"), ("no", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ["summary", "kind", "subject", "opened_at", "resolved_at", "is_open", "notified_at"]
    list_filter = [OpenFilter, "kind"]
    date_hierarchy = "opened_at"
    readonly_fields = [
        "kind",
        "subject",
        "summary",
        "detail",
        "opened_at",
        "resolved_at",
        "resolution",
        "notified_at",
        "recovery_notified_at",
    ]
    fields = readonly_fields

    @admin.display(description="open", boolean=True)
    def is_open(self, obj: Incident) -> bool:
        return obj.is_open


class LogEntryAdmin(ReadOnlyAdmin):
    """Who changed what, when: every add, change, delete and action in admin."""

    list_display = ["action_time", "user", "content_type", "object_link", "action_flag", "change_message"]
    list_filter = ["action_flag", "content_type", "user"]
    list_select_related = ["user", "content_type"]
    search_fields = ["object_repr"]
    date_hierarchy = "action_time"

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or request.user.has_perm("admin.view_logentry")

    @admin.display(description="object", ordering="object_repr")
    def object_link(self, obj: LogEntry):
        if obj.is_deletion():
            return obj.object_repr
        url = obj.get_admin_url()
        return format_html('<a href="{}">{}</a>', url, obj.object_repr) if url else obj.object_repr

    @admin.display(description="change")
    def change_message(self, obj: LogEntry) -> str:
        return obj.get_change_message()


if not admin.site.is_registered(LogEntry):
    admin.site.register(LogEntry, LogEntryAdmin)
