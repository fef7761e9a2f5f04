"""How much of the pool is free for a model: prefetch runs only when there is clearly room.

Read-only over the key pool's tables; the pool's own selection stays the authority.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from keymanager.models import UNCOUNTED_OUTCOMES, Cooldown, Key, Limit, Provider, UsageLog

# The pool's fallback for Groq models without a Limit row (strictest free-tier values).
FALLBACK = {"rpm": 30, "rpd": 1000, "tpm": 6000, "tpd": 100000}


def _share_left(limit: int | None, used: int) -> float:
    if not limit:
        return 1.0
    return max(0.0, 1.0 - used / limit)


def pool_headroom(*, model: str) -> float:
    """The largest share (0..1) of its RPM/TPM/RPD/TPD any usable Groq organization has left."""
    now = timezone.now()
    keys = list(Key.objects.filter(provider=Provider.GROQ, enabled=True).values_list("id", "organization"))
    if not keys:
        return 0.0
    cooling = Cooldown.objects.active(now).filter(Q(model="") | Q(model=model))
    cooling_keys = set(cooling.filter(key__isnull=False).values_list("key_id", flat=True))
    cooling_orgs = set(
        cooling.filter(key__isnull=True, provider=Provider.GROQ).values_list("organization", flat=True)
    )
    orgs = {org for key_id, org in keys if key_id not in cooling_keys and org not in cooling_orgs}
    if not orgs:
        return 0.0
    limits = {row.organization: row for row in Limit.objects.filter(provider=Provider.GROQ, model=model, organization__in=[*orgs, ""])}
    counted = UsageLog.objects.filter(provider=Provider.GROQ, model=model, organization__in=orgs).exclude(
        outcome__in=UNCOUNTED_OUTCOMES
    )
    minute = {
        row["organization"]: row
        for row in counted.filter(created_at__gt=now - timedelta(seconds=61))
        .values("organization")
        .annotate(n=Count("id"), tokens=Sum("budget_tokens"))
    }
    day = {
        row["organization"]: row
        for row in counted.filter(created_at__gt=now - timedelta(days=1))
        .values("organization")
        .annotate(n=Count("id"), tokens=Sum("budget_tokens"))
    }
    best = 0.0
    for org in orgs:
        row = limits.get(org) or limits.get("")
        lim = {"rpm": row.rpm, "rpd": row.rpd, "tpm": row.tpm, "tpd": row.tpd} if row else FALLBACK
        m = minute.get(org, {"n": 0, "tokens": 0})
        d = day.get(org, {"n": 0, "tokens": 0})
        share = min(
            _share_left(lim["rpm"], m["n"]),
            _share_left(lim["tpm"], m["tokens"] or 0),
            _share_left(lim["rpd"], d["n"]),
            _share_left(lim["tpd"], d["tokens"] or 0),
        )
        best = max(best, share)
    return best
