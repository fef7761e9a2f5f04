"""The game's settings: `QUESTS` in Django settings overrides these defaults, key by key."""

from __future__ import annotations

from dataclasses import dataclass, fields

from django.conf import settings

DEFAULTS = {
    # Fresh runs kept ready per quest by the prefetch task.
    "buffer_size": 3,
    # Most runs one prefetch task generates, over all quests, so a refill never floods the pool.
    "refills_per_run": 5,
    # Prefetch only while the best organization has more than this share of its limits left,
    # so players' live calls always find headroom first.
    "prefetch_min_headroom": 0.5,
    # Minutes between scheduled refills.
    "refill_every_minutes": 1,
    # Enqueue a refill when a player takes a buffered run (debounced per quest).
    "refill_on_serve": True,
    "refill_debounce_seconds": 30,
    # A live generation claimed longer ago than this is taken over by the next request.
    "generation_stale_seconds": 90,
    # Most XP one player can earn on one quest in one day (the daily mission aside).
    "xp_cap_per_quest_per_day": 150,
    # Days ahead the daily mission is generated (today included when it is missing).
    "daily_days_ahead": 1,
}


@dataclass(frozen=True)
class GameSettings:
    buffer_size: int
    refills_per_run: int
    prefetch_min_headroom: float
    refill_every_minutes: int
    refill_on_serve: bool
    refill_debounce_seconds: int
    generation_stale_seconds: int
    xp_cap_per_quest_per_day: int
    daily_days_ahead: int


def game_settings() -> GameSettings:
    overrides = getattr(settings, "QUESTS", {}) or {}
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"Unknown QUESTS setting(s): {', '.join(sorted(unknown))}")
    merged = {**DEFAULTS, **overrides}
    return GameSettings(**{f.name: merged[f.name] for f in fields(GameSettings)})
