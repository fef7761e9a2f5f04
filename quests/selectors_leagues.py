"""Reads for the leagues page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.utils import timezone

from quests.models import LeagueMember, Player
from quests.services.leagues import (
    DIVISIONS,
    GROUP_SIZE,
    division_name,
    division_of,
    movers,
    standings,
    week_end,
    week_start,
)


@dataclass(frozen=True)
class StandingRow:
    rank: int
    member: LeagueMember
    zone: str  # "up", "down" or ""
    is_me: bool


@dataclass
class LeagueView:
    week: date
    ends_at: datetime
    division: int
    division_name: str
    divisions: list[str]
    joined: bool
    rows: list[StandingRow] = field(default_factory=list)
    up: int = 0
    down: int = 0
    my_rank: int | None = None
    last_week: LeagueMember | None = None
    group_size: int = GROUP_SIZE


def league_view(*, player: Player | None, now: datetime | None = None) -> LeagueView:
    """This week's group of the player, ranked, with the zones that move up and down."""
    now = now or timezone.now()
    week = week_start(now)
    member = None
    if player is not None:
        member = (
            LeagueMember.objects.filter(player=player, week_starts_on=week).select_related("group").first()
        )
    division = member.division if member else (division_of(player_id=player.pk, week=week) if player else 1)
    view = LeagueView(
        week=week,
        ends_at=week_end(week),
        division=division,
        division_name=division_name(division),
        divisions=DIVISIONS,
        joined=member is not None,
    )
    if player is not None:
        view.last_week = (
            LeagueMember.objects.filter(player=player, week_starts_on__lt=week)
            .exclude(outcome="")
            .order_by("-week_starts_on")
            .first()
        )
    if member is None:
        return view
    ranked = standings(list(LeagueMember.objects.filter(group=member.group).select_related("player")))
    move = movers(size=len(ranked), division=division)
    view.up, view.down = move.up, move.down
    for rank, row in enumerate(ranked, start=1):
        zone = "up" if rank <= move.up else "down" if rank > len(ranked) - move.down else ""
        view.rows.append(StandingRow(rank=rank, member=row, zone=zone, is_me=row.player_id == player.pk))
        if row.player_id == player.pk:
            view.my_rank = rank
    return view
