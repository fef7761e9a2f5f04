"""Coming back without being punished: the streak freeze, and weekly leagues."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Count
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker

from quests.models import LeagueGroup, LeagueMember, LeagueWeek, Player, Quest, QuestRun, RunSource, RunStatus
from quests.services import grading
from quests.services.content import content_fields
from quests.services.grading import run_grade
from quests.services.leagues import division_of, league_credit, leagues_close_due, movers, week_start
from quests.services.streaks import StreakState, streak_current, streak_on_play
from tests.quests_fixtures import archive_content, game_settings, seeded, session_player  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("game_settings", "seeded")]

MONDAY = date(2026, 3, 2)


def state(days: int, last: date | None, held: bool = False) -> StreakState:
    return StreakState(days=days, last_played_on=last, freeze_held=held, freeze_used_on=None)


# --- streak freeze ----------------------------------------------------------------------------


def test_a_seven_day_streak_earns_one_freeze_and_one_is_held_at_a_time():
    day = date(2026, 3, 10)
    update = streak_on_play(state=state(6, day - timedelta(days=1)), today=day)
    assert (update.state.days, update.state.freeze_held, update.freeze_earned) == (7, True, True)
    again = streak_on_play(state=update.state, today=day)  # a second mission the same day
    assert again.state.days == 7 and not again.freeze_earned
    fourteen = streak_on_play(state=state(13, day - timedelta(days=1), held=True), today=day)
    assert fourteen.state.freeze_held and not fourteen.freeze_earned  # one at a time
    assert not streak_on_play(state=state(5, day - timedelta(days=1)), today=day).state.freeze_held


def test_the_freeze_covers_one_missed_day_by_itself_and_never_two():
    day = date(2026, 3, 10)
    saved = streak_on_play(state=state(9, day - timedelta(days=2), held=True), today=day)
    assert (saved.state.days, saved.state.freeze_held, saved.freeze_used) == (10, False, True)
    assert saved.state.freeze_used_on == day - timedelta(days=1)
    lost = streak_on_play(state=state(9, day - timedelta(days=3), held=True), today=day)
    assert lost.state.days == 1 and lost.state.freeze_held  # not spent on a streak it cannot save
    assert streak_on_play(state=state(9, day - timedelta(days=2)), today=day).state.days == 1  # none held
    # As shown before the player plays: kept while the freeze can cover yesterday.
    assert streak_current(state=state(9, day - timedelta(days=2), held=True), today=day) == 9
    assert streak_current(state=state(9, day - timedelta(days=2)), today=day) == 0


def test_grading_uses_the_freeze_and_the_profile_shows_it(client):
    client.post(reverse("quests:quest_launch", args=[1]))
    player = session_player(client)
    Player.objects.filter(pk=player.pk).update(
        streak_days=8, best_streak=8, last_played_on=timezone.localdate() - timedelta(days=2), streak_freeze_held=True
    )
    profile = client.get(reverse("quests:profile")).content.decode()
    assert "Streak freeze held." in profile and "your streak freeze covers it once you play today" in profile
    run = QuestRun.objects.get(player=player)
    response = client.post(reverse("quests:run_answer", args=[run.pk]), {
        f"q{i}": str(q["answer"]) for i, q in enumerate(run.questions, start=1)})
    player.refresh_from_db()
    assert (player.streak_days, player.streak_freeze_held) == (9, False)
    assert player.streak_freeze_used_on == timezone.localdate() - timedelta(days=1)
    result = client.get(response["Location"]).content.decode()
    assert "Your streak freeze covered the day you missed" in result
    profile = client.get(reverse("quests:profile")).content.decode()
    assert "No streak freeze held." in profile and "covered by a streak freeze" in profile


# --- leagues ----------------------------------------------------------------------------------


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_weeks_start_on_monday_utc():
    assert week_start(at(MONDAY, 0)) == MONDAY
    assert week_start(datetime(2026, 3, 8, 23, 59, tzinfo=UTC)) == MONDAY  # Sunday night
    assert week_start(datetime(2026, 3, 9, 0, 30, tzinfo=UTC)) == MONDAY + timedelta(days=7)


def test_players_join_groups_of_thirty_with_their_first_xp_of_the_week():
    players = baker.make(Player, _quantity=31)
    for player in players:
        with transaction.atomic():
            league_credit(player_id=player.pk, xp=10, at=at(MONDAY))
    league_credit(player_id=players[0].pk, xp=0, at=at(MONDAY))  # no XP, nothing happens
    groups = LeagueGroup.objects.filter(week__starts_on=MONDAY).order_by("number")
    assert [g.size for g in groups] == [30, 1] and {g.division for g in groups} == {1}
    with transaction.atomic():
        league_credit(player_id=players[0].pk, xp=15, at=at(MONDAY + timedelta(days=1)))
    assert LeagueMember.objects.get(player=players[0]).xp == 25
    assert LeagueMember.objects.count() == 31


def in_division(players: list[Player], division: int) -> None:
    """Players whose last league week (the week before MONDAY) sent them to `division`."""
    week = baker.make(LeagueWeek, starts_on=MONDAY - timedelta(days=7), closed_at=at(MONDAY, 0))
    group = baker.make(LeagueGroup, week=week, division=division, number=1, size=len(players))
    for player in players:
        baker.make(LeagueMember, group=group, player=player, week_starts_on=week.starts_on, division=division,
                   xp=1, xp_at=at(week.starts_on), outcome="stay", next_division=division)


def test_at_the_end_of_the_week_the_top_five_move_up_and_the_bottom_five_down():
    players = baker.make(Player, _quantity=30)
    in_division(players, 3)
    for i, player in enumerate(players):
        league_credit(player_id=player.pk, xp=100 - i, at=at(MONDAY))  # players[0] leads
    assert leagues_close_due(now=at(MONDAY + timedelta(days=6))) == []  # the week is not over
    assert leagues_close_due(now=at(MONDAY + timedelta(days=7), 0)) == [MONDAY]
    assert leagues_close_due(now=at(MONDAY + timedelta(days=7), 1)) == []  # once
    outcome = {m.player_id: (m.final_rank, m.outcome) for m in LeagueMember.objects.all()}
    assert [outcome[p.pk][1] for p in players[:5]] == ["up"] * 5
    assert [outcome[p.pk][1] for p in players[5:25]] == ["stay"] * 20
    assert [outcome[p.pk][1] for p in players[25:]] == ["down"] * 5
    next_week = MONDAY + timedelta(days=7)
    assert division_of(player_id=players[0].pk, week=next_week) == 4
    assert division_of(player_id=players[10].pk, week=next_week) == 3
    assert division_of(player_id=players[29].pk, week=next_week) == 2
    league_credit(player_id=players[0].pk, xp=5, at=at(next_week))
    assert LeagueMember.objects.get(player=players[0], week_starts_on=next_week).division == 4
    # Nobody goes below the lowest league.
    lowest = baker.make(Player, _quantity=12)
    for i, player in enumerate(lowest):
        league_credit(player_id=player.pk, xp=100 - i, at=at(next_week))
    leagues_close_due(now=at(next_week + timedelta(days=7)))
    assert not LeagueMember.objects.filter(player__in=lowest, outcome="down").exists()


def test_ties_go_to_who_reached_the_score_first_and_small_groups_move_a_third():
    assert movers(size=30, division=2) == movers(size=100, division=2) == type(movers(size=1, division=1))(5, 5)
    assert (movers(size=1, division=1).up, movers(size=1, division=1).down) == (1, 0)
    assert (movers(size=9, division=3).up, movers(size=9, division=3).down) == (3, 3)
    assert movers(size=30, division=6).up == 0 and movers(size=30, division=1).down == 0
    early, late = baker.make(Player, _quantity=2)
    league_credit(player_id=late.pk, xp=50, at=at(MONDAY, 9))
    league_credit(player_id=early.pk, xp=50, at=at(MONDAY, 8))
    leagues_close_due(now=at(MONDAY + timedelta(days=8)))
    ranks = dict(LeagueMember.objects.values_list("player_id", "final_rank"))
    assert ranks[early.pk] == 1 and ranks[late.pk] == 2


def test_the_hourly_schedule_closes_weeks_that_are_over_too(monkeypatch):
    from django_q.models import Schedule

    from quests import tasks

    tasks.ensure_schedules()
    schedule = Schedule.objects.get(name=tasks.LEAGUES_SCHEDULE)
    assert (schedule.func, schedule.schedule_type) == ("quests.tasks.close_leagues", Schedule.HOURLY)
    league_credit(player_id=baker.make(Player).pk, xp=10, at=at(MONDAY))
    assert tasks.close_leagues() == [MONDAY.isoformat()]
    assert tasks.close_leagues() == []


def test_the_first_grading_of_a_new_week_closes_the_last_one(monkeypatch):
    player = baker.make(Player, callsign="Weekly")
    league_credit(player_id=player.pk, xp=40, at=at(MONDAY))
    run = baker.make(QuestRun, quest=Quest.objects.get(number=1), player=player, source=RunSource.ARCHIVE,
                     status=RunStatus.READY, **content_fields(archive_content(1, 0)))
    monday_next = at(MONDAY + timedelta(days=7), 0)
    monkeypatch.setattr(grading.timezone, "now", lambda: monday_next)
    graded = run_grade(run_id=run.pk, player=player, answers=[q["answer"] for q in run.questions])
    assert LeagueWeek.objects.get(starts_on=MONDAY).closed_at is not None
    this_week = LeagueMember.objects.get(player=player, week_starts_on=MONDAY + timedelta(days=7))
    assert this_week.division == 2 and this_week.xp == graded.xp  # the lone player moved up


def test_the_leagues_page_shows_the_group_and_its_zones(client):
    client.post(reverse("quests:quest_launch", args=[1]))
    me = session_player(client)
    now = timezone.now()
    for i in range(11):
        league_credit(player_id=baker.make(Player, callsign=f"Rival {i}").pk, xp=200 - i * 10, at=now)
    league_credit(player_id=me.pk, xp=5, at=now)
    page = client.get(reverse("quests:leagues")).content.decode()
    assert "Meteor league" in page and "Your group" in page and "#12</strong> of 12" in page
    assert page.count("moves up</span>") == 4 and page.count("moves down</span>") == 0  # the lowest league
    assert "Week ends in" in page and 'data-countdown="' in page
    newcomer = Client()
    newcomer.post(reverse("quests:quest_launch", args=[2]))  # a player, with no XP yet
    assert "Earn XP this week" in newcomer.get(reverse("quests:leagues")).content.decode()
    assert "Fly a mission to get a callsign" in Client().get(reverse("quests:leagues")).content.decode()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_closing_a_week_at_once_close_it_once_and_joiners_never_overfill_a_group():
    from tests.quests_fixtures import seed_quests

    seed_quests()
    players = baker.make(Player, _quantity=40)
    results: list = [None] * 40
    barrier = threading.Barrier(40)

    def join(i: int) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                Player.objects.select_for_update().get(pk=players[i].pk)
                league_credit(player_id=players[i].pk, xp=10 + i, at=at(MONDAY))
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=join, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r for r in results if r] == []
    sizes = sorted(LeagueGroup.objects.values_list("size", flat=True))
    assert sum(sizes) == 40 and max(sizes) <= 30
    assert sizes == sorted(LeagueMember.objects.values("group").annotate(n=Count("id")).values_list("n", flat=True))

    closed: list = [None] * 8
    gate = threading.Barrier(8)

    def close(i: int) -> None:
        try:
            gate.wait()
            closed[i] = leagues_close_due(now=at(MONDAY + timedelta(days=7), 1))
        finally:
            connection.close()

    threads = [threading.Thread(target=close, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(map(len, closed)) == [0] * 7 + [1]
    assert not LeagueMember.objects.filter(outcome="").exists()
