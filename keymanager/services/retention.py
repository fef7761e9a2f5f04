"""Pruning old usage-log rows and ended cooldowns. Hourly rollups keep the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from keymanager.models import Cooldown, UsageLog
from keymanager.selectors.usage import rollup_cursor
from keymanager.services.rollups import rollup_usage

BATCH = 10_000


@dataclass(frozen=True)
class PruneResult:
    cutoff: datetime
    usage_logs: int
    cooldowns: int
    dry_run: bool


def prune_usage(*, older_than: timedelta, dry_run: bool = False, now: datetime | None = None) -> PruneResult:
    """Delete usage-log rows created, and cooldowns ended, before now - older_than.

    Rows are summed into the rollups first, and a row the rollups do not cover yet is never
    deleted. Deletes go in batches so that no transaction holds the table for long.
    """
    now = now or timezone.now()
    cutoff = now - older_than
    if not dry_run:
        rollup_usage(now=now)
    cursor = rollup_cursor()
    log_cutoff = min(cutoff, cursor) if cursor else None
    logs = UsageLog.objects.filter(created_at__lt=log_cutoff) if log_cutoff else UsageLog.objects.none()
    ended = Cooldown.objects.filter(ends_at__lt=cutoff)
    if dry_run:
        # The dry run counts what a real run would delete once rollups catch up to the cutoff.
        would = UsageLog.objects.filter(created_at__lt=cutoff).count()
        return PruneResult(cutoff, would, ended.count(), True)
    deleted_logs = _delete_in_batches(logs)
    deleted_cooldowns = _delete_in_batches(ended)
    return PruneResult(cutoff, deleted_logs, deleted_cooldowns, False)


def _delete_in_batches(query) -> int:
    total = 0
    while True:
        ids = list(query.values_list("pk", flat=True)[:BATCH])
        if not ids:
            return total
        deleted, _ = query.model.objects.filter(pk__in=ids).delete()
        total += deleted
