"""Reads for the game's pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, F, Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from quests.conf import game_settings
from quests.models import DailyMission, Player, Quest, QuestRun, RunSource, RunStatus, Tier
from quests.services.archive import archive_entries
from quests.services.novelty import entry_key
from quests.services.scoring import PERFECT_BONUS, TIER_XP_FACTOR, XP_PER_CORRECT, run_xp
from quests.services.streaks import freeze_covering_yesterday, state_of, streak_current, streak_on_play
from quests.services.xp import xp_used_today


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
    """Days in a row played, as it stands today (0 once the streak is lost; a held freeze
    keeps it over one missed day)."""
    return streak_current(state=state_of(player), today=timezone.localdate())


def streak_freeze(*, player: Player) -> dict:
    """The profile's freeze line: held or not, covering yesterday, last day it covered."""
    state = state_of(player)
    return {
        "held": player.streak_freeze_held,
        "covering_yesterday": freeze_covering_yesterday(state=state, today=timezone.localdate()),
        "used_on": player.streak_freeze_used_on,
    }


def play_calendar(*, player: Player, days: int = 14) -> list[dict]:
    """The last `days` days, oldest first, each with whether the player answered a mission
    (or a streak freeze covered it)."""
    today = timezone.localdate()
    start = today - timedelta(days=days - 1)
    played: set[date] = set(
        QuestRun.objects.filter(player=player, status=RunStatus.ANSWERED, answered_at__date__gte=start)
        .annotate(day=TruncDate("answered_at"))
        .values_list("day", flat=True)
        .distinct()
    )
    return [
        {"day": day, "played": day in played, "frozen": day == player.streak_freeze_used_on, "today": day == today}
        for day in (start + timedelta(days=i) for i in range(days))
    ]


# --- the quest page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FlownMission:
    """One content the player has flown on a quest, with their latest run of it."""

    run_id: int
    title: str
    tier: str
    times: int
    best: int
    xp: int
    last_at: datetime


def flown_missions(*, player: Player | None, quest: Quest, limit: int = 12) -> tuple[list[FlownMission], int]:
    """(the most recently flown contents, how many contents in all) of this player on a quest."""
    if player is None:
        return [], 0
    groups = (
        QuestRun.objects.filter(player=player, quest=quest, status=RunStatus.ANSWERED)
        .values("content_key")
        .annotate(times=Count("id"), best=Max("correct_count"), xp=Sum("xp_awarded"), last=Max("answered_at"), run_id=Max("id"))
        .order_by("-last")
    )
    total = groups.count()
    rows = list(groups[:limit])
    runs = {r.pk: r for r in QuestRun.objects.filter(pk__in=[row["run_id"] for row in rows]).only("pk", "title", "tier")}
    missions = [
        FlownMission(
            run_id=row["run_id"],
            title=runs[row["run_id"]].title,
            tier=runs[row["run_id"]].tier,
            times=row["times"],
            best=row["best"] or 0,
            xp=row["xp"] or 0,
            last_at=row["last"],
        )
        for row in rows
    ]
    return missions, total


def xp_left_today(*, player: Player | None, quest: Quest) -> int:
    """XP this quest can still pay the player today under the per-quest daily cap."""
    cap = game_settings().xp_cap_per_quest_per_day
    if player is None:
        return cap
    return max(0, cap - xp_used_today(player_id=player.pk, quest_id=quest.pk, day=timezone.localdate()))


def archive_new_counts(*, player: Player | None, quest: Quest) -> dict[str, dict[str, int]]:
    """Per tier: archive missions in all, and how many of them the player has not flown."""
    flown: set[str] = set()
    if player is not None:
        flown = set(
            QuestRun.objects.filter(player=player, quest=quest).exclude(content_key="").values_list("content_key", flat=True)
        )
    counts = {}
    for tier in Tier.values:
        keys = [entry_key(e) for e in archive_entries(quest_number=quest.number, tier=tier)]
        counts[tier] = {"total": len(keys), "new": sum(1 for k in keys if k not in flown)}
    return counts


