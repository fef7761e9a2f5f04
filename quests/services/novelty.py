"""Never the same content twice while new content exists: the one rule every hand-out follows.

A mission's content has an identity, its `content_key` (services.xp: the questions and their
right answers, whatever the options' order). The buffer, the archive, a live mission and the
daily mission all ask here which identities a player already has, and skip them while there is
content the player has not flown. "Has" means any run the player holds, answered or still
open, so two open missions never share a content either.

One more key is held back: today's daily mission, until the player has flown it, so an
ordinary mission never spoils the daily that everyone shares.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db.models import Max
from django.utils import timezone

from quests.models import DailyMission, QuestRun
from quests.services.archive import ArchiveEntry, archive_entries
from quests.services.xp import content_key


def flown_keys(*, player_id: int | None, quest_id: int | None = None) -> set[str]:
    """Content keys of every run this player holds (of one quest, or all)."""
    if player_id is None:
        return set()
    runs = QuestRun.objects.filter(player_id=player_id).exclude(content_key="")
    if quest_id is not None:
        runs = runs.filter(quest_id=quest_id)
    return set(runs.values_list("content_key", flat=True).distinct())


def has_flown(*, player_id: int | None, key: str, except_run_id: int | None = None) -> bool:
    """Whether the player holds a run of this content (other than `except_run_id`)."""
    if player_id is None or not key:
        return False
    return QuestRun.objects.filter(player_id=player_id, content_key=key).exclude(pk=except_run_id).exists()


def daily_keys(*, quest_id: int) -> set[str]:
    """Today's daily contents on this quest (every variant): held back from ordinary hand-outs."""
    today = DailyMission.objects.filter(day=timezone.localdate(), quest_id=quest_id).exclude(content_key="")
    return set(today.values_list("content_key", flat=True))


def last_flown(*, player_id: int | None, keys: Iterable[str]) -> dict[str, datetime]:
    """When the player last got each of these contents."""
    if player_id is None:
        return {}
    rows = (
        QuestRun.objects.filter(player_id=player_id, content_key__in=list(keys))
        .values("content_key")
        .annotate(last=Max("created_at"))
        .order_by()
    )
    return {row["content_key"]: row["last"] for row in rows}


def entry_key(entry: ArchiveEntry) -> str:
    return content_key(entry.content.questions)


def archive_choose(
    *,
    player_id: int | None,
    quest_number: int,
    tier: str,
    flown: set[str],
    held_back: set[str] = frozenset(),
    rng: random.Random | None = None,
) -> tuple[ArchiveEntry, bool]:
    """(entry, new to the player): at random, an entry the player has not flown and that is not
    held back (today's daily); else one held back but not flown; once all are flown, the one
    flown longest ago (a repeat: practice, 0 XP)."""
    rng = rng or random.Random()
    entries = archive_entries(quest_number=quest_number, tier=tier)
    if not entries:
        raise LookupError(f"The archive has no {tier} runs for quest {quest_number}.")
    unflown = [e for e in entries if entry_key(e) not in flown]
    fresh = [e for e in unflown if entry_key(e) not in held_back]
    if fresh or unflown:
        return rng.choice(fresh or unflown), True
    return least_recent(player_id=player_id, entries=entries), False


def least_recent(*, player_id: int | None, entries: Sequence[ArchiveEntry]) -> ArchiveEntry:
    when = last_flown(player_id=player_id, keys=[entry_key(e) for e in entries])
    never = datetime.min.replace(tzinfo=timezone.get_current_timezone())
    return min(entries, key=lambda e: (when.get(entry_key(e), never), e.ref))
