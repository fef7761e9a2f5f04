"""Reads of the key pool's state for commands, admin, the dashboard and /api/status.

Nothing here returns or logs a secret: keys are identified by id, name and masked tail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from keymanager import clock
from keymanager.conf import default_model as pool_default_model
from keymanager.ledger import NO_PEERS, Ledger, apply_inbox, headroom
from keymanager.models import Budget, Cooldown, CooldownReason, Key, OrganizationChange, Provider
from keymanager.selectors.limit_views import LimitView, guesses, limit_views
from keymanager.selectors.usage import Stats, totals, usage_stats

STATES = ("available", "cooling", "disabled")


def ledger_of(budget: Budget) -> Ledger:
    """A budget's ledger as of now, inbox folded in, without writing (for readers)."""
    ledger = Ledger.loads(budget.state)
    apply_inbox(ledger, budget.inbox)
    ledger.prune(clock.now())
    return ledger


def default_model(provider: str) -> str:
    return pool_default_model(provider)


def holding_cooldowns(keys: list[Key], *, model: str | None = None, now: datetime | None = None) -> dict:
    """The one rule, for any number of keys: per key id, the active cooldown that keeps it
    from serving `model` longest, its own or its organization's (None: free). A cooldown for
    another model does not hold the key. `model` defaults to each provider's default model."""
    now = now or timezone.now()
    if not keys:
        return {}
    models = {model} if model else {default_model(k.provider) for k in keys}
    rows = list(
        Cooldown.objects.active(now)
        .filter(model__in=("", *models))
        .filter(Q(key__in=keys) | Q(key__isnull=True, organization__in={k.organization for k in keys}))
    )
    result = {}
    for key in keys:
        wanted = model or default_model(key.provider)
        mine = [
            c
            for c in rows
            if c.model in ("", wanted)
            and (c.key_id == key.pk or (c.key_id is None and c.provider == key.provider and c.organization == key.organization))
        ]
        result[key.pk] = max(mine, key=lambda c: c.ends_at) if mine else None
    return result


@dataclass(frozen=True)
class KeyState:
    key: Key
    state: str  # available | cooling | disabled
    cooldown_until: datetime | None
    cooldown_model: str
    cooldown_reason: str
    model: str = ""  # the model this state is about

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


def key_states(keys=None, now: datetime | None = None, *, model: str | None = None) -> list[KeyState]:
    """Each key's state for `model` (default: its provider's default model). A key is
    'cooling' while it, or its organization, has an active cooldown for every model or for
    that one (`holding_cooldowns`); a cooldown on another model leaves it available."""
    now = now or timezone.now()
    keys = list(keys if keys is not None else Key.objects.all())
    holding = holding_cooldowns(keys, model=model, now=now)
    states = []
    for key in keys:
        about = model or default_model(key.provider)
        top = holding.get(key.pk)
        if not key.enabled:
            states.append(KeyState(key, "disabled", None, "", "", about))
        elif top is not None:
            states.append(KeyState(key, "cooling", top.ends_at, top.model, top.reason, about))
        else:
            states.append(KeyState(key, "available", None, "", "", about))
    return states


@dataclass(frozen=True)
class OrgUsage:
    """An organization's use of one model against the limits the pool works with (from
    its budget's ledger: constant cost, whatever the usage log holds)."""

    provider: str
    organization: str
    model: str
    limits: dict[str, LimitView]
    requests_minute: int
    tokens_minute: int
    requests_day: int
    tokens_day: int
    headroom: float  # 0..1, the tightest of the four limits' remaining share
    reported_remaining_requests: int | None = None
    reported_remaining_tokens: int | None = None
    reported_at: datetime | None = None

    def bars(self) -> list[tuple[str, int, int | None]]:
        return [
            ("RPM", self.requests_minute, self.limits["rpm"].value),
            ("TPM", self.tokens_minute, self.limits["tpm"].value),
            ("RPD", self.requests_day, self.limits["rpd"].value),
            ("TPD", self.tokens_day, self.limits["tpd"].value),
        ]


