"""Probing keys whose cooldown just ended, so the dashboard shows their fresh headroom.

A probe is a real call: `key_test` admits it through the key's budget like any other, so
probes never spend what the budget does not have.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from keymanager.models import Cooldown, Key
from keymanager.selectors import holding_cooldowns
from keymanager.services.keys import KeyTestResult, key_test

LOOKBACK = timedelta(hours=1)


def keys_to_probe(*, now: datetime | None = None) -> list[int]:
    """Enabled keys whose (or whose organization's) latest cooldown ended within the last
    hour, that nothing holds now (the one cooldown rule) and that were not used since."""
    now = now or timezone.now()
    ended: dict[int, datetime] = {}
    keys = {k.pk: k for k in Key.objects.filter(enabled=True).order_by("order", "id")}
    first_of_org: dict[tuple[str, str], int] = {}
    for key in keys.values():
        first_of_org.setdefault((key.provider, key.organization), key.pk)
    recent = Cooldown.objects.filter(ends_at__gt=now - LOOKBACK, ends_at__lte=now).filter(
        Q(key__in=list(keys)) | Q(key__isnull=True)
    )
    for key_id, provider, organization, ends_at in recent.values_list("key_id", "provider", "organization", "ends_at"):
        # An organization's cooldown is about its shared budget: one key's call refreshes it.
        target = key_id or first_of_org.get((provider, organization))
        if target in keys:
            ended[target] = max(ended.get(target, ends_at), ends_at)
    if not ended:
        return []
    holding = holding_cooldowns([keys[k] for k in ended], now=now)
    return [
        key_id
        for key_id, end in sorted(ended.items())
        if holding.get(key_id) is None
        and (keys[key_id].last_used_at is None or keys[key_id].last_used_at < end)
    ]


def probe_key(*, key_id: int, now: datetime | None = None) -> KeyTestResult | None:
    """One cheap call with the key, unless it was used (or probed) since its cooldown ended.

    The claim stamps `last_used_at` with a conditional update, so one probe runs per key
    even when several workers pick up the same task list.
    """
    now = now or timezone.now()
    if key_id not in keys_to_probe(now=now):
        return None
    key = Key.objects.get(pk=key_id)
    stale = Q(last_used_at__isnull=True) | Q(last_used_at=key.last_used_at)
    if not Key.objects.filter(stale, pk=key_id).update(last_used_at=now):
        return None
    return key_test(key_id=key_id, purpose="probe", background=True)
