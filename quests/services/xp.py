"""Fair play: how much of a run's earned XP counts.

Two rules, both read from the database inside the player's row lock (services.grading), so
they hold across workers and hosts:
- a mission's content (its questions and right answers, whatever the options' order) earns
  XP once per player: a replay, or the same mission served again, earns nothing;
- one quest pays at most `xp_cap_per_quest_per_day` XP per player per day (the daily mission,
  which each player plays once, is outside the cap).
A partial unique index (player, content_key) where XP was given backs the first rule.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime

from django.db.models import Q, Sum
from django.utils import timezone

from quests.conf import game_settings
from quests.models import QuestRun, RunStatus, XpNote


def _norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def content_key(questions: list[dict]) -> str:
    """The identity of a mission's content: its prompts with their right answers, in any order."""
    parts = sorted(f"{_norm(q['prompt'])}\x1f{_norm(q['options'][q['answer']])}" for q in questions)
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()


def xp_used_today(*, player_id: int, quest_id: int, day: date, exclude_run_id: int | None = None) -> int:
    """XP this player has been given on this quest on this day, outside daily missions."""
    runs = QuestRun.objects.filter(
        player_id=player_id,
        quest_id=quest_id,
        status=RunStatus.ANSWERED,
        daily__isnull=True,
        answered_at__date=day,
    )
    if exclude_run_id is not None:
        runs = runs.exclude(pk=exclude_run_id)
    return runs.aggregate(total=Sum("xp_awarded"))["total"] or 0


def xp_credit(*, player_id: int, run: QuestRun, earned: int, at: datetime) -> tuple[int, str]:
    """(XP that counts, why less) for `run` answered at `at`. Call it under the player's lock."""
    if earned <= 0:
        return 0, XpNote.NONE
    seen = (
        QuestRun.objects.filter(player_id=player_id, content_key=run.content_key, status=RunStatus.ANSWERED)
        .filter(Q(answered_at__lt=at) | Q(xp_awarded__gt=0))
        .exclude(pk=run.pk)
    )
    if run.content_key and seen.exists():
        return 0, XpNote.REPEAT
    if run.daily_id is not None:
        return earned, XpNote.NONE
    day = timezone.localdate(at)
    room = game_settings().xp_cap_per_quest_per_day - xp_used_today(
        player_id=player_id, quest_id=run.quest_id, day=day, exclude_run_id=run.pk
    )
    if earned > room:
        return max(0, room), XpNote.CAPPED
    return earned, XpNote.NONE