def run_is_practice(*, run: QuestRun) -> bool:
    """Whether this run's content was flown before by its player: it pays 0 XP (a replay, or
    the same mission served again when nothing new was left)."""
    if run.player_id is None or not run.content_key:
        return False
    return (
        QuestRun.objects.filter(player_id=run.player_id, content_key=run.content_key, created_at__lt=run.created_at)
        .exclude(pk=run.pk)
        .exists()
    )


# --- the daily mission ----------------------------------------------------------------------


@dataclass(frozen=True)
class XpOffer:
    """What a mission pays this player if flown now: the most (all answers right), and its parts."""

    most: int
    per_correct: int
    perfect_bonus: int
    streak_bonus: int
    practice: bool  # the player has flown it: 0 XP


def xp_offer(*, player: Player | None, tier: str, new: bool = True, questions: int = 3) -> XpOffer:
    factor = TIER_XP_FACTOR[Tier(tier)]
    streak = 1
    if player is not None:
        streak = streak_on_play(state=state_of(player), today=timezone.localdate()).state.days
    plain = run_xp(correct=questions, total=questions, streak_days=1, tier=tier)
    most = run_xp(correct=questions, total=questions, streak_days=streak, tier=tier)
    return XpOffer(
        most=most if new else 0,
        per_correct=round(XP_PER_CORRECT * factor),
        perfect_bonus=round(PERFECT_BONUS * factor),
        streak_bonus=most - plain,
        practice=not new,
    )


_BOARD_ORDER = ("-correct_count", "seconds_taken", "answered_at", "pk")


def _board_key(run: QuestRun) -> tuple:
    return (-(run.correct_count or 0), run.seconds_taken if run.seconds_taken is not None else 10**9,
            run.answered_at, run.pk)


def daily_leaderboard(*, mission: DailyMission, limit: int = 25) -> list[QuestRun]:
    """The day's pilots, every variant on one board: most correct answers first, then the
    quickest. Each variant's best come from its index; the few lists are merged here."""
    best: list[QuestRun] = []
    for daily_id in DailyMission.objects.filter(day=mission.day).values_list("pk", flat=True):
        best += (
            QuestRun.objects.filter(daily_id=daily_id, status=RunStatus.ANSWERED)
            .order_by(*_BOARD_ORDER)
            .select_related("player")
            .only("pk", "player_id", "player__callsign", "correct_count", "seconds_taken", "answered_at")[:limit]
        )
    return sorted(best, key=_board_key)[:limit]


def daily_run(*, mission: DailyMission, player: Player | None) -> QuestRun | None:
    """The player's daily run of that day (of whichever variant they fly)."""
    if player is None:
        return None
    return QuestRun.objects.filter(daily__day=mission.day, player=player).select_related("daily").first()


def daily_position(*, run: QuestRun) -> int | None:
    """The run's place on its day's board: one more than the runs ranked ahead of it."""
    if run.daily_id is None or run.status != RunStatus.ANSWERED:
        return None
    correct, taken = run.correct_count, run.seconds_taken if run.seconds_taken is not None else 10**9
    ahead = QuestRun.objects.filter(daily__day=run.daily.day, status=RunStatus.ANSWERED).filter(
        Q(correct_count__gt=correct)
        | Q(correct_count=correct, seconds_taken__lt=taken)
        | Q(correct_count=correct, seconds_taken=taken, answered_at__lt=run.answered_at)
        | Q(correct_count=correct, seconds_taken=taken, answered_at=run.answered_at, pk__lt=run.pk)
    )
    return ahead.count() + 1


def daily_card(*, player: Player | None) -> dict | None:
    """Today's mission for the star map, if one is stored yet (looking never creates one)."""
    mission = DailyMission.objects.filter(day=timezone.localdate(), variant=0).select_related("quest").first()
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
