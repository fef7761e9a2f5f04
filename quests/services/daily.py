"""The daily mission: one mission per day, the same for every player, with its own leaderboard.

A django-q2 task (`quests.tasks.prepare_daily`) writes the coming days' missions ahead with
the LLM; players are served from those stored missions and never wait on the LLM. When no
mission was written in time (no keys, pool exhausted), the first player of the day fixes one
from the curated archive, so everyone still shares one mission.

Everyone's daily is one the player has not flown (services.novelty), decided like this:
- the day's mission is chosen to be new to as many players as possible: a written mission that
  repeats content some player holds gets one more try; when the model cannot write today's, the
  hourly task fixes the archive mission the fewest players have flown (ties settled by the date,
  never one of the last days' dailies). Counting that reads every run of those contents (about a
  second with a million runs), so a player who finds no mission fixed (no cluster running) gets
  one picked by the date among those not used lately, at once;
- ordinary hand-outs hold today's daily back, so playing a quest never spoils it;
- a player who has flown it anyway (an archive mission flown before it became the daily) gets
  the day's *alternative*: another archive mission of the same quest and tier, stored as
  variant 1 (2, ...) of the day so that every such player shares it, on the same leaderboard;
- a player who has flown every candidate flies variant 0 as practice (0 XP), and is told so
  before launching.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from quests.conf import game_settings
from quests.models import DailyMission, Player, Quest, QuestRun, RunSource, RunStatus, Tier
from quests.services.archive import ArchiveEntry, archive_entries
from quests.services.content import content_fields
from quests.services.generation import generate_content
from quests.services.novelty import entry_key, flown_keys
from quests.services.xp import content_key

logger = logging.getLogger("quests")

# Every player can fly the daily mission, so it is written at the tier every player has.
DAILY_TIER = Tier.CADET
# An archive daily is never one of the dailies of this many days before.
RECENT_DAYS = 30


def daily_quest(*, day: date) -> Quest:
    """The quest of a day: the enabled quests take turns."""
    quests = list(Quest.objects.filter(enabled=True).order_by("number"))
    if not quests:
        raise LookupError("No quest is enabled.")
    return quests[day.toordinal() % len(quests)]


def next_daily_at(*, now: datetime | None = None) -> datetime:
    """When the next daily mission starts: the coming midnight (UTC, the game's day)."""
    now = timezone.localtime(now)
    return timezone.make_aware(datetime.combine(now.date() + timedelta(days=1), time.min), now.tzinfo)


def _store(*, day: date, variant: int = 0, fields: dict) -> DailyMission:
    """Keep the first mission stored for the day's variant; a concurrent writer's loses, harmlessly."""
    try:
        with transaction.atomic():
            return DailyMission.objects.create(day=day, variant=variant, **fields)
    except IntegrityError:
        return DailyMission.objects.select_related("quest").get(day=day, variant=variant)


def _flown_by_anyone(keys: list[str]) -> dict[str, int]:
    """Content key -> players holding a run of it."""
    rows = (
        QuestRun.objects.filter(content_key__in=keys, player__isnull=False)
        .values("content_key")
        .annotate(players=Count("player_id", distinct=True))
        .order_by()
    )
    return {row["content_key"]: row["players"] for row in rows}


def daily_prepare(*, day: date) -> DailyMission | None:
    """Write the day's mission with the LLM unless it exists. None when the pool could not
    (the archive covers that day). Calls the pool outside any transaction."""
    existing = DailyMission.objects.filter(day=day, variant=0).first()
    if existing is not None:
        return existing
    quest = daily_quest(day=day)
    generated = None
    for _attempt in range(2):  # a mission some player already holds gets one more try
        generated = generate_content(quest=quest, purpose="quest-daily", tier=DAILY_TIER)
        if generated is None or not _flown_by_anyone([content_key(generated.content.questions)]):
            break
    if generated is None:
        logger.info("daily mission of %s: no valid run from the pool; the archive covers it", day)
        return None
    content = generated.content
    return _store(
        day=day,
        fields={
            "quest": quest,
            "tier": DAILY_TIER,
            "source": RunSource.BUFFER,
            "title": content.title,
            "briefing": content.briefing,
            "questions": content.questions,
            "content_key": content_key(content.questions),
            "model": generated.model,
            "request_id": generated.request_id,
        },
    )


@dataclass
class DailyReport:
    ready: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # the model could not write these days'
    archive: list[str] = field(default_factory=list)  # fixed from the archive (today only)


def daily_prepare_ahead(*, today: date | None = None) -> DailyReport:
    """Today's mission (if still missing) and the next `daily_days_ahead` days', written by the
    model; today's from the archive when the model cannot (a later day waits for a later try)."""
    today = today or timezone.localdate()
    report = DailyReport()
    for offset in range(game_settings().daily_days_ahead + 1):
        day = today + timedelta(days=offset)
        if daily_prepare(day=day):
            report.ready.append(day.isoformat())
            continue
        report.missing.append(day.isoformat())
        if day == today:
            daily_today(day=day, count_players=True)
            report.archive.append(day.isoformat())
    return report


def _archive_fields(entry: ArchiveEntry, quest: Quest) -> dict:
    return {
        "quest": quest,
        "tier": DAILY_TIER,
        "source": RunSource.ARCHIVE,
        "title": entry.content.title,
        "briefing": entry.content.briefing,
        "questions": entry.content.questions,
        "content_key": entry_key(entry),
        "archive_ref": entry.ref,
    }


def daily_today(*, day: date | None = None, count_players: bool = False) -> DailyMission:
    """Everyone's mission of the day: the one written or fixed ahead, else an archive mission of
    the day's quest, fixed now: the one the fewest players have flown when `count_players` (the
    hourly task), else picked by the date (a page, which must not wait on that count). Never one
    of the last days' dailies while the quest has others."""
    day = day or timezone.localdate()
    existing = DailyMission.objects.filter(day=day, variant=0).select_related("quest").first()
    if existing is not None:
        return existing
    quest = daily_quest(day=day)
    recent = set(
        DailyMission.objects.filter(day__gte=day - timedelta(days=RECENT_DAYS), day__lt=day).values_list(
            "content_key", flat=True
        )
    )
    entries = archive_entries(quest_number=quest.number, tier=DAILY_TIER)
    entries = [e for e in entries if entry_key(e) not in recent] or entries
    players = _flown_by_anyone([entry_key(e) for e in entries]) if count_players else {}
    order = random.Random(day.toordinal())
    ties = {e.ref: order.random() for e in entries}
    entry = min(entries, key=lambda e: (players.get(entry_key(e), 0), ties[e.ref]))
    mission = _store(day=day, fields=_archive_fields(entry, quest))
    logger.info("daily mission of %s served from the archive (%s)", day, entry.ref)
    return mission


@dataclass(frozen=True)
class DailyChoice:
    mission: DailyMission
    new: bool  # False: the player has flown every candidate; this one is practice (0 XP)


def daily_for(*, player: Player | None, day: date | None = None) -> DailyChoice:
    """The mission this player flies today: the one they have started, else everyone's daily if
    they have not flown it, else the day's first alternative new to them (created from the
    archive when none is)."""
    day = day or timezone.localdate()
    main = daily_today(day=day)
    if player is None:
        return DailyChoice(mission=main, new=True)
    mine = QuestRun.objects.filter(player=player, daily__day=day).select_related("daily__quest").first()
    if mine is not None:
        return DailyChoice(mission=mine.daily, new=not _flown_elsewhere(mine))
    flown = flown_keys(player_id=player.pk)
    variants = list(DailyMission.objects.filter(day=day).select_related("quest").order_by("variant"))
    for mission in variants:
        if mission.content_key not in flown:
            return DailyChoice(mission=mission, new=True)
    used = {m.content_key for m in variants}
    candidates = [
        e
        for e in archive_entries(quest_number=main.quest.number, tier=main.tier)
        if entry_key(e) not in flown and entry_key(e) not in used
    ]
    if not candidates:
        return DailyChoice(mission=main, new=False)
    # The same alternative for every player who needs one today: the date orders the archive.
    order = random.Random(day.toordinal() * 7 + len(variants))
    entry = order.choice(sorted(candidates, key=lambda e: e.ref))
    alternative = _store(day=day, variant=variants[-1].variant + 1, fields=_archive_fields(entry, main.quest))
    if alternative.content_key in flown:  # another player's alternative won the race: look again
        return daily_for(player=player, day=day)
    return DailyChoice(mission=alternative, new=True)


def _flown_elsewhere(run: QuestRun) -> bool:
    """Whether the player holds another run of this daily run's content, started before it."""
    return (
        QuestRun.objects.filter(player_id=run.player_id, content_key=run.content_key, created_at__lt=run.created_at)
        .exclude(pk=run.pk)
        .exists()
    )


def daily_start(*, player: Player, day: date | None = None) -> QuestRun:
    """The player's copy of their daily mission (daily_for): options in their own order, one a
    day. The player's row lock makes two clicks at once start one copy."""
    day = day or timezone.localdate()
    choice = daily_for(player=player, day=day)
    mission = choice.mission
    with transaction.atomic():
        Player.objects.select_for_update().filter(pk=player.pk).first()
        mine = QuestRun.objects.filter(player=player, daily__day=day).first()
        if mine is not None:
            return mine
        return QuestRun.objects.create(
            quest=mission.quest,
            tier=mission.tier,
            player=player,
            daily=mission,
            source=mission.source,
            status=RunStatus.READY,
            archive_ref=mission.archive_ref,
            model=mission.model,
            served_at=timezone.now(),
            **content_fields({"title": mission.title, "briefing": mission.briefing, "questions": mission.questions}),
        )
