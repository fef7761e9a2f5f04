"""Reads for the game's pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, Max, Q
from django.db.models.functions import TruncDate

from quests.models import Player, Quest, QuestRun, RunSource, RunStatus


@dataclass(frozen=True)
class QuestCard:
    quest: Quest
    plays: int
    best: int | None
    open_run_id: int | None

    @property
    def completed(self) -> bool:
        return self.plays > 0

    @property
    def mastered(self) -> bool:
        return self.best == 3


def star_map(*, player: Player | None) -> list[QuestCard]:
    quests = list(Quest.objects.filter(enabled=True).order_by("number"))
    stats: dict[int, dict] = {}
    open_runs: dict[int, int] = {}
    if player is not None:
        for row in (
            QuestRun.objects.filter(player=player, status=RunStatus.ANSWERED)
            .values("quest_id")
            .annotate(plays=Count("id"), best=Max("correct_count"))
        ):
            stats[row["quest_id"]] = row
        for quest_id, run_id in QuestRun.objects.filter(
            player=player, status__in=[RunStatus.PENDING, RunStatus.READY]
        ).values_list("quest_id", "id"):
            open_runs[quest_id] = run_id
    return [
        QuestCard(
            quest=q,
            plays=stats.get(q.pk, {}).get("plays", 0),
            best=stats.get(q.pk, {}).get("best"),
            open_run_id=open_runs.get(q.pk),
        )
        for q in quests
    ]


def next_quest(*, player: Player | None, after: Quest | None = None) -> Quest | None:
    """The next quest to suggest: the first never played after `after`, else the next in order."""
    quests = list(Quest.objects.filter(enabled=True).order_by("number"))
    if not quests:
        return None
    played = set()
    if player is not None:
        played = set(
            QuestRun.objects.filter(player=player, status=RunStatus.ANSWERED).values_list("quest_id", flat=True)
        )
    start = next((i + 1 for i, q in enumerate(quests) if after and q.pk == after.pk), 0)
    ordered = quests[start:] + quests[:start]
    return next((q for q in ordered if q.pk not in played), ordered[0])


def leaderboard(*, limit: int = 25):
    return Player.objects.filter(xp__gt=0).order_by("-xp", "id")[:limit]


def player_position(*, player: Player) -> int | None:
    if player.xp <= 0:
        return None
    return Player.objects.filter(Q(xp__gt=player.xp) | Q(xp=player.xp, id__lt=player.id)).count() + 1


def player_history(*, player: Player, limit: int = 20):
    return (
        QuestRun.objects.filter(player=player, status=RunStatus.ANSWERED)
        .select_related("quest")
        .order_by("-answered_at")[:limit]
    )


def archive_serves(*, since: datetime, until: datetime, by: str | None = None) -> dict[tuple, int]:
    """Runs served from the curated archive in [since, until): the game's fallback when the key
    pool cannot serve. Registered with the pool's reports (quests/apps.py); grouped by "day"
    or "quest" (number), or {(): n} for the whole range."""
    runs = QuestRun.objects.filter(source=RunSource.ARCHIVE, created_at__gte=since, created_at__lt=until)
    if by is None:
        return {(): runs.count()}
    if by == "day":
        rows = runs.annotate(g=TruncDate("created_at")).values("g").annotate(n=Count("id")).order_by()
    elif by == "quest":
        rows = runs.values(g=F("quest__number")).annotate(n=Count("id")).order_by()
    else:
        return {}
    return {(row["g"],): row["n"] for row in rows}
