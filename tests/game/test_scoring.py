"""XP, ranks and streaks."""

from __future__ import annotations

from datetime import date

from quests.services.scoring import PERFECT_BONUS, RANKS, XP_PER_CORRECT, rank_for, run_xp
from quests.services.streaks import StreakState, streak_on_play


def streak_after(*, last_played_on, streak_days, today):
    return streak_on_play(state=StreakState(streak_days, last_played_on, False, None), today=today).state.days


def test_ranks_run_from_cadet_to_fleet_admiral():
    assert RANKS[0][1] == "Cadet" and RANKS[-1][1] == "Fleet Admiral"
    floors = [floor for floor, _ in RANKS]
    assert floors == sorted(floors) and len(set(floors)) == len(floors)


def test_rank_for_xp_and_progress():
    assert rank_for(0).name == "Cadet"
    assert rank_for(49).name == "Cadet"
    assert rank_for(50).name == "Ensign"
    assert rank_for(100).progress == 50  # halfway from 50 to 150
    top = rank_for(10**6)
    assert top.name == "Fleet Admiral" and top.next_name is None and top.progress == 100


def test_run_xp_rewards_correct_answers_perfect_runs_and_streaks():
    assert run_xp(correct=0, total=3, streak_days=5) == 0
    assert run_xp(correct=2, total=3, streak_days=1) == 2 * XP_PER_CORRECT
    assert run_xp(correct=3, total=3, streak_days=1) == 3 * XP_PER_CORRECT + PERFECT_BONUS
    assert run_xp(correct=1, total=3, streak_days=3) == XP_PER_CORRECT + 4
    assert run_xp(correct=1, total=3, streak_days=100) == XP_PER_CORRECT + 10  # capped


def test_streak_counts_consecutive_days():
    today = date(2026, 3, 10)
    assert streak_after(last_played_on=None, streak_days=0, today=today) == 1
    assert streak_after(last_played_on=today, streak_days=4, today=today) == 4
    assert streak_after(last_played_on=date(2026, 3, 9), streak_days=4, today=today) == 5
    assert streak_after(last_played_on=date(2026, 3, 7), streak_days=4, today=today) == 1
