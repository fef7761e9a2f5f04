"""Weekly leagues: the week's XP in groups of about 30 players, moving up and down on Monday.

- A week runs from Monday 00:00 to Sunday 24:00, UTC.
- A player joins a group of their division with their first XP of the week (a mission, the
  daily or a review): the group of that division and week with a free place, else a new one.
- When the week is over, each group is ranked by the week's XP (ties: who reached it first).
  The top 5 move up a division and the bottom 5 down (none above the highest or below the
  lowest); a group smaller than 15 moves about a third each way, so a lone player still
  climbs and nobody is both promoted and demoted. A player who skips a week keeps their division.

Closing a week is lazy and happens once: the first grading or leagues page of a new week (or
the django-q2 schedule `quests.close_leagues`) claims the week with a conditional update in
the same transaction that records the outcomes, so two workers never close it twice, and a
worker that dies midway leaves it for the next. XP joins under the player's row lock with
F() updates, so standings are right with any number of workers.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Max, Sum
from django.utils import timezone

from quests.models import LeagueGroup, LeagueMember, LeagueWeek, Player, QuestRun, ReviewAnswer, RunStatus
from quests.models_leagues import LeagueOutcome

logger = logging.getLogger("quests")

DIVISIONS = ["Meteor", "Comet", "Nebula", "Pulsar", "Quasar", "Supernova"]
GROUP_SIZE = 30
MOVERS = 5


def division_name(division: int) -> str:
    return DIVISIONS[max(1, min(division, len(DIVISIONS))) - 1]


def week_start(at: datetime | None = None) -> date:
    """The Monday (UTC) of the week `at` falls in."""
    day = (at or timezone.now()).astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def week_end(starts_on: date) -> datetime:
    """When the week that starts on this Monday is over: the next Monday, 00:00 UTC."""
    return datetime.combine(starts_on + timedelta(days=7), time.min, tzinfo=UTC)


@dataclass(frozen=True)
class Movers:
    up: int
    down: int


def movers(*, size: int, division: int) -> Movers:
    """How many of a group of `size` move up and down: 5 each way in a full group, about a
    third each way in a small one, nobody past the highest or lowest division."""
    up = min(MOVERS, (size + 2) // 3) if division < len(DIVISIONS) else 0
    down = min(MOVERS, size // 3) if division > 1 else 0
    return Movers(up=up, down=down)


def division_of(*, player_id: int, week: date) -> int:
    """The division a player plays in the week starting on `week`: where their last league
    week before it sent them (1 for a newcomer)."""
    last = (
        LeagueMember.objects.filter(player_id=player_id, week_starts_on__lt=week)
        .order_by("-week_starts_on")
        .values("division", "next_division")
        .first()
    )
    if last is None:
        return 1
    return last["next_division"] or last["division"]


def league_credit(*, player_id: int, xp: int, at: datetime) -> None:
    """Add XP to the player's week, joining a group with the first XP of the week. Call it
    inside the transaction that holds the player's row lock (grading, reviews)."""
    if xp <= 0:
        return
    week = week_start(at)
    with transaction.atomic():  # a savepoint inside the caller's transaction; its own otherwise
        if LeagueMember.objects.filter(player_id=player_id, week_starts_on=week).update(xp=F("xp") + xp, xp_at=at):
            return
        _join(player_id=player_id, week=week, xp=xp, at=at)


def _join(*, player_id: int, week: date, xp: int, at: datetime) -> LeagueMember:
    week_row, _ = LeagueWeek.objects.get_or_create(starts_on=week)
    division = division_of(player_id=player_id, week=week)
    for _attempt in range(5):
        # The group's row lock queues joiners of one group; a full group drops out of the
        # filter once the lock is released (PostgreSQL re-reads a locked row it waited for).
        group = (
            LeagueGroup.objects.select_for_update()
            .filter(week=week_row, division=division, size__lt=GROUP_SIZE)
            .order_by("number")
            .first()
        )
        if group is None:
            last = LeagueGroup.objects.filter(week=week_row, division=division).aggregate(n=Max("number"))["n"] or 0
            try:
                with transaction.atomic():
                    group = LeagueGroup.objects.create(week=week_row, division=division, number=last + 1)
            except IntegrityError:  # another worker opened that group first: join one of theirs
                continue
        LeagueGroup.objects.filter(pk=group.pk).update(size=F("size") + 1)
        return LeagueMember.objects.create(
            group=group, player_id=player_id, week_starts_on=week, division=division, xp=xp, xp_at=at
        )
    raise RuntimeError("Could not find a league group to join.")


def standings(members: list[LeagueMember]) -> list[LeagueMember]:
    """A group's members, best first: XP of the week, then who reached it first."""
    return sorted(members, key=lambda m: (-m.xp, m.xp_at, m.pk))


def leagues_close_due(*, now: datetime | None = None) -> list[date]:
    """Close every league week that is over and not closed yet; the weeks closed here."""
    now = now or timezone.now()
    closed = []
    due = LeagueWeek.objects.filter(starts_on__lt=week_start(now), closed_at__isnull=True).order_by("starts_on")
    for week_id, starts_on in due.values_list("pk", "starts_on"):
        if _close(week_id=week_id, now=now):
            closed.append(starts_on)
            logger.info("league week of %s closed", starts_on)
    return closed


def _close(*, week_id: int, now: datetime) -> bool:
    with transaction.atomic():
        # The claim and the outcomes commit together: a second worker waits on the row, then
        # finds it closed; a worker that fails midway rolls the claim back.
        if not LeagueWeek.objects.filter(pk=week_id, closed_at__isnull=True).update(closed_at=now):
            return False
        by_group: dict[int, list[LeagueMember]] = defaultdict(list)
        for member in LeagueMember.objects.filter(group__week_id=week_id):
            by_group[member.group_id].append(member)
        for members in by_group.values():
            ranked = standings(members)
            move = movers(size=len(ranked), division=ranked[0].division)
            for rank, member in enumerate(ranked, start=1):
                member.final_rank = rank
                if rank <= move.up:
                    member.outcome, member.next_division = LeagueOutcome.UP, member.division + 1
                elif rank > len(ranked) - move.down:
                    member.outcome, member.next_division = LeagueOutcome.DOWN, member.division - 1
                else:
                    member.outcome, member.next_division = LeagueOutcome.STAY, member.division
        LeagueMember.objects.bulk_update(
            [m for members in by_group.values() for m in members],
            ["final_rank", "outcome", "next_division"],
            batch_size=500,
        )
    return True


def league_leave(*, player: Player) -> None:
    """Free a player's places in the groups of open weeks (a guest about to join an account)."""
    LeagueGroup.objects.filter(members__player=player, week__closed_at__isnull=True).update(size=F("size") - 1)


def league_recount(*, player: Player, at: datetime | None = None) -> None:
    """Set the player's XP of this week from what counted (missions and reviews answered this
    week): after a guest's runs join an account, whose XP the merge credited again."""
    at = at or timezone.now()
    week = week_start(at)
    since = week_end(week) - timedelta(days=7)
    missions = QuestRun.objects.filter(player=player, status=RunStatus.ANSWERED, answered_at__gte=since).aggregate(
        total=Sum("xp_awarded")
    )["total"] or 0
    reviews = ReviewAnswer.objects.filter(player=player, answered_at__gte=since).aggregate(total=Sum("xp_awarded"))[
        "total"
    ] or 0
    total = missions + reviews
    if LeagueMember.objects.filter(player=player, week_starts_on=week).update(xp=total):
        return
    if total > 0:
        with transaction.atomic():
            _join(player_id=player.pk, week=week, xp=total, at=at)
