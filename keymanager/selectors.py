"""Reads of the key pool's state for commands, admin and /api/status. No secrets here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from keymanager.models import Cooldown, Key, Outcome, Provider, UsageLog


@dataclass(frozen=True)
class KeyState:
    key: Key
    state: str  # available | cooling | disabled
    cooldown_until: datetime | None
    cooldown_model: str
    cooldown_reason: str

    @property
    def label(self) -> str:
        if self.state == "disabled":
            return f"disabled: {self.key.disabled_reason or 'no reason given'}"
        if self.state == "cooling":
            scope = self.cooldown_model or "all models"
            return f"cooling down ({self.cooldown_reason}) for {scope} until {self.cooldown_until:%Y-%m-%d %H:%M:%S} UTC"
        return "available"


def key_states(keys=None, now: datetime | None = None) -> list[KeyState]:
    """Each key's state. A key is 'cooling' when it, or its organization, has an active
    cooldown for all models (a per-model cooldown shows with its model)."""
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
            c for c in active
            if c.key_id == key.pk or (c.key_id is None and c.organization == key.organization and c.provider == key.provider)
        ]
        if mine:
            top = mine[0]
            states.append(KeyState(key, "cooling", top.ends_at, top.model, top.reason))
        else:
            states.append(KeyState(key, "available", None, "", ""))
    return states


def success_rate(since: datetime) -> float | None:
    done = UsageLog.objects.filter(created_at__gte=since).exclude(outcome=Outcome.PENDING)
    totals = done.aggregate(n=Count("id"), ok=Count("id", filter=Q(outcome=Outcome.SUCCESS)))
    return round(totals["ok"] / totals["n"], 4) if totals["n"] else None


def pool_status() -> dict:
    """The public part of /api/status: counts only, nothing that identifies a key."""
    now = timezone.now()
    counts = {p: {"available": 0, "cooling": 0, "disabled": 0} for p in Provider.values}
    for state in key_states(now=now):
        counts[state.key.provider][state.state] += 1
    groq = counts[Provider.GROQ]
    if groq["available"]:
        status = "ok" if not (groq["cooling"] or groq["disabled"]) else "degraded"
    elif counts[Provider.OPENAI]["available"]:
        status = "degraded"
    else:
        status = "down"
    return {
        "status": status,
        "keys": counts,
        "success_rate_1h": success_rate(now - timedelta(hours=1)),
        "generated_at": now.isoformat(),
    }
