"""Reads of the key pool's state for commands, admin, the dashboard and /api/status.

Nothing here returns or logs a secret: keys are identified by id, name and masked tail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from keymanager.models import Cooldown, CooldownReason, Key, Provider
from keymanager.services.budgets import DAY, Limits, WindowUsage, judge, limits_for, window_usage
from keymanager.services.config import pool_settings
from keymanager.services.reports import Stats, totals, usage_stats

STATES = ("available", "cooling", "disabled")


@dataclass(frozen=True)
class KeyState:
    key: Key
    state: str  # available | cooling | disabled
    cooldown_until: datetime | None
    cooldown_model: str
    cooldown_reason: str

    @property
    def reason_label(self) -> str:
        try:
            return str(CooldownReason(self.cooldown_reason).label)
        except ValueError:
            return self.cooldown_reason

    @property
    def label(self) -> str:
        if self.state == "disabled":
            return f"disabled: {self.key.disabled_reason or 'no reason given'}"
        if self.state == "cooling":
            scope = self.cooldown_model or "all models"
            return f"cooling down ({self.cooldown_reason}) for {scope} until {self.cooldown_until:%Y-%m-%d %H:%M:%S} UTC"
        return "available"


def key_states(keys=None, now: datetime | None = None) -> list[KeyState]:
    """Each key's state. A key is 'cooling' while it, or its organization, has an active
    cooldown (for all models or for one, which the state names); the latest end wins."""
    now = now or timezone.now()
    keys = list(keys if keys is not None else Key.objects.all())
    active = list(
        Cooldown.objects.active(now)
        .filter(Q(key__in=keys) | Q(key__isnull=True, organization__in={k.organization for k in keys}))
        .order_by("-ends_at")
    )
    states = []
    for key in keys:
        if not key.enabled:
            states.append(KeyState(key, "disabled", None, "", ""))
            continue
        mine = [
            c
            for c in active
            if c.key_id == key.pk
            or (c.key_id is None and c.organization == key.organization and c.provider == key.provider)
        ]
        if mine:
            top = mine[0]
            states.append(KeyState(key, "cooling", top.ends_at, top.model, top.reason))
        else:
            states.append(KeyState(key, "available", None, "", ""))
    return states


@dataclass(frozen=True)
class OrgUsage:
    """An organization's use of one model against its limits (minute and sliding day)."""

    provider: str
    organization: str
    model: str
    limits: Limits
    requests_minute: int
    tokens_minute: int
    requests_day: int
    tokens_day: int
    headroom: float  # 0..1, the tightest of the four limits' remaining share

    def bars(self) -> list[tuple[str, int, int | None]]:
        return [
            ("RPM", self.requests_minute, self.limits.rpm),
            ("TPM", self.tokens_minute, self.limits.tpm),
            ("RPD", self.requests_day, self.limits.rpd),
            ("TPD", self.tokens_day, self.limits.tpd),
        ]


def default_model(provider: str) -> str:
    conf = pool_settings()
    return conf.default_model if provider == Provider.GROQ else conf.openai_model


def organization_usage(*, now: datetime | None = None, day: dict[tuple, Stats] | None = None) -> list[OrgUsage]:
    """Usage per (provider, organization, model) for each provider's default model and any
    model used in the last day. `day` may pass in usage_stats(by provider, organization,
    model) over the last day when the caller already has it."""
    now = now or timezone.now()
    if day is None:
        day = usage_stats(since=now - DAY, until=now, by=("provider", "organization", "model"))
    orgs: dict[str, set[str]] = {}
    for provider, organization in Key.objects.values_list("provider", "organization").distinct():
        orgs.setdefault(provider, set()).add(organization)
    models: dict[str, set[str]] = {p: {default_model(p)} for p in orgs}
    for provider, organization, model in day:
        if provider in orgs and organization in orgs[provider]:
            models[provider].add(model)
    result = []
    for provider in sorted(orgs):
        names = sorted(orgs[provider])
        for model in sorted(models[provider]):
            limits = limits_for(provider, names, model)
            minute = window_usage(provider, names, model, now, daily=False)
            for org in names:
                stats = day.get((provider, org, model))
                if stats is None and model != default_model(provider):
                    continue
                usage = WindowUsage(
                    requests_minute=minute[org].requests_minute,
                    tokens_minute=minute[org].tokens_minute,
                    requests_day=stats.budget_requests if stats else 0,
                    tokens_day=stats.budget_tokens if stats else 0,
                )
                verdict = judge(limits[org], usage, None, 0, now)
                result.append(
                    OrgUsage(
                        provider=provider,
                        organization=org,
                        model=model,
                        limits=limits[org],
                        requests_minute=usage.requests_minute,
                        tokens_minute=usage.tokens_minute,
                        requests_day=usage.requests_day,
                        tokens_day=usage.tokens_day,
                        headroom=round(verdict.headroom, 4),
                    )
                )
    return result


