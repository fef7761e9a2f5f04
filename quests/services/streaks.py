"""Streaks and the streak freeze: the rule of "days in a row" in one place.

A streak counts the days in a row with at least one answered mission (UTC days). A 7-day streak
(and every 7 days after) earns a *streak freeze*, if the player holds none: one is held at a
time. When a single day is missed, the freeze is used automatically the next time the player
plays: the streak goes on as if the missed day had been played (it does not add a day), and
the profile marks that day as frozen. Two missed days in a row end the streak, and a freeze
that could not save it is kept for next time, so coming back is never punished twice.

Used lazily, when the player next plays or a page shows the streak, so it is correct across
workers and hosts without a nightly job: grading reads and writes it under the player's row lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

FREEZE_EVERY_DAYS = 7


@dataclass(frozen=True)
class StreakState:
    """A player's streak fields (Player.streak_days, last_played_on, streak_freeze_*)."""

    days: int
    last_played_on: date | None
    freeze_held: bool
    freeze_used_on: date | None


@dataclass(frozen=True)
class StreakUpdate:
    state: StreakState
    freeze_earned: bool = False
    freeze_used: bool = False


def _freeze_covers(state: StreakState, today: date) -> bool:
    """Whether the held freeze saves the streak today: exactly one day was missed."""
    return state.freeze_held and state.days > 0 and state.last_played_on == today - timedelta(days=2)


def streak_on_play(*, state: StreakState, today: date) -> StreakUpdate:
    """The streak once the player answers a mission today."""
    if state.last_played_on == today:
        return StreakUpdate(state=StreakState(max(state.days, 1), today, state.freeze_held, state.freeze_used_on))
    held, used_on, used = state.freeze_held, state.freeze_used_on, False
    if state.last_played_on == today - timedelta(days=1):
        days = state.days + 1
    elif _freeze_covers(state, today):
        days, held, used_on, used = state.days + 1, False, today - timedelta(days=1), True
    else:
        days = 1
    earned = not held and days % FREEZE_EVERY_DAYS == 0
    return StreakUpdate(
        state=StreakState(days, today, held or earned, used_on), freeze_earned=earned, freeze_used=used
    )


def streak_current(*, state: StreakState, today: date) -> int:
    """The streak as it stands today: kept while the player played today or yesterday, or
    the day before with a freeze to cover yesterday; 0 once it is lost."""
    if state.last_played_on is None:
        return 0
    if state.last_played_on >= today - timedelta(days=1) or _freeze_covers(state, today):
        return state.days
    return 0


def freeze_covering_yesterday(*, state: StreakState, today: date) -> bool:
    """True when yesterday was missed and the held freeze will cover it once the player plays."""
    return _freeze_covers(state, today)


def state_of(player) -> StreakState:
    return StreakState(
        days=player.streak_days,
        last_played_on=player.last_played_on,
        freeze_held=player.streak_freeze_held,
        freeze_used_on=player.streak_freeze_used_on,
    )
