"""Reads for the game's pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from quests.models import DailyMission, Player, Quest, QuestRun, RunSource, RunStatus, Tier
from quests.services.scoring import streak_current


@dataclass(frozen=True)
class QuestCard:
    quest: Quest
    plays: int
    best: int | None
    open_run_id: int | None
    # Tiers of this quest the player has flown a perfect mission on: the planet's badges.
    badges: list[str] = field(default_factory=list)

    @property
    def completed(self) -> bool:
        return self.plays > 0

    @property
    def mastered(self) -> bool:
        return self.best == 3


def _perfect_tiers(*, player: Player | None, quest: Quest | None = None) -> dict[int, list[str]]:
    """quest id -> tiers (in tier order) with at least one perfect mission of this player."""
    if player is None:
        return {}
    runs = QuestRun.objects.filter(player=player, status=RunStatus.ANSWERED, correct_count=3)
    if quest is not None:
        runs = runs.filter(quest=quest)
    found: dict[int, set[str]] = {}
    for quest_id, tier in runs.values_list("quest_id", "tier").distinct():
        found.setdefault(quest_id, set()).add(tier)
    return {qid: [t for t in Tier.values if t in tiers] for qid, tiers in found.items()}


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
            player=player, status__in=[RunStatus.PENDING, RunStatus.READY], daily__isnull=True
        ).values_list("quest_id", "id"):
            open_runs[quest_id] = run_id
    badges = _perfect_tiers(player=player)
    return [
        QuestCard(
            quest=q,
            plays=stats.get(q.pk, {}).get("plays", 0),
            best=stats.get(q.pk, {}).get("best"),
            open_run_id=open_runs.get(q.pk),
            badges=badges.get(q.pk, []),
        )
        for q in quests
    ]


def quest_badges(*, player: Player | None, quest: Quest) -> list[str]:
    return _perfect_tiers(player=player, quest=quest).get(quest.pk, [])


def player_badges(*, player: Player) -> list[dict]:
    """Every quest with the tiers the player has a perfect mission on (for the profile)."""
    found = _perfect_tiers(player=player)
    return [{"quest": q, "tiers": found.get(q.pk, [])} for q in Quest.objects.filter(enabled=True).order_by("number")]


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


def player_streak(*, player: Player) -> int:
    """Days in a row played, as it stands today (0 once a day was missed)."""
    return streak_current(
        last_played_on=player.last_played_on, streak_days=player.streak_days, today=timezone.localdate()
    )


def play_calendar(*, player: Player, days: int = 14) -> list[dict]:
    """The last `days` days, oldest first, each with whether the player answered a mission."""
    today = timezone.localdate()
    start = today - timedelta(days=days - 1)
    played: set[date] = set(
        QuestRun.objects.filter(player=player, status=RunStatus.ANSWERED, answered_at__date__gte=start)
        .annotate(day=TruncDate("answered_at"))
        .values_list("day", flat=True)
        .distinct()
    )
    return [
        {"day": day, "played": day in played, "today": day == today}
        for day in (start + timedelta(days=i) for i in range(days))
    ]


# --- the daily mission ----------------------------------------------------------------------

_TIME_TAKEN = ExpressionWrapper(F("answered_at") - F("served_at"), output_field=DurationField())


def _daily_ranked(mission: DailyMission):
    return (
        QuestRun.objects.filter(daily=mission, status=RunStatus.ANSWERED)
        .annotate(time_taken=_TIME_TAKEN)
        .order_by("-correct_count", "time_taken", "answered_at", "pk")
    )


def daily_leaderboard(*, mission: DailyMission, limit: int = 25) -> list[QuestRun]:
    """Today's pilots: most correct answers first, then the quickest."""
    return list(_daily_ranked(mission).select_related("player")[:limit])


def daily_run(*, mission: DailyMission, player: Player | None) -> QuestRun | None:
    if player is None:
        return None
    return QuestRun.objects.filter(daily=mission, player=player).first()


def daily_position(*, run: QuestRun) -> int | None:
    if run.daily_id is None or run.status != RunStatus.ANSWERED:
        return None
    ids = list(_daily_ranked(run.daily).values_list("pk", flat=True))
    return ids.index(run.pk) + 1 if run.pk in ids else None


def daily_card(*, player: Player | None) -> dict | None:
    """Today's mission for the star map, if one is stored yet (looking never creates one)."""
    mission = DailyMission.objects.filter(day=timezone.localdate()).select_related("quest").first()
    if mission is None:
        return {"mission": None, "run": None}
    return {"mission": mission, "run": daily_run(mission=mission, player=player)}


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
