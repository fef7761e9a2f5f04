"""Usage statistics over any time range, grouped by key, organization, model, quest, hour or day.

Closed hours come from UsageRollup; the edges of the range that the rollups do not cover
(the partial first hour, and everything after the rollup cursor) come from UsageLog. The
result is exact and costs one query on the rollups plus at most two on recent log rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate, TruncHour

from keymanager.conf import pool_settings
from keymanager.models import (
    LATENCY_BOUNDS_MS,
    LATENCY_FIELDS,
    Outcome,
    Provider,
    RollupCursor,
    UsageLog,
    UsageRollup,
)
from keymanager.outcome_rules import ERROR_OUTCOMES, UNCOUNTED_OUTCOMES

GROUPINGS = ("key", "provider", "organization", "model", "quest", "hour", "day")
_RAW_FIELDS = {"key": "key_id", "provider": "provider", "organization": "organization", "model": "model", "quest": "quest"}



CURSOR = "usage"
HOUR = timedelta(hours=1)
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
        "errors": Count("id", filter=Q(outcome__in=ERROR_OUTCOMES)),
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


def rollup_cursor() -> datetime | None:
    return RollupCursor.objects.filter(name=CURSOR).values_list("upto", flat=True).first()

@dataclass
class Stats:
    attempts: int = 0
    calls: int = 0
    switches: int = 0
    successes: int = 0
    rate_limited: int = 0
    errors: int = 0
    pending: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    budget_requests: int = 0
    budget_tokens: int = 0
    latency_count: int = 0
    latency_sum: int = 0
    openai_fallbacks: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(LATENCY_FIELDS))
    curated_fallbacks: int | None = None

    def add_row(self, row: dict) -> None:
        for name in COUNTERS:
            if name in LATENCY_FIELDS:
                continue
            setattr(self, name, getattr(self, name) + (row.get(name) or 0))
        self.openai_fallbacks += row.get("openai_fallbacks") or 0
        for i, name in enumerate(LATENCY_FIELDS):
            self.histogram[i] += row.get(name) or 0

    def merge(self, other: Stats) -> Stats:
        for name in COUNTERS:
            if name not in LATENCY_FIELDS:
                setattr(self, name, getattr(self, name) + getattr(other, name))
        self.openai_fallbacks += other.openai_fallbacks
        self.histogram = [a + b for a, b in zip(self.histogram, other.histogram, strict=True)]
        return self

    @classmethod
    def combine(cls, parts) -> Stats:
        total = cls()
        for part in parts:
            total.merge(part)
        return total

    @property
    def finished_attempts(self) -> int:
        return max(0, self.attempts - self.pending)

    @property
    def success_rate(self) -> float | None:
        """Successful attempts among finished attempts: a key's (or model's) health."""
        done = self.finished_attempts
        return round(min(1.0, self.successes / done), 4) if done else None

    @property
    def call_success_rate(self) -> float | None:
        """Logical calls served among finished calls: what players saw. An in-flight call
        holds exactly one pending attempt, so calls - pending is the finished ones."""
        done = max(0, self.calls - self.pending)
        return round(min(1.0, self.successes / done), 4) if done else None

    def percentile(self, q: float) -> int | None:
        return histogram_percentile(self.histogram, q)

    @property
    def p50(self) -> int | None:
        return self.percentile(0.50)

    @property
    def p95(self) -> int | None:
        return self.percentile(0.95)

    @property
    def mean_latency(self) -> int | None:
        return round(self.latency_sum / self.latency_count) if self.latency_count else None


def histogram_percentile(histogram: list[int], q: float) -> int | None:
    """The q-quantile of latencies, interpolated linearly within its histogram bucket."""
    total = sum(histogram)
    if not total:
        return None
    rank = q * total
    seen = 0
    lower = 0
    for count, upper in zip(histogram, LATENCY_BOUNDS_MS, strict=True):
        if count and seen + count >= rank:
            top = upper if upper is not None else lower * 2
            return round(lower + (top - lower) * max(0.0, rank - seen) / count)
        seen += count
        lower = upper if upper is not None else lower
    return lower


def usage_stats(
    *,
    since: datetime,
    until: datetime,
    by: tuple[str, ...] = (),
    provider: str | None = None,
) -> dict[tuple, Stats]:
    """Stats per group (a tuple of the `by` values, `()` for the whole range)."""
    unknown = set(by) - set(GROUPINGS)
    if unknown:
        raise ValueError(f"Unknown grouping {', '.join(sorted(unknown))}; choose from {', '.join(GROUPINGS)}.")
    result: dict[tuple, Stats] = {}
    if until <= since:
        return result
    cursor = rollup_cursor()
    r_start = ceil_hour(since)
    r_end = min(floor_hour(until), cursor) if cursor else r_start
    if r_start < r_end:
        _merge(result, _rollup_rows(r_start, r_end, by, provider), by)
        raw_ranges = [(since, r_start), (r_end, until)]
    else:
        raw_ranges = [(since, until)]
    for start, end in raw_ranges:
        if start < end:
            _merge(result, _raw_rows(start, end, by, provider), by)
    if not by and not result:
        result[()] = Stats()
    return result


def totals(*, since: datetime, until: datetime, provider: str | None = None) -> Stats:
    return usage_stats(since=since, until=until, provider=provider)[()]


def _merge(result: dict[tuple, Stats], rows, by: tuple[str, ...]) -> None:
    for row in rows:
        group = tuple(_normalize(name, row[name]) for name in by)
        result.setdefault(group, Stats()).add_row(row)


def _normalize(name: str, value):
    if name == "day" and isinstance(value, datetime):
        return value.date()
    return value


def _rollup_rows(start: datetime, end: datetime, by: tuple[str, ...], provider: str | None):
    query = UsageRollup.objects.filter(hour__gte=start, hour__lt=end)
    if provider:
        query = query.filter(provider=provider)
    groups = {}
    for name in by:
        if name == "hour":
            groups["g_hour"] = F("hour")
        elif name == "day":
            groups["g_day"] = TruncDate("hour")
        else:
            groups["g_" + name] = _field(name)
    # "s_" names: an aggregate may not share its name with the column it sums.
    aggregates = {"s_" + name: Sum(name) for name in COUNTERS}
    aggregates["s_openai_fallbacks"] = Sum("successes", filter=Q(provider=Provider.OPENAI))
    return _grouped(query, groups, aggregates)


def _raw_rows(start: datetime, end: datetime, by: tuple[str, ...], provider: str | None):
    query = UsageLog.objects.filter(created_at__gte=start, created_at__lt=end)
    if provider:
        query = query.filter(provider=provider)
    groups = {}
    for name in by:
        if name == "hour":
            groups["g_hour"] = TruncHour("created_at")
        elif name == "day":
            groups["g_day"] = TruncDate("created_at")
        else:
            groups["g_" + name] = _field(name)
    return _grouped(query, groups, raw_aggregates())


def _grouped(query, groups: dict, aggregates: dict) -> list[dict]:
    if not groups:
        row = _ungroup(query.aggregate(**aggregates))
        return [row] if row.get("attempts") else []
    rows = query.annotate(**groups).values(*groups).annotate(**aggregates).order_by()
    return [_ungroup(row) for row in rows]


def _field(name: str):
    return F(_RAW_FIELDS[name])


def _ungroup(row: dict) -> dict:
    return {(k[2:] if k[:2] in ("g_", "s_") else k): v for k, v in row.items()}


def parse_window(text: str) -> timedelta:
    """'90m', '24h', '7d', '2w' -> timedelta; ValueError otherwise."""
    text = (text or "").strip().lower()
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise ValueError(f"{text!r} is not a duration like 30m, 24h, 7d or 2w")
    amount = int(text[:-1])
    if amount <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(**{units[text[-1]]: amount})


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)
