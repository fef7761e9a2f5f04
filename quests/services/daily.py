"""The daily mission: one mission per day, the same for every player, with its own leaderboard.

A django-q2 task (`quests.tasks.prepare_daily`) writes the coming days' missions ahead with
the LLM; players are served from those stored missions and never wait on the LLM. When no
mission was written in time (no keys, pool exhausted), the first player of the day fixes one
from the curated archive, picked by the date, so everyone still shares one mission.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from quests.conf import game_settings
from quests.models import DailyMission, Player, Quest, QuestRun, RunSource, RunStatus, Tier
from quests.services.archive import archive_entries
from quests.services.content import content_fields
from quests.services.generation import generate_content

logger = logging.getLogger("quests")

# Every player can fly the daily mission, so it is written at the tier every player has.
DAILY_TIER = Tier.CADET


def daily_quest(*, day: date) -> Quest:
    """The quest of a day: the enabled quests take turns."""
    quests = list(Quest.objects.filter(enabled=True).order_by("number"))
    if not quests:
        raise LookupError("No quest is enabled.")
    return quests[day.toordinal() % len(quests)]


def _store(*, day: date, fields: dict) -> DailyMission:
    """Keep the first mission stored for the day; a concurrent writer's loses, harmlessly."""
    try:
        with transaction.atomic():
            return DailyMission.objects.create(day=day, **fields)
    except IntegrityError:
        return DailyMission.objects.get(day=day)


def daily_prepare(*, day: date) -> DailyMission | None:
    """Write the day's mission with the LLM unless it exists. None when the pool could not
    (the archive covers that day). Calls the pool outside any transaction."""
    existing = DailyMission.objects.filter(day=day).first()
    if existing is not None:
        return existing
    quest = daily_quest(day=day)
    generated = generate_content(quest=quest, purpose="quest-daily", tier=DAILY_TIER)
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
            "model": generated.model,
            "request_id": generated.request_id,
        },
    )


@dataclass
class DailyReport:
    ready: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def daily_prepare_ahead(*, today: date | None = None) -> DailyReport:
    """Today's mission (if still missing) and the next `daily_days_ahead` days'."""
    today = today or timezone.localdate()
    report = DailyReport()
    for offset in range(game_settings().daily_days_ahead + 1):
        day = today + timedelta(days=offset)
        (report.ready if daily_prepare(day=day) else report.missing).append(day.isoformat())
    return report


def daily_today(*, day: date | None = None) -> DailyMission:
    """The day's mission: the one written ahead, else an archive mission chosen by the date."""
    day = day or timezone.localdate()
    existing = DailyMission.objects.filter(day=day).select_related("quest").first()
    if existing is not None:
        return existing
    quest = daily_quest(day=day)
    entries = archive_entries(quest_number=quest.number, tier=DAILY_TIER)
    entry = random.Random(day.toordinal()).choice(entries)
    mission = _store(
        day=day,
        fields={
            "quest": quest,
            "tier": DAILY_TIER,
            "source": RunSource.ARCHIVE,
            "title": entry.content.title,
            "briefing": entry.content.briefing,
            "questions": entry.content.questions,
            "archive_ref": entry.ref,
        },
    )
    logger.info("daily mission of %s served from the archive (%s)", day, entry.ref)
    return mission


def daily_start(*, player: Player, day: date | None = None) -> QuestRun:
    """The player's copy of the day's mission: options in their own order, played once."""
    mission = daily_today(day=day)
    mine = QuestRun.objects.filter(player=player, daily=mission).first()
    if mine is not None:
        return mine
    try:
        with transaction.atomic():
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
                **content_fields(
                    {"title": mission.title, "briefing": mission.briefing, "questions": mission.questions}
                ),
            )
    except IntegrityError:  # a second click raced the first
        return QuestRun.objects.get(player=player, daily=mission)
