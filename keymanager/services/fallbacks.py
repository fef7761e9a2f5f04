"""Curated-content fallbacks: what callers of complete() served themselves when the pool could not.

The pool knows when it could not serve (PoolExhausted) but not what its caller did next, and it
must not read the caller's tables. A caller that serves its own content (the game's archive)
registers a counter here at start-up; usage reports, the dashboard and the daily mail add up
what the registered counters return. With no counter registered the figure is unknown (None).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

# counter(since=..., until=..., by=None | "day" | "quest") -> {group: count}; the group is ()
# for by=None, (date,) by day and (quest number,) by quest. A counter that cannot group by
# `by` returns {}.
FallbackCounter = Callable[..., dict[tuple, int]]
GROUPINGS = (None, "day", "quest")

_counters: list[FallbackCounter] = []


def register_fallback_counter(counter: FallbackCounter) -> None:
    """Add a caller's counter of the fallbacks it served (idempotent: safe in AppConfig.ready)."""
    if counter not in _counters:
        _counters.append(counter)


def curated_fallbacks(*, since: datetime, until: datetime, by: str | None = None) -> dict[tuple, int]:
    """Fallbacks served in [since, until) by every registered caller, per group; {} when no
    caller registered a counter (or `by` is a grouping they do not know)."""
    if by not in GROUPINGS:
        return {}
    totals: dict[tuple, int] = {}
    for counter in _counters:
        for group, count in counter(since=since, until=until, by=by).items():
            totals[group] = totals.get(group, 0) + count
    if by is None and _counters:
        totals.setdefault((), 0)
    return totals
