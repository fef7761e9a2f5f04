"""Local accounting of each organization's RPM/RPD/TPM/TPD per model.

The usage log is the ledger: a row is written when a key is chosen, holding its
reservation (prompt estimate + max tokens) in `budget_tokens`, and corrected to the real
total after the call. Sliding windows over that ledger are at least as strict as any
fixed or sliding window the provider may use, and a small margin covers the time a
request spends on the wire. The provider's x-ratelimit-* headers then tighten the local
view when someone else spends the same organization's quota.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, Sum

from keymanager.models import UNCOUNTED_OUTCOMES, Budget, Limit, Provider, UsageLog

WINDOW_MARGIN = timedelta(seconds=1)
MINUTE = timedelta(seconds=60) + WINDOW_MARGIN
DAY = timedelta(days=1) + WINDOW_MARGIN
DEFAULT_MAX_TOKENS = 1024

# A Groq model with no Limit row gets the strictest published free-tier values, so an
# unknown model is never overrun.
GROQ_FALLBACK = {"rpm": 30, "rpd": 1000, "tpm": 6000, "tpd": 100000}


def estimate_prompt_tokens(messages: list[dict]) -> int:
    """An upper estimate: about 3 characters per token plus per-message overhead.

    Real tokenizers average about 4 characters per token in English; erring high only
    holds a little more of the reservation until the real count replaces it.
    """
    total = 0
    for message in messages:
        content = message.get("content") or ""
        if not isinstance(content, str):
            content = str(content)
        total += math.ceil(len(content) / 3) + 6
    return total + 3


@dataclass(frozen=True)
class Limits:
    rpm: int | None = None
    rpd: int | None = None
    tpm: int | None = None
    tpd: int | None = None

    @property
    def has_daily(self) -> bool:
        return self.rpd is not None or self.tpd is not None

    @property
    def unlimited(self) -> bool:
        return self.rpm is None and self.tpm is None and not self.has_daily


# Limits change rarely (an admin edits them) but are read on every acquire: keep them for a
# few seconds per process. Saving a Limit clears this process's copy at once (signals in
# apps.py); other processes pick the change up within LIMITS_TTL.
LIMITS_TTL = 5.0
_limits_cache: dict[tuple[str, str], tuple[float, dict[str, Limit]]] = {}


def forget_limits() -> None:
    _limits_cache.clear()


def _limit_rows(provider: str, model: str) -> dict[str, Limit]:
    cached = _limits_cache.get((provider, model))
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    rows = {row.organization: row for row in Limit.objects.filter(provider=provider, model=model)}
    _limits_cache[(provider, model)] = (time.monotonic() + LIMITS_TTL, rows)
    return rows


def limits_for(provider: str, organizations: list[str], model: str) -> dict[str, Limits]:
    rows = _limit_rows(provider, model)
    default = rows.get("")
    result = {}
    for org in organizations:
        row = rows.get(org, default)
        if row is not None:
            result[org] = Limits(rpm=row.rpm, rpd=row.rpd, tpm=row.tpm, tpd=row.tpd)
        elif provider == Provider.GROQ:
            result[org] = Limits(**GROQ_FALLBACK)
        else:
            result[org] = Limits()  # OpenAI without configured limits: unlimited locally
    return result


@dataclass
class WindowUsage:
    requests_minute: int = 0
    tokens_minute: int = 0
    requests_day: int = 0
    tokens_day: int = 0
    oldest_minute: datetime | None = None
    oldest_day: datetime | None = None
    # Reserved since the provider last reported this budget (see Budget.observed_at).
    requests_since_report: int = 0
    tokens_since_report: int = 0


def window_usage(
    provider: str,
    organizations: list[str],
    model: str,
    now: datetime,
    *,
    daily: bool,
    reported: dict[str, datetime] | None = None,
) -> dict[str, WindowUsage]:
    """Sliding-window usage per organization, in one aggregate query.

    `reported` maps an organization to the time of its provider's last report; what was
    reserved after it is counted apart, to be taken off the reported remainder.
    """
    minute = Q(created_at__gt=now - MINUTE)
    aggregates = {
        "m_n": Count("id", filter=minute),
        "m_tokens": Sum("budget_tokens", filter=minute),
        "m_oldest": Min("created_at", filter=minute),
    }
    if reported:
        since = Q()
        for org, observed_at in reported.items():
            since |= Q(organization=org, created_at__gt=max(observed_at, now - MINUTE))
        aggregates.update(s_n=Count("id", filter=since), s_tokens=Sum("budget_tokens", filter=since))
    if daily:
        aggregates.update(d_n=Count("id"), d_tokens=Sum("budget_tokens"), d_oldest=Min("created_at"))
    rows = (
        UsageLog.objects.filter(
            provider=provider,
            model=model,
            organization__in=organizations,
            created_at__gt=now - (DAY if daily else MINUTE),
        )
        .exclude(outcome__in=UNCOUNTED_OUTCOMES)
        .values("organization")
        .annotate(**aggregates)
        .order_by()
    )
    usage: dict[str, WindowUsage] = defaultdict(WindowUsage)
    for row in rows:
        usage[row["organization"]] = WindowUsage(
            requests_minute=row["m_n"],
            tokens_minute=row["m_tokens"] or 0,
            requests_day=row.get("d_n", 0),
            tokens_day=row.get("d_tokens") or 0,
            oldest_minute=row["m_oldest"],
            oldest_day=row.get("d_oldest"),
            requests_since_report=row.get("s_n", 0),
            tokens_since_report=row.get("s_tokens") or 0,
        )
    return usage


@dataclass(frozen=True)
class Verdict:
    admits: bool
    headroom: float  # 0..1: the tightest of the four limits' remaining share
    wait: float  # seconds until this organization may admit the request (0 if it does)


def _left(limit: int | None, used: int) -> float:
    return math.inf if limit is None else limit - used


def judge(
    limits: Limits, usage: WindowUsage, budget: Budget | None, tokens: int, now: datetime
) -> Verdict:
    """Can this organization take a request that reserves `tokens` now, and if not, when?"""
    rpm_left = _left(limits.rpm, usage.requests_minute)
    tpm_left = _left(limits.tpm, usage.tokens_minute)
    rpd_left = _left(limits.rpd, usage.requests_day)
    tpd_left = _left(limits.tpd, usage.tokens_day)
    waits = []

    # The provider's own figures, less what we reserved since it reported them.
    if budget is not None and budget.observed_at is not None and budget.observed_at > now - MINUTE:
        if budget.remaining_tokens is not None and budget.tokens_reset_at and budget.tokens_reset_at > now:
            header_left = budget.remaining_tokens - usage.tokens_since_report
            if header_left < tokens:
                waits.append((budget.tokens_reset_at - now).total_seconds())
            tpm_left = min(tpm_left, header_left)
        if budget.remaining_requests is not None and budget.requests_reset_at and budget.requests_reset_at > now:
            header_left = budget.remaining_requests - usage.requests_since_report
            if header_left < 1:
                waits.append((budget.requests_reset_at - now).total_seconds())
            rpd_left = min(rpd_left, header_left)

    # When the oldest request of a window rolls out; the caller checks again then.
    if (rpm_left < 1 or tpm_left < tokens) and usage.oldest_minute is not None:
        waits.append((usage.oldest_minute + MINUTE - now).total_seconds())
    if (rpd_left < 1 or tpd_left < tokens) and usage.oldest_day is not None:
        waits.append((usage.oldest_day + DAY - now).total_seconds())

    admits = rpm_left >= 1 and rpd_left >= 1 and tpm_left >= tokens and tpd_left >= tokens
    # Shares are of the smaller of our limit and the one the provider reports.
    tpm_cap, rpd_cap = limits.tpm, limits.rpd
    if budget is not None and budget.limit_tokens:
        tpm_cap = min(tpm_cap or budget.limit_tokens, budget.limit_tokens)
    if budget is not None and budget.limit_requests:
        rpd_cap = min(rpd_cap or budget.limit_requests, budget.limit_requests)
    shares = [
        left / limit
        for left, limit in ((rpm_left, limits.rpm), (tpm_left, tpm_cap), (rpd_left, rpd_cap), (tpd_left, limits.tpd))
        if limit
    ]
    headroom = max(0.0, min(shares)) if shares else 1.0
    wait = 0.0 if admits else max([0.05, *waits]) if waits else math.inf
    return Verdict(admits=admits, headroom=headroom, wait=wait)


def observe_headers(*, provider: str, organization: str, model: str, headers, now: datetime) -> None:
    """Store the provider's last reported budget for this (organization, model)."""
    if not headers.present:
        return
    Budget.objects.filter(provider=provider, organization=organization, model=model).update(
        limit_requests=headers.limit_requests,
        remaining_requests=headers.remaining_requests,
        requests_reset_at=now + timedelta(seconds=headers.reset_requests or 0),
        limit_tokens=headers.limit_tokens,
        remaining_tokens=headers.remaining_tokens,
        tokens_reset_at=now + timedelta(seconds=headers.reset_tokens or 0),
        observed_at=now,
    )


_known_budgets: set[tuple[str, str, str]] = set()


def ensure_budget_rows(provider: str, organizations: list[str], model: str) -> None:
    """Create the lockable Budget rows once; cached per process since rows are never deleted."""
    missing = [org for org in organizations if (provider, org, model) not in _known_budgets]
    if not missing:
        return
    Budget.objects.bulk_create(
        [Budget(provider=provider, organization=org, model=model) for org in missing], ignore_conflicts=True
    )
    _known_budgets.update((provider, org, model) for org in missing)
