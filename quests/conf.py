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
    # A live run's task claimed longer ago than this is taken over by a redelivered task; a run
    # pending longer than this no longer counts as being written.
    "generation_stale_seconds": 90,
    # The progress page shows the archive mission after this many seconds without a live one.
    "live_wait_seconds": 10,
    # Live runs queued or being written at once; beyond this a launch is served at once.
    "live_max_in_flight": 2,
    # Missions that cost an LLM call (a live one, or a buffered one that is then refilled), as
    # rates ("count/period", period s, m, h or d; cosmosquest.throttle counts moving windows):
    # per guest session, per address (IPv4, or IPv6 /56) and per IPv6 /48 for guests; per account
    # (new accounts start at live_rate_new_player and grow with play) and per address and /48
    # for signed-in players.
    "live_rate_guest": "5/h",
    "live_rate_address": "20/h",
    "live_rate_network": "40/h",
    "live_rate_player": "30/h",
    "live_rate_new_player": "5/h",
    "live_rate_player_address": "60/h",
    "live_rate_player_network": "120/h",
    # An account is new (the lower quota, and the guests' headroom reserve) for this many hours.
    "new_player_hours": 24,
    # New accounts per address (IPv4, or IPv6 /56) and per IPv6 /48.
    "signup_rate_address": "3/d",
    "signup_rate_network": "6/d",
    # The sign-up form is refused when sent sooner than this after it was shown (no person fills
    # it in that fast) or later than signup_max_age_seconds (the page is stale; it is shown again).
    "signup_min_seconds": 3,
    "signup_max_age_seconds": 2 * 3600,
    # Guests go live only while the pool has more than this share of its limits free.
    "guest_min_headroom": 0.5,
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
    live_wait_seconds: int
    live_max_in_flight: int
    live_rate_guest: str
    live_rate_address: str
    live_rate_network: str
    live_rate_player: str
    live_rate_new_player: str
    live_rate_player_address: str
    live_rate_player_network: str
    new_player_hours: int
    signup_rate_address: str
    signup_rate_network: str
    signup_min_seconds: int
    signup_max_age_seconds: int
    guest_min_headroom: float
    xp_cap_per_quest_per_day: int
    daily_days_ahead: int


def game_settings() -> GameSettings:
    overrides = getattr(settings, "QUESTS", {}) or {}
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"Unknown QUESTS setting(s): {', '.join(sorted(unknown))}")
    merged = {**DEFAULTS, **overrides}
    return GameSettings(**{f.name: merged[f.name] for f in fields(GameSettings)})