def _org_usage(budget: Budget, ledger: Ledger, now: float) -> OrgUsage:
    limits = ledger.limits(guesses(budget.provider, budget.model), NO_PEERS, now)
    used = ledger.used(now, limits)
    requests_report = ledger.reported.get("rpd") or ledger.reported.get("rpm")
    tokens_report = ledger.reported.get("tpm")
    reported_at = max((r[1] for r in (requests_report, tokens_report) if r), default=None)
    return OrgUsage(
        provider=budget.provider,
        organization=budget.organization,
        model=budget.model,
        limits={v.kind: v for v in limit_views(ledger, budget.provider, budget.model, now)},
        requests_minute=used["rpm"],
        tokens_minute=used["tpm"],
        requests_day=used["rpd"],
        tokens_day=used["tpd"],
        headroom=round(headroom(ledger, limits, now), 4),
        reported_remaining_requests=int(requests_report[0]) if requests_report else None,
        reported_remaining_tokens=int(tokens_report[0]) if tokens_report else None,
        reported_at=datetime.fromtimestamp(reported_at, UTC) if reported_at else None,
    )


def organization_usage(*, now: datetime | None = None, day: dict | None = None) -> list[OrgUsage]:
    """Usage per (provider, organization, model) for every budget of an organization that
    has keys, read from the budgets' ledgers. (`day` is accepted for callers that already
    aggregated the log; the ledgers make it unnecessary.)"""
    moment = (now or timezone.now()).timestamp()
    orgs = set(Key.objects.values_list("provider", "organization").distinct())
    budgets = [b for b in Budget.objects.order_by("provider", "model", "organization") if (b.provider, b.organization) in orgs]
    return [_org_usage(b, ledger_of(b), moment) for b in budgets]


def budget_usage(budget: Budget, *, now: datetime | None = None) -> OrgUsage:
    """One budget's limits (value, source, when) and what it holds now."""
    return _org_usage(budget, ledger_of(budget), (now or timezone.now()).timestamp())


def organization_changes(limit: int = 20) -> list[OrganizationChange]:
    return list(OrganizationChange.objects.select_related("key")[:limit])


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
    keys = list(Key.objects.all())
    counts = state_counts(key_states(keys, now=now))
    payload = {
        "status": overall_status(counts),
        "keys": counts,
        "models": models_status(keys, now=now),
        "success_rate_1h": success_rate(now - timedelta(hours=1), now),
        "generated_at": now.isoformat(),
    }
    if detail:
        payload["key_detail"] = [_key_detail(o, now) for o in key_overviews(now=now)]
    return payload


def models_status(keys: list[Key], *, now: datetime) -> dict[str, dict]:
    """Per model the pool has served (and each provider's default): key counts by state for
    that model, so a cooldown on one model never reads as the pool being down for another."""
    by_provider: dict[str, set[str]] = {}
    for provider, model in Budget.objects.values_list("provider", "model").distinct():
        by_provider.setdefault(provider, set()).add(model)
    for key in keys:
        by_provider.setdefault(key.provider, set()).add(default_model(key.provider))
    result = {}
    for provider in sorted(by_provider):
        mine = [k for k in keys if k.provider == provider]
        for model in sorted(by_provider[provider]):
            counts = dict.fromkeys(STATES, 0)
            for state in key_states(mine, now=now, model=model):
                counts[state.state] += 1
            result[model] = {"provider": provider, "keys": counts}
    return result


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
            "requests_minute": _left(usage.limits["rpm"].value, usage.requests_minute) if usage else None,
            "tokens_minute": _left(usage.limits["tpm"].value, usage.tokens_minute) if usage else None,
            "requests_day": _left(usage.limits["rpd"].value, usage.requests_day) if usage else None,
            "tokens_day": _left(usage.limits["tpd"].value, usage.tokens_day) if usage else None,
            "reported_remaining_requests": usage.reported_remaining_requests if usage else None,
            "reported_remaining_tokens": usage.reported_remaining_tokens if usage else None,
            "reported_at": usage.reported_at.isoformat() if usage and usage.reported_at else None,
        },
    }


def _left(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(0, limit - used)
