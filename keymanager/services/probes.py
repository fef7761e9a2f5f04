"""Probing keys whose cooldown just ended, so the dashboard shows their fresh headroom."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from keymanager.models import Cooldown, Key
from keymanager.services.keys import KeyTestResult, key_test

LOOKBACK = timedelta(hours=1)


def keys_to_probe(*, now: datetime | None = None) -> list[int]:
    """Enabled keys whose (or whose organization's) latest cooldown ended within the last
    hour, that are not cooling now and have not been used since it ended."""
    now = now or timezone.now()
    ended: dict[int, datetime] = {}
    keys = {k.pk: k for k in Key.objects.filter(enabled=True).order_by("order", "id")}
    first_of_org: dict[tuple[str, str], int] = {}
    for key in keys.values():
        first_of_org.setdefault((key.provider, key.organization), key.pk)
    for key_id, provider, organization, ends_at in Cooldown.objects.filter(
        ends_at__gt=now - LOOKBACK, ends_at__lte=now
    ).values_list("key_id", "provider", "organization", "ends_at"):
        # An organization's cooldown is about its shared budget: one key's call refreshes it.
        target = key_id or first_of_org.get((provider, organization))
        if target in keys:
            ended[target] = max(ended.get(target, ends_at), ends_at)
    if not ended:
        return []
    busy = set(
        Cooldown.objects.active(now)
        .filter(Q(key_id__in=ended) | Q(key__isnull=True, organization__in={keys[k].organization for k in ended}))
        .values_list("key_id", "organization")
    )
    busy_keys = {k for k, _ in busy if k}
    busy_orgs = {o for k, o in busy if not k}
    return [
        key_id
        for key_id, end in sorted(ended.items())
        if key_id not in busy_keys
        and keys[key_id].organization not in busy_orgs
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
    return key_test(key_id=key_id)
