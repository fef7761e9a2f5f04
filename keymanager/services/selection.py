"""Choosing a key: a short transaction that looks, locks, checks, stamps and commits.

On PostgreSQL the lock is `SELECT ... FOR UPDATE SKIP LOCKED` on the budget row of the
chosen (organization, model), so concurrent workers each take a different organization
instead of queueing; on SQLite the IMMEDIATE transaction (settings) serializes writers. The
usage-log row written here is the reservation; the HTTP call happens after commit.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from keymanager.models import Budget, Cooldown, Key, UsageLog
from keymanager.services.budgets import (
    Verdict,
    WindowUsage,
    ensure_budget_rows,
    judge,
    limits_for,
    window_usage,
)


@dataclass(frozen=True)
class Lease:
    """A chosen key and the usage-log row that holds its reservation."""

    key_id: int
    provider: str
    organization: str
    model: str
    secret_encrypted: str
    log_id: int
    request_id: uuid.UUID
    attempt: int
    reserved_tokens: int


@dataclass(frozen=True)
class NoKey:
    """No key can serve now. `retry_after` is seconds until one may (None: never, for this call)."""

    retry_after: float | None


def acquire(
    *,
    provider: str,
    model: str,
    tokens: int,
    strategy: str,
    quest: int | None = None,
    exclude: frozenset[int] = frozenset(),
    request_id: uuid.UUID,
    attempt: int,
    purpose: str = "",
) -> Lease | NoKey:
    with transaction.atomic():
        now = timezone.now()
        keys = list(
            Key.objects.filter(provider=provider, enabled=True).values(
                "id", "organization", "order", "last_used_at", "secret_encrypted"
            )
        )
        usable = [k for k in keys if k["id"] not in exclude]
        if not usable:
            return NoKey(retry_after=None)
        orgs = sorted({k["organization"] for k in usable})
        ensure_budget_rows(provider, orgs, model)  # the rows to lock must exist (cached per process)
        budgets = {b.organization: b for b in Budget.objects.filter(provider=provider, model=model, organization__in=orgs)}
        cooling = _cooldown_ends(provider, model, usable, orgs, now)
        verdicts = _judge_organizations(provider, model, orgs, budgets, tokens, now)

        candidates, waits = [], []
        for key in usable:
            verdict = verdicts[key["organization"]]
            ends = [cooling.get(("key", key["id"])), cooling.get(("org", key["organization"]))]
            until = max((e for e in ends if e is not None), default=None)
            if until is not None:
                waits.append((until - now).total_seconds())
            elif not verdict.admits:
                waits.append(verdict.wait)
            else:
                candidates.append((key, verdict))
        if not candidates:
            finite = [w for w in waits if math.isfinite(w)]
            return NoKey(retry_after=max(0.01, min(finite)) if finite else None)

        key = _lock_best(candidates, keys, strategy, quest, provider=provider, model=model, tokens=tokens, now=now)
        if key is None:
            # Every organization that could serve is being chosen from by another worker.
            return NoKey(retry_after=0.01)
        # Conditional stamp: a disable committed since the first look wins, and from here
        # on this row lock makes a concurrent disable wait until this choice is committed.
        if not Key.objects.filter(pk=key["id"], enabled=True).update(last_used_at=now):
            return NoKey(retry_after=0.01)
        log = UsageLog.objects.create(
            request_id=request_id,
            key_id=key["id"],
            provider=provider,
            organization=key["organization"],
            model=model,
            purpose=purpose[:50],
            quest=quest,
            budget_tokens=tokens,
            attempt=attempt,
            created_at=now,
        )
    return Lease(
        key_id=key["id"],
        provider=provider,
        organization=key["organization"],
        model=model,
        secret_encrypted=key["secret_encrypted"],
        log_id=log.pk,
        request_id=request_id,
        attempt=attempt,
        reserved_tokens=tokens,
    )


def _lock_best(
    candidates: list[tuple[dict, Verdict]],
    all_keys: list[dict],
    strategy: str,
    quest: int | None,
    *,
    provider: str,
    model: str,
    tokens: int,
    now: datetime,
) -> dict | None:
    """Lock the budget row of the best candidate's organization and return that key.

    On PostgreSQL an organization whose row another worker holds is skipped (SKIP LOCKED),
    so workers spread over organizations instead of queueing, and the organization is judged
    again once locked: the first look was taken without the lock. SQLite's IMMEDIATE
    transaction has already serialized this whole function, so the first look stands.
    """
    ranked = _rank(candidates, all_keys, strategy, quest)
    if not connection.features.has_select_for_update_skip_locked:
        return ranked[0]
    tried: set[str] = set()
    for key in ranked:
        org = key["organization"]
        if org in tried:
            continue
        tried.add(org)
        budget = (
            Budget.objects.select_for_update(skip_locked=True)
            .filter(provider=provider, organization=org, model=model)
            .first()
        )
        if budget is None:
            continue
        if _judge_organizations(provider, model, [org], {org: budget}, tokens, now)[org].admits:
            return key
    return None


def _cooldown_ends(provider: str, model: str, keys: list[dict], orgs: list[str], now: datetime) -> dict:
    """Latest active cooldown end per key and per organization for this model."""
    key_ids = {k["id"] for k in keys}
    ends: dict[tuple[str, object], datetime] = {}
    # Active cooldowns are few at any time: fetch them all for this model, sort in Python.
    rows = Cooldown.objects.filter(ends_at__gt=now, model__in=("", model)).values_list(
        "key_id", "provider", "organization", "ends_at"
    )
    for key_id, row_provider, org, ends_at in rows:
        if key_id in key_ids:
            target = ("key", key_id)
        elif key_id is None and row_provider == provider and org in orgs:
            target = ("org", org)
        else:
            continue
        if target not in ends or ends[target] < ends_at:
            ends[target] = ends_at
    return ends


def _judge_organizations(
    provider: str, model: str, orgs: list[str], budgets: dict[str, Budget], tokens: int, now: datetime
) -> dict[str, Verdict]:
    limits = limits_for(provider, orgs, model)
    reported = {org: b.observed_at for org, b in budgets.items() if b.observed_at}
    if all(lim.unlimited for lim in limits.values()) and not reported:
        usage: dict = defaultdict(WindowUsage)  # nothing to count against (e.g. OpenAI without limits)
    else:
        daily = any(lim.has_daily for lim in limits.values())
        usage = window_usage(provider, orgs, model, now, daily=daily, reported=reported)
    return {org: judge(limits[org], usage[org], budgets.get(org), tokens, now) for org in orgs}


def _rank(candidates: list[tuple[dict, Verdict]], all_keys: list[dict], strategy: str, quest: int | None) -> list[dict]:
    """Candidates best first. Smart: most headroom, then least recently used (never used
    first). Quest-based: quest N's key first when it can serve, then as smart."""

    def smart(item: tuple[dict, Verdict]) -> tuple[float, float]:
        key, verdict = item
        used = key["last_used_at"]
        return (-round(verdict.headroom, 3), used.timestamp() if used else -math.inf)

    ranked = [key for key, _ in sorted(candidates, key=smart)]
    if strategy == "quest" and quest is not None and all_keys:
        ordered = sorted(all_keys, key=lambda k: (k["order"], k["id"]))
        wanted = ordered[(quest - 1) % len(ordered)]["id"]
        ranked.sort(key=lambda k: k["id"] != wanted)  # stable: the rest keep their order
    return ranked


def pool_headroom(*, provider: str, model: str) -> float:
    """The largest share (0..1) of its limits that any usable organization has left for
    `model`, judged exactly as selection judges it. Background work (prefetch) asks this to
    leave the quota to interactive calls."""
    now = timezone.now()
    keys = list(Key.objects.filter(provider=provider, enabled=True).values("id", "organization"))
    if not keys:
        return 0.0
    orgs = sorted({k["organization"] for k in keys})
    cooling = _cooldown_ends(provider, model, keys, orgs, now)
    usable = {
        k["organization"] for k in keys if ("key", k["id"]) not in cooling and ("org", k["organization"]) not in cooling
    }
    if not usable:
        return 0.0
    budgets = {b.organization: b for b in Budget.objects.filter(provider=provider, model=model, organization__in=usable)}
    verdicts = _judge_organizations(provider, model, sorted(usable), budgets, 0, now)
    return max(v.headroom for v in verdicts.values())