@dataclass(frozen=True)
class KeyOverview:
    """Everything the dashboard card, the key list and /api/status show for one key."""

    state: KeyState
    day: Stats
    usage: OrgUsage | None  # the organization's use of the provider's default model

    @property
    def key(self) -> Key:
        return self.state.key


def key_overviews(*, now: datetime | None = None, day_by_key: dict | None = None, orgs: list[OrgUsage] | None = None):
    now = now or timezone.now()
    if day_by_key is None:
        day_by_key = usage_stats(since=now - timedelta(hours=24), until=now, by=("key",))
    if orgs is None:
        orgs = organization_usage(now=now)
    by_org = {(o.provider, o.organization): o for o in orgs if o.model == default_model(o.provider)}
    return [
        KeyOverview(
            state=state,
            day=day_by_key.get((state.key.pk,), Stats()),
            usage=by_org.get((state.key.provider, state.key.organization)),
        )
        for state in key_states(Key.objects.all(), now=now)
    ]


def overall_status(counts: dict[str, dict[str, int]]) -> str:
    """ok: every enabled Groq key can serve; degraded: some Groq key can, or only OpenAI can;
    down: no key can. Keys an admin disabled do not degrade the pool by themselves."""
    groq, openai = counts[Provider.GROQ], counts[Provider.OPENAI]
    if groq["available"]:
        return "degraded" if groq["cooling"] else "ok"
    if openai["available"]:
        return "degraded"
    return "down"


def state_counts(states: list[KeyState]) -> dict[str, dict[str, int]]:
    counts = {p: dict.fromkeys(STATES, 0) for p in Provider.values}
    for state in states:
        counts[state.key.provider][state.state] += 1
    return counts


def success_rate(since: datetime, until: datetime | None = None) -> float | None:
    """Share of logical calls served since `since` (finished calls only)."""
    return totals(since=since, until=until or timezone.now()).call_success_rate


def pool_status(*, detail: bool = False) -> dict:
    """/api/status. Public part: counts only, nothing that identifies a key. `detail` adds
    one entry per key (for staff and token holders), still without any secret."""
    now = timezone.now()
    states = key_states(now=now)
    counts = state_counts(states)
    payload = {
        "status": overall_status(counts),
        "keys": counts,
        "success_rate_1h": success_rate(now - timedelta(hours=1), now),
        "generated_at": now.isoformat(),
    }
    if detail:
        payload["key_detail"] = [_key_detail(o, now) for o in key_overviews(now=now)]
    return payload


def _key_detail(overview: KeyOverview, now: datetime) -> dict:
    key, state, day, usage = overview.key, overview.state, overview.day, overview.usage
    return {
        "id": key.pk,
        "name": key.name,
        "key": key.masked,
        "provider": key.provider,
        "organization": key.organization,
        "state": state.state,
        "cooldown_until": state.cooldown_until.isoformat() if state.cooldown_until else None,
        "cooldown_model": state.cooldown_model or None,
        "cooldown_reason": state.cooldown_reason or None,
        "disabled_reason": key.disabled_reason or None if state.state == "disabled" else None,
        "success_rate_24h": day.success_rate,
        "calls_24h": day.attempts,
        "errors_24h": day.errors,
        "rate_limited_24h": day.rate_limited,
        "tokens_24h": day.total_tokens,
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "headroom": {
            "model": usage.model if usage else default_model(key.provider),
            "share": usage.headroom if usage else None,
            "requests_minute": _left(usage.limits.rpm, usage.requests_minute) if usage else None,
            "tokens_minute": _left(usage.limits.tpm, usage.tokens_minute) if usage else None,
            "requests_day": _left(usage.limits.rpd, usage.requests_day) if usage else None,
            "tokens_day": _left(usage.limits.tpd, usage.tokens_day) if usage else None,
            "reported_remaining_requests": key.remaining_requests,
            "reported_remaining_tokens": key.remaining_tokens,
            "reported_at": key.remaining_seen_at.isoformat() if key.remaining_seen_at else None,
        },
    }


def _left(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(0, limit - used)
