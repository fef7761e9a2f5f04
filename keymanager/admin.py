"""Django admin for the key pool: keys with their live state, limits, and read-only logs.

Writes go through the key services (validation, encryption, cooldown rules); changes are
recorded in Django's LogEntry (who and when), shown on each key's History page and in
the "Admin log". The API dashboard lives at /admin/api-dashboard/ (keymanager.dashboard).
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, DateTimeField, F, OuterRef, Q, Subquery, Value, When
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters

from keymanager import admin_logs  # noqa: F401  (registers the log admins)
from keymanager.admin_forms import KeyAddForm, KeyChangeForm
from keymanager.conf import default_model
from keymanager.models import Cooldown, Key, Limit, Provider
from keymanager.selectors import KeyState, key_states
from keymanager.selectors.usage import Stats, usage_stats
from keymanager.services import key_records
from keymanager.services import keys as key_services

admin.site.site_header = "CosmosQuest administration"
admin.site.site_title = "CosmosQuest admin"
admin.site.index_title = "Key pool and game"
# The navigation sidebar repeats the index and takes 300 px of every page: without it the key and
# usage-log lists show all their columns beside their filters at 1280 px.
admin.site.enable_nav_sidebar = False

sensitive = method_decorator(sensitive_post_parameters("secret"))


def _active_cooldown_end():
    """Latest end of the cooldowns that hold a key for its provider's default model, its
    own or its organization's (None: none): the one rule (CooldownQuerySet.holding)."""
    ends = [
        Subquery(
            Cooldown.objects.holding(default_model(provider))
            .filter(Q(key=OuterRef("pk")) | Q(key__isnull=True, provider=provider, organization=OuterRef("organization")))
            .order_by("-ends_at")
            .values("ends_at")[:1]
        )
        for provider in Provider.values
    ]
    return Case(
        *(When(provider=provider, then=end) for provider, end in zip(Provider.values, ends, strict=True)),
        default=Value(None),
        output_field=DateTimeField(),
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("available", "Available"), ("cooling", "Cooling down"), ("disabled", "Disabled")]

    def queryset(self, request, queryset):
        if self.value() == "available":
            return queryset.filter(enabled=True, cooldown_until__isnull=True)
        if self.value() == "cooling":
            return queryset.filter(enabled=True, cooldown_until__isnull=False)
        if self.value() == "disabled":
            return queryset.filter(enabled=False)
        return queryset


