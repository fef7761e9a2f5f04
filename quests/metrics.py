"""Reads of the game for the operators' /metrics (selectors: nothing here writes).

Counted from the runs themselves, so every host reports the same totals. A launch is a run
handed to a player; its source is where its mission came from in the end (a live launch that
fell back to the archive counts as archive, with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum

from quests.models import QuestRun, RunSource, RunStatus

# Upper bounds (seconds) of the live-mission wait histogram; a player waits at most
# QUESTS_LIVE_WAIT_SECONDS (10 by default) before the archive.
LIVE_WAIT_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0)


def launch_counts() -> dict[tuple[str, str], int]:
    """(source, fallback reason or "") -> runs handed to players, pending ones included."""
    rows = (
        QuestRun.objects.filter(player__isnull=False)
        .values("source", "fallback_reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(row["source"], row["fallback_reason"] or ""): row["n"] for row in rows}


@dataclass(frozen=True)
class WaitHistogram:
    buckets: list[tuple[float, int]]  # (upper bound in seconds, cumulative count)
    count: int
    total_seconds: float


def live_wait_histogram() -> WaitHistogram:
    """How long players waited for the live missions they got (launch to written)."""
    wait = ExpressionWrapper(F("served_at") - F("created_at"), output_field=DurationField())
    runs = QuestRun.objects.filter(source=RunSource.LIVE, served_at__isnull=False).exclude(status=RunStatus.PENDING)
    runs = runs.annotate(wait=wait)

    aggregates = {f"le_{i}": Count("id", filter=Q(wait__lte=timedelta(seconds=b))) for i, b in enumerate(LIVE_WAIT_BUCKETS)}
    row = runs.aggregate(n=Count("id"), total=Sum("wait"), **aggregates)
    total = row["total"]
    seconds = total.total_seconds() if hasattr(total, "total_seconds") else float(total or 0) / 1e6
    return WaitHistogram(
        buckets=[(b, row[f"le_{i}"]) for i, b in enumerate(LIVE_WAIT_BUCKETS)],
        count=row["n"],
        total_seconds=round(seconds, 3),
    )
