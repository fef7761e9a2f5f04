"""What the API dashboard shows, gathered in a fixed, small number of aggregate queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from keymanager.dashboard import charts
from keymanager.models import Incident, Provider
from keymanager.selectors import (
    KeyOverview,
    OrgUsage,
    default_model,
    key_overviews,
    organization_usage,
    overall_status,
    state_counts,
)
from keymanager.selectors.usage import HOUR, Stats, floor_hour, grace, rollup_cursor, usage_stats
from keymanager.services.fallbacks import curated_fallbacks

WINDOWS = (("1h", "Last hour", timedelta(hours=1)), ("24h", "Last 24 hours", timedelta(hours=24)), ("7d", "Last 7 days", timedelta(days=7)))


@dataclass
class Card:
    overview: KeyOverview
    chart: str
    bars: list[tuple[str, int, int | None, float | None]]


def _sum(parts) -> Stats:
    return Stats.combine(parts)


def dashboard_context(now: datetime | None = None) -> dict:
    now = now or timezone.now()
    day_start = now - timedelta(hours=24)
    # One grouped read of the last 24 hours feeds the cards, the charts and the org meters.
    detail = usage_stats(since=day_start, until=now, by=("hour", "key", "provider", "organization", "model"))
    by_key: dict[tuple, list[Stats]] = {}
    by_hour: dict[datetime, list[Stats]] = {}
    by_key_hour: dict[tuple, list[Stats]] = {}
    by_org_model: dict[tuple, list[Stats]] = {}
    for (hour, key_id, provider, organization, model), stats in detail.items():
        by_key.setdefault((key_id,), []).append(stats)
        by_hour.setdefault(hour, []).append(stats)
        by_key_hour.setdefault((key_id, hour), []).append(stats)
        by_org_model.setdefault((provider, organization, model), []).append(stats)
    day_by_key = {k: _sum(v) for k, v in by_key.items()}
    orgs = organization_usage(now=now, day={k: _sum(v) for k, v in by_org_model.items()})
    overviews = key_overviews(now=now, day_by_key=day_by_key, orgs=orgs)

    hours = [floor_hour(day_start) + i * HOUR for i in range(25)]
    hourly = [_sum(by_hour.get(h, [])) for h in hours]

    totals = []
    for slug, title, span in WINDOWS:
        stats = _sum(s for part in by_hour.values() for s in part) if slug == "24h" else usage_stats(since=now - span, until=now)[()]
        curated = curated_fallbacks(since=now - span, until=now).get(())
        totals.append({"slug": slug, "title": title, "stats": stats, "curated": curated})

    cards = [
        Card(
            overview=o,
            chart=charts.stacked_bars(
                [charts.Bucket(h, _outcomes(_sum(by_key_hour.get((o.key.pk, h), [])))) for h in hours],
                label=f"Calls of {o.key.name} per hour, last 24 hours, by outcome",
                width=300,
                height=110,
            ),
            bars=_card_bars(o.usage),
        )
        for o in overviews
    ]
    counts = state_counts([o.state for o in overviews])
    cursor = rollup_cursor()
    lag = (now - cursor) if cursor else None
    return {
        "now": now,
        "status": overall_status(counts),
        "counts": [(Provider(p).label, c) for p, c in counts.items() if sum(c.values())],
        "totals": totals,
        "cards": cards,
        "incidents": list(Incident.objects.filter(resolved_at__isnull=True)[:20]),
        "calls_chart": charts.stacked_bars(
            [charts.Bucket(h, _outcomes(s)) for h, s in zip(hours, hourly, strict=True)],
            label="Calls per hour, last 24 hours, stacked by outcome",
        ),
        "latency_chart": charts.lines(
            [charts.Bucket(h, {"p50": s.p50, "p95": s.p95}) for h, s in zip(hours, hourly, strict=True)],
            [("p50", "p50", "cq-line-p50"), ("p95", "p95", "cq-line-p95")],
            label="Latency of successful attempts per hour (p50 and p95), last 24 hours",
        ),
        "token_meters": _token_meters(orgs),
        "rollups_behind": lag is not None and lag > grace() + 2 * HOUR,
        "rollup_cursor": cursor,
        "default_models": {Provider(p).label: default_model(p) for p in Provider.values},
    }


def _outcomes(stats: Stats) -> dict[str, float]:
    return {"successes": stats.successes, "rate_limited": stats.rate_limited, "errors": stats.errors, "pending": stats.pending}


def _card_bars(usage: OrgUsage | None) -> list[tuple[str, int, int | None, float | None]]:
    if usage is None:
        return []
    return [(name, used, limit, min(100.0, 100 * used / limit) if limit else None) for name, used, limit in usage.bars()]


def _token_meters(orgs: list[OrgUsage]) -> list[tuple[str, int, int | None, float | None]]:
    """Tokens per organization and model against its limits: HTML bars, readable at any width."""
    rows = []
    for org in orgs:
        label = f"{org.organization} · {org.model}"
        for name, used, limit in ((f"{label} · TPD", org.tokens_day, org.limits["tpd"].value),
                                  (f"{label} · TPM", org.tokens_minute, org.limits["tpm"].value)):
            rows.append((name, used, limit, min(100.0, 100 * used / limit) if limit else None))
    return rows
