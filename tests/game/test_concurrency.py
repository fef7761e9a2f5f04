"""Races: double submissions and buffer claims from several threads (real connections)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from quests.models import Player, Quest, QuestRun, RunSource
from quests.services.grading import GradingError, run_grade
from quests.services.runs import run_start
from tests.quests_fixtures import make_run, seeded  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded")]


def race(n: int, work) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def runner(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # collected for the assertions
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_simultaneous_submissions_award_xp_once(settings):
    settings.QUESTS = {"refill_on_serve": False}
    player = Player.objects.create(callsign="Racer")
    run = make_run(quest_number=1, player=player)
    answers = [q["answer"] for q in run.questions]
    results = race(6, lambda i: run_grade(run_id=run.pk, player=player, answers=answers))
    graded = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, GradingError)]
    assert len(graded) == 1 and len(refused) == 5, results
    player.refresh_from_db()
    assert player.xp == graded[0].xp and player.runs_completed == 1


def test_players_racing_for_the_buffer_each_get_a_different_run(settings):
    settings.QUESTS = {"refill_on_serve": False}
    quest = Quest.objects.get(number=2)
    for i in range(3):
        make_run(quest_number=2, index=i)
    players = [Player.objects.create(callsign=f"P{i}") for i in range(8)]
    results = race(8, lambda i: run_start(player=players[i], quest=quest).pk)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(set(results)) == 8
    served = QuestRun.objects.filter(source=RunSource.BUFFER, player__isnull=False)
    assert served.count() == 3 and len({r.player_id for r in served}) == 3
