"""Hourly usage rollups: UsageLog summed per (hour, key, provider, organization, model, quest).

An hour is rolled up once it is closed and older than the grace period, by which time no
attempt created in it can still be pending. The cursor row is locked while an hour range
is summed, so two workers running the task at once do not double count.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Min, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from keymanager.models import (
    LATENCY_BOUNDS_MS,
    LATENCY_FIELDS,
    UNCOUNTED_OUTCOMES,
    Outcome,
    Provider,
    RollupCursor,
    UsageLog,
    UsageRollup,
)
from keymanager.services.config import pool_settings

logger = logging.getLogger("keymanager")

CURSOR = "usage"
HOUR = timedelta(hours=1)
# Hours summed per transaction: keeps each transaction short when catching up on weeks.
CHUNK_HOURS = 24
DIMENSIONS = ("key_id", "provider", "organization", "model", "quest")
COUNTERS = (
    "attempts", "calls", "switches", "successes", "rate_limited", "errors", "pending",
    "prompt_tokens", "completion_tokens", "total_tokens", "budget_requests", "budget_tokens",
    "latency_count", "latency_sum", *LATENCY_FIELDS,
)  # fmt: skip


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floored = floor_hour(moment)
    return floored if floored == moment else floored + HOUR


def grace() -> timedelta:
    """How long after an hour ends its attempts may still be pending (one call's budget, twice)."""
    conf = pool_settings()
    return timedelta(seconds=max(600.0, 2 * (conf.wait_budget + conf.request_timeout)))


def raw_aggregates() -> dict:
    """The rollup's counters as aggregates over UsageLog rows (also used for the live edge)."""
    ok = Q(outcome=Outcome.SUCCESS)
    timed = ok & Q(latency_ms__isnull=False)
    aggregates = {
        "attempts": Count("id"),
        "calls": Count("id", filter=Q(attempt=1)),
        "switches": Count("id", filter=Q(attempt=2)),
        "successes": Count("id", filter=ok),
        "rate_limited": Count("id", filter=Q(outcome=Outcome.RATE_LIMITED)),
        "errors": Count("id", filter=~Q(outcome__in=(Outcome.SUCCESS, Outcome.RATE_LIMITED, Outcome.PENDING))),
        "pending": Count("id", filter=Q(outcome=Outcome.PENDING)),
        "prompt_tokens": Sum("prompt_tokens"),
        "completion_tokens": Sum("completion_tokens"),
        "total_tokens": Sum("total_tokens"),
        "budget_requests": Count("id", filter=~Q(outcome__in=UNCOUNTED_OUTCOMES)),
        "budget_tokens": Sum("budget_tokens", filter=~Q(outcome__in=UNCOUNTED_OUTCOMES)),
        "latency_count": Count("id", filter=timed),
        "latency_sum": Sum("latency_ms", filter=timed),
        "openai_fallbacks": Count("id", filter=ok & Q(provider=Provider.OPENAI)),
    }
    lower = 0
    for name, upper in zip(LATENCY_FIELDS, LATENCY_BOUNDS_MS, strict=True):
        bucket = timed & Q(latency_ms__gte=lower) & (Q(latency_ms__lt=upper) if upper else Q())
        aggregates[name] = Count("id", filter=bucket)
        lower = upper
    return aggregates


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


def rollup_cursor() -> datetime | None:
    return RollupCursor.objects.filter(name=CURSOR).values_list("upto", flat=True).first()


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
