"""Writing runs with the LLM through the pool, against the Groq stand-in server."""

from __future__ import annotations

import json

import pytest

from keymanager.models import Key, UsageLog
from quests.models import Player, Quest, QuestRun, RunSource, RunStatus
from quests.services.generation import generate_content
from quests.services.runs import run_start, run_transmit
from tests.quests_fixtures import archive_content, game_settings, seeded  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded")]


def invalid_reply(**changes) -> dict:
    data = archive_content(3, 0)
    data.update(changes)
    return {"content": json.dumps(data)}


def test_it_generates_a_valid_run_from_the_pool(pool_factory):
    pool_factory(orgs=1)
    quest = Quest.objects.get(number=3)
    generated = generate_content(quest=quest, purpose="quest")
    assert generated is not None
    assert len(generated.content.questions) == 3
    log = UsageLog.objects.get(request_id=generated.request_id)
    assert (log.quest, log.purpose, log.outcome) == (3, "quest", "success")


def test_invalid_output_gets_one_more_attempt(pool_factory):
    pool = pool_factory(orgs=1)
    pool.stub.enqueue(invalid_reply(questions=[]))
    generated = generate_content(quest=Quest.objects.get(number=3), purpose="quest")
    assert generated is not None
    assert "after: questions" in generated.note
    purposes = sorted(UsageLog.objects.values_list("purpose", flat=True))
    assert purposes == ["quest-invalid", "quest-retry"]


def test_output_that_stays_invalid_falls_back_to_the_archive(pool_factory, game_settings):  # noqa: F811
    pool = pool_factory(orgs=1)
    pool.stub.enqueue({"content": "this is not JSON"})
    pool.stub.enqueue(invalid_reply(title=""))
    player = Player.objects.create(callsign="Tester")
    run = run_start(player=player, quest=Quest.objects.get(number=3))
    assert run.status == RunStatus.PENDING
    run = run_transmit(run=run)
    assert (run.status, run.source) == (RunStatus.READY, RunSource.ARCHIVE)
    assert run.archive_ref.startswith("jupiter-")
    assert sorted(UsageLog.objects.values_list("purpose", flat=True)) == ["quest-invalid", "quest-retry-invalid"]


def test_an_exhausted_pool_serves_the_archive_without_error(game_settings):  # noqa: F811
    assert not Key.objects.exists()
    player = Player.objects.create(callsign="Tester")
    run = run_transmit(run=run_start(player=player, quest=Quest.objects.get(number=5)))
    assert (run.status, run.source) == (RunStatus.READY, RunSource.ARCHIVE)
    assert len(run.questions) == 3


def test_revoked_keys_serve_the_archive(pool_factory, game_settings):  # noqa: F811
    pool = pool_factory(orgs=2)
    for key in pool.keys:
        pool.stub.revoke(pool.secrets[key.pk])
    player = Player.objects.create(callsign="Tester")
    run = run_transmit(run=run_start(player=player, quest=Quest.objects.get(number=1)))
    assert run.source == RunSource.ARCHIVE


def test_a_live_run_is_generated_once_even_when_transmitted_twice(pool_factory, game_settings):  # noqa: F811
    pool = pool_factory(orgs=1)
    player = Player.objects.create(callsign="Tester")
    run = run_start(player=player, quest=Quest.objects.get(number=2))
    first = run_transmit(run=run)
    again = run_transmit(run=QuestRun.objects.get(pk=run.pk))
    assert first.source == RunSource.LIVE and again.questions == first.questions
    assert pool.stub.stats()["requests"] == 1


def test_a_claimed_generation_is_not_started_twice(game_settings):  # noqa: F811
    from django.utils import timezone

    player = Player.objects.create(callsign="Tester")
    run = run_start(player=player, quest=Quest.objects.get(number=2))
    QuestRun.objects.filter(pk=run.pk).update(claimed_at=timezone.now())
    assert run_transmit(run=QuestRun.objects.get(pk=run.pk)).status == RunStatus.PENDING


def test_a_stale_claim_is_taken_over(game_settings):  # noqa: F811
    from datetime import timedelta

    from django.utils import timezone

    player = Player.objects.create(callsign="Tester")
    run = run_start(player=player, quest=Quest.objects.get(number=2))
    QuestRun.objects.filter(pk=run.pk).update(claimed_at=timezone.now() - timedelta(minutes=10))
    assert run_transmit(run=QuestRun.objects.get(pk=run.pk)).status == RunStatus.READY


def test_archive_runs_avoid_repeats_for_one_player(game_settings):  # noqa: F811
    player = Player.objects.create(callsign="Tester")
    quest = Quest.objects.get(number=4)
    refs = []
    for _ in range(10):
        run = run_transmit(run=run_start(player=player, quest=quest))
        refs.append(run.archive_ref)
        QuestRun.objects.filter(pk=run.pk).update(status=RunStatus.ANSWERED, answered_at=run.created_at)
    assert len(set(refs)) == 10