@admin.register(Key)
class KeyAdmin(admin.ModelAdmin):
    # Few enough columns to fit beside the filters at 1280 px: related figures share a cell.
    list_display = [
        "name_and_key",
        "provider_and_organization",
        "state_badge",
        "usage_24h",
        "last_used",
        "order",
    ]
    list_display_links = ["name_and_key"]
    list_editable = ["order"]
    list_filter = ["provider", StateFilter, ("organization", admin.AllValuesFieldListFilter)]
    search_fields = ["name"]  # by name only: never by anything derived from the secret
    ordering = ["provider", "order", "id"]
    actions = ["enable_keys", "disable_keys", "clear_cooldowns", "test_keys", "renumber_keys"]
    form = KeyChangeForm
    add_form = KeyAddForm
    change_form_template = "admin/keymanager/key/change_form.html"
    _state_fields = ["state_detail", "enabled", "disabled_reason", "disabled_at"]
    _health_fields = [
        "last_used_at",
        "last_success_at",
        "consecutive_errors",
        "cooldown_streak",
        "last_error",
        "last_error_at",
    ]
    _record_fields = ["created_at", "updated_at"]
    # State, health and record are the pool's to change (through its services), never a form's.
    readonly_fields = ["provider", "masked_key", *_state_fields, *_health_fields, *_record_fields]
    fieldsets = [
        (None, {"fields": ["name", "provider", "masked_key", "organization", "order"]}),
        ("State", {"fields": _state_fields}),
        ("Health", {"fields": _health_fields}),
        ("Record", {"fields": _record_fields, "classes": ["collapse"]}),
    ]
    add_fieldsets = [(None, {"fields": ["provider", "name", "secret", "organization", "order"]})]

    class Media:
        css = {"all": ["keymanager/dashboard.css"]}
        js = ["keymanager/countdown.js"]

    # --- queryset, list data -------------------------------------------------------------

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(cooldown_until=_active_cooldown_end())

    def get_changelist_instance(self, request):
        """Attach each listed key's state and 24 h usage: two queries for the whole page,
        from the same rollups the dashboard reads."""
        changelist = super().get_changelist_instance(request)
        keys = list(changelist.result_list)
        now = timezone.now()
        day = usage_stats(since=now - timedelta(hours=24), until=now, by=("key",)) if keys else {}
        for state in key_states(keys, now=now):
            state.key.cq_state = state
            state.key.cq_day = day.get((state.key.pk,), Stats())
        return changelist

    @staticmethod
    def _state(obj: Key) -> KeyState:
        state = getattr(obj, "cq_state", None)
        if state is None:
            state = obj.cq_state = key_states([obj])[0]
        return state

    @staticmethod
    def _day(obj: Key) -> Stats:
        day = getattr(obj, "cq_day", None)
        if day is None:
            now = timezone.now()
            day = obj.cq_day = usage_stats(since=now - timedelta(hours=24), until=now, by=("key",)).get((obj.pk,), Stats())
        return day

    @admin.display(description="name", ordering="name")
    def name_and_key(self, obj: Key) -> str:
        return format_html('{}<br><code class="cq-nowrap cq-small">{}</code>', obj.name, obj.masked or "–")

    @admin.display(description="provider · org", ordering="provider")
    def provider_and_organization(self, obj: Key) -> str:
        return format_html('{}<br><span class="cq-muted cq-small">{}</span>', obj.get_provider_display(),
                           obj.organization or "(unknown)")

    @admin.display(description="last 24 h")
    def usage_24h(self, obj: Key) -> str:
        day = self._day(obj)
        if not day.attempts:
            return format_html('<span class="cq-muted">{}</span>', "no calls")
        rate = "–" if day.success_rate is None else f"{day.success_rate:.1%} ok"
        return format_html(
            '<span class="cq-nowrap">{} · {}</span><br>'
            '<span class="cq-muted cq-small">{} × 429 · {} · {} tokens</span>',
            _count(day.attempts, "call"), rate, f"{day.rate_limited:,}", _count(day.errors, "error"),
            f"{day.total_tokens:,}",
        )

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj: Key) -> str:
        if obj.last_used_at is None:
            return "–"
        return format_html('<span class="cq-nowrap">{}</span><br><span class="cq-muted cq-small">{}</span>',
                           f"{obj.last_used_at:%Y-%m-%d}", f"{obj.last_used_at:%H:%M:%S} UTC")

    @admin.display(description="key")
    def masked_key(self, obj: Key) -> str:
        return format_html('<code class="cq-nowrap">{}</code>', obj.masked) if obj.masked else "–"

    @admin.display(description="state", ordering=F("cooldown_until").desc(nulls_first=True))
    def state_badge(self, obj: Key):
        return render_to_string("keymanager/state_badge.html", {"state": self._state(obj), "compact": True})

    @admin.display(description="state")
    def state_detail(self, obj: Key):
        return render_to_string("keymanager/state_badge.html", {"state": self._state(obj)})


    # --- add and change: through the key service -----------------------------------------

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    @sensitive
    def add_view(self, request, form_url="", extra_context=None):
        return super().add_view(request, form_url, extra_context)

    @sensitive
    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "key_operations": [
                ("test", "Test key"),
                ("clear-cooldowns", "Clear cooldowns"),
                ("enable", "Enable"),
                ("disable", "Disable"),
            ],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj: Key, form, change: bool) -> None:
        # The change form and the list's editable "order" column alike.
        if change:
            key_records.key_update(key_id=obj.pk, name=obj.name, organization=obj.organization, order=obj.order)
            return
        data = form.cleaned_data
        key = key_services.key_add(
            provider=data["provider"],
            name=data.get("name") or "",
            secret=data["secret"],
            organization=data.get("organization") or "",
            order=data.get("order"),
        )
        # The service built and saved the row; admin goes on with that row (for its log entry).
        obj.pk = key.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj: Key) -> None:
        key_records.key_delete(key_id=obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for key_id in queryset.values_list("pk", flat=True):
            key_records.key_delete(key_id=key_id)

    # --- actions -------------------------------------------------------------------------

    def _each(self, request, queryset, verb: str, apply) -> None:
        done = 0
        for key in queryset:
            try:
                message = apply(key)
            except (Key.DoesNotExist, ValidationError) as exc:
                self.message_user(request, f"{key}: {exc}", messages.ERROR)
                continue
            self.log_change(request, key, message)
            done += 1
        if done:
            self.message_user(request, f"{verb} {done} key(s).", messages.SUCCESS)

    @admin.action(description="Enable selected keys", permissions=["change"])
    def enable_keys(self, request, queryset):
        self._each(request, queryset, "Enabled", lambda k: (key_services.key_enable(key_id=k.pk), "Enabled.")[1])

    @admin.action(description="Disable selected keys", permissions=["change"])
    def disable_keys(self, request, queryset):
        reason = f"Disabled by {request.user.get_username()} in admin"
        self._each(
            request, queryset, "Disabled", lambda k: (key_services.key_disable(key_id=k.pk, reason=reason), "Disabled.")[1]
        )

    @admin.action(description="Clear cooldowns of selected keys (and their organizations)", permissions=["change"])
    def clear_cooldowns(self, request, queryset):
        def clear(key):
            ended = key_services.key_clear_cooldowns(key_id=key.pk)
            return f"Cleared {ended} active cooldown(s)."

        self._each(request, queryset, "Cleared the cooldowns of", clear)

    @admin.action(description="Test selected keys (one minimal real call each)", permissions=["change"])
    def test_keys(self, request, queryset):
        for key in queryset[:20]:
            result = key_services.key_test(key_id=key.pk)
            self.message_user(request, result.message, messages.SUCCESS if result.ok else messages.ERROR)
            self.log_change(request, key, f"Tested: {'OK' if result.ok else 'failed'}.")
        if queryset.count() > 20:
            self.message_user(request, "Tested the first 20 keys only; select fewer to test the rest.", messages.WARNING)

    @admin.action(description="Renumber order 1, 2, 3… per provider (keeps the current sequence)", permissions=["change"])
    def renumber_keys(self, request, queryset):
        changed = 0
        for provider in queryset.order_by().values_list("provider", flat=True).distinct():
            for step in key_records.keys_renumber(provider=provider):
                self.log_change(request, step.key, f"Order {step.old} → {step.new}.")
                changed += 1
        self.message_user(request, f"Renumbered {changed} key(s).", messages.SUCCESS)

    # --- buttons on the change page: the same services, one key -----------------------------

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_operation"
        return [
            path("<int:key_id>/do/<str:operation>/", self.admin_site.admin_view(self.key_operation), name=name),
            *super().get_urls(),
        ]

    OPERATIONS = {"enable": enable_keys, "disable": disable_keys, "clear-cooldowns": clear_cooldowns, "test": test_keys}

    def key_operation(self, request: HttpRequest, key_id: int, operation: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        key = get_object_or_404(Key, pk=key_id)
        action = self.OPERATIONS.get(operation)
        if action is None:
            raise Http404(f"No operation {operation!r}.")
        if not self.has_change_permission(request, key):
            raise PermissionDenied
        action(self, request, Key.objects.filter(pk=key.pk))
        return HttpResponseRedirect(reverse("admin:keymanager_key_change", args=[key.pk]))


@admin.register(Limit)
class LimitAdmin(admin.ModelAdmin):
    """Admins' ceilings. The limits the pool works with (learned from the provider, or the
    shipped first guesses) are on the Budgets page; a ceiling caps them. Saving a row
    applies it to the budgets at once (signal in apps.py)."""

    list_display = ["model", "organization_label", "provider", "rpm", "rpd", "tpm", "tpd"]
    list_editable = ["rpm", "rpd", "tpm", "tpd"]
    list_filter = ["provider", "model"]
    search_fields = ["organization", "model"]

    @admin.display(description="organization", ordering="organization")
    def organization_label(self, obj: Limit) -> str:
        return obj.organization or "(default for every organization)"
