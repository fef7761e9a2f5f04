"""Hourly usage rollups: UsageLog summed per (hour, key, provider, organization, model, quest).

An hour is rolled up once it is closed and older than the grace period, by which time no
attempt created in it can still be pending. The cursor row is locked while an hour range
is summed, so two workers running the task at once do not double count.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Min
from django.db.models.functions import TruncHour
from django.utils import timezone

from keymanager.models import (
    RollupCursor,
    UsageLog,
    UsageRollup,
)
from keymanager.selectors.usage import (
    COUNTERS,
    CURSOR,
    DIMENSIONS,
    HOUR,
    floor_hour,
    grace,
    raw_aggregates,
)

logger = logging.getLogger("keymanager")

# Chunk size: hours summed per transaction keeps each transaction short when catching up on weeks.
CHUNK_HOURS = 24


def rollup_usage(*, now: datetime | None = None) -> int:
    """Sum every closed hour not yet rolled up; return the number of hours summed."""
    now = now or timezone.now()
    target = floor_hour(now - grace())
    done = 0
    while True:
        with transaction.atomic():
            cursor = _locked_cursor(target)
            start = cursor.upto
            if start >= target:
                return done
            end = min(target, start + CHUNK_HOURS * HOUR)
            _sum_range(start, end)
            cursor.upto = end
            cursor.save(update_fields=["upto", "updated_at"])
        done += int((end - start) / HOUR)
        logger.info("Usage rolled up to %s.", end.isoformat())


def _locked_cursor(target: datetime) -> RollupCursor:
    cursor = RollupCursor.objects.select_for_update().filter(name=CURSOR).first()
    if cursor is None:
        oldest = UsageLog.objects.aggregate(first=Min("created_at"))["first"]
        start = floor_hour(oldest) if oldest else target
        RollupCursor.objects.bulk_create([RollupCursor(name=CURSOR, upto=min(start, target))], ignore_conflicts=True)
        cursor = RollupCursor.objects.select_for_update().get(name=CURSOR)
    return cursor


def _sum_range(start: datetime, end: datetime) -> None:
    rows = (
        UsageLog.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(bucket=TruncHour("created_at"))
        .values("bucket", *DIMENSIONS)
        .annotate(**raw_aggregates())
        .order_by()
    )
    # Re-running a range (after a crash between insert and cursor save) replaces it.
    UsageRollup.objects.filter(hour__gte=start, hour__lt=end).delete()
    UsageRollup.objects.bulk_create(
        [
            UsageRollup(
                hour=row["bucket"],
                **{d: row[d] for d in DIMENSIONS},
                **{c: row[c] or 0 for c in COUNTERS},
            )
            for row in rows
        ],
        batch_size=1000,
    )
