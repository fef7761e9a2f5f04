"""The pool's figures for /metrics, read from the database at scrape time.

Every host and every worker reads the same rows, so each scrape of any host reports the same
truth (dashboards take `max` across instances, never `sum`). Totals only grow: they come from
the usage rollups (never pruned) plus the raw log after the rollup cursor, and from
PoolEventCount. Cost: one query per table, whatever the usage log holds, as long as the rollup
task runs (it is scheduled every 5 minutes).

What depends on the ledger's layout is `_reservations` and `budget_figures`, in this module only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db.models import Count, Max
from django.utils import timezone

from keymanager import clock
from keymanager.ledger import NO_PEERS, Ledger, headroom
from keymanager.models import Budget, Cooldown, Key, PoolEventCount
from keymanager.selectors import key_states, ledger_of, overall_status, state_counts
from keymanager.selectors.limit_views import LimitView, guesses, limit_views
from keymanager.selectors.usage import Stats, usage_stats

# Totals count from here: before any row this project ever wrote.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BudgetFigures:
    """One (provider, organization, model) budget now."""

    provider: str
    organization: str
    model: str
    limits: list[LimitView]
    used: dict[str, int]  # the minute's limits over the trailing minute; the day's as their buckets hold now
    headroom: float  # 0..1, the tightest limit's free share
    reservations: int  # calls admitted in slots still ahead (waiting for their time)
    reserved_wait: float  # seconds until the last of those slots
    reported_remaining: dict[str, int] = field(default_factory=dict)  # the provider's last word
    reported_age: float | None = None  # seconds since that word


def _reservations(ledger: Ledger, now: float) -> tuple[int, float]:
    """Admissions whose slot lies ahead: calls sleeping until their time, and the longest wait."""
    ahead = [a.t for a in ledger.admissions.values() if a.t > now]
    if not ahead:
        return 0, 0.0
    return len(ahead), max(ahead) - now


def budget_figures(*, now: float | None = None) -> list[BudgetFigures]:
    """Every budget of an organization that still has keys."""
    moment = clock.now() if now is None else now
    orgs = set(Key.objects.values_list("provider", "organization").distinct())
    figures = []
    for budget in Budget.objects.order_by("provider", "organization", "model"):
        if (budget.provider, budget.organization) not in orgs:
            continue
        ledger = ledger_of(budget)
        limits = ledger.limits(guesses(budget.provider, budget.model), NO_PEERS, moment)
        count, wait = _reservations(ledger, moment)
        # The provider's last word per window, by the header that said it (requests, tokens).
        remaining, said_at = {}, 0.0
        for kind, (left, at) in ledger.reported.items():
            remaining["tokens" if kind.startswith("t") else "requests"] = int(left)
            said_at = max(said_at, at)
        figures.append(
            BudgetFigures(
                provider=budget.provider,
                organization=budget.organization,
                model=budget.model,
                limits=limit_views(ledger, budget.provider, budget.model, moment),
                used=ledger.used(moment, limits),
                headroom=round(headroom(ledger, limits, moment), 4),
                reservations=count,
                reserved_wait=round(wait, 3),
                reported_remaining=remaining,
                reported_age=round(max(0.0, moment - said_at), 3) if said_at else None,
            )
        )
    return figures


@dataclass(frozen=True)
class CooldownFigures:
    provider: str
    organization: str
    model: str  # "" = every model
    reason: str
    scope: str  # "organization" | "key"
    active: int
    longest: float  # seconds until the latest of them ends


def cooldown_figures(*, now: datetime | None = None) -> list[CooldownFigures]:
    """Active cooldowns per (provider, organization, model, reason, scope); a key's cooldown
    is filed under its organization."""
    now = now or timezone.now()
    rows = (
        Cooldown.objects.active(now)
        .values("provider", "organization", "key__organization", "key_id", "model", "reason")
        .annotate(active=Count("id"), ends=Max("ends_at"))
        .order_by()
    )
    merged: dict[tuple, list] = {}
    for row in rows:
        scope = "key" if row["key_id"] else "organization"
        organization = row["key__organization"] if row["key_id"] else row["organization"]
        label = (row["provider"], organization or "", row["model"], row["reason"], scope)
        entry = merged.setdefault(label, [0, now])
        entry[0] += row["active"]
        entry[1] = max(entry[1], row["ends"])
    return [
        CooldownFigures(*label, active=n, longest=round((ends - now).total_seconds(), 3))
        for label, (n, ends) in sorted(merged.items())
    ]


@dataclass(frozen=True)
class KeyFigures:
    status: str  # ok | degraded | down (as /api/status)
    states: dict[str, dict[str, int]]  # provider -> state -> keys
    disabled: dict[tuple[str, str], int]  # (provider, why: admin | auth | undecryptable) -> keys


def key_figures(*, now: datetime | None = None) -> KeyFigures:
    keys = list(Key.objects.all())
    counts = state_counts(key_states(keys, now=now or timezone.now()))
    disabled: dict[tuple[str, str], int] = {}
    for key in keys:
        if not key.enabled:
            why = key.disabled_code or "admin"
            disabled[(key.provider, why)] = disabled.get((key.provider, why), 0) + 1
    return KeyFigures(status=overall_status(counts), states=counts, disabled=disabled)


def usage_totals(*, now: datetime | None = None) -> dict[tuple[str, str, str], Stats]:
    """Attempts, outcomes and tokens since the beginning, per (provider, organization, model)."""
    return usage_stats(since=EPOCH, until=now or timezone.now(), by=("provider", "organization", "model"))


def event_totals() -> list[PoolEventCount]:
    """PoolExhausted and refusals by the limit named (services/events.py)."""
    return list(PoolEventCount.objects.order_by("event", "provider", "organization", "model", "detail"))
