"""Writing runs with the LLM through the pool, against the Groq stand-in server."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from model_bakery import baker

from keymanager.models import Key, UsageLog
from quests.models import FallbackReason, Player, Quest, QuestRun, RunSource, RunStatus, Tier
from quests.services.generation import generate_content
from quests.services.live import live_write
from quests.services.runs import run_start
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


def start_live(player: Player, number: int) -> QuestRun:
    """A launch that goes live, without running its task (tests call live_write themselves)."""
    run = run_start(player=player, quest=Quest.objects.get(number=number))
    assert (run.status, run.source) == (RunStatus.PENDING, RunSource.LIVE)
    return run


def test_output_that_stays_invalid_falls_back_to_the_archive(pool_factory, game_settings):  # noqa: F811
    pool = pool_factory(orgs=1)
    pool.stub.enqueue({"content": "this is not JSON"})
    pool.stub.enqueue(invalid_reply(title=""))
    run = start_live(Player.objects.create(callsign="Tester", user=baker.make(User)), 3)
    assert live_write(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert (run.status, run.source, run.fallback_reason) == (RunStatus.READY, RunSource.ARCHIVE, FallbackReason.FAILED)
    assert run.archive_ref.startswith("jupiter-")
    assert sorted(UsageLog.objects.values_list("purpose", flat=True)) == ["quest-invalid", "quest-retry-invalid"]


def test_an_empty_pool_serves_the_archive_at_launch_without_waiting(game_settings):  # noqa: F811
    assert not Key.objects.exists()
    player = Player.objects.create(callsign="Tester")
    run = run_start(player=player, quest=Quest.objects.get(number=5))
    assert (run.status, run.source, run.fallback_reason) == (RunStatus.READY, RunSource.ARCHIVE, FallbackReason.UNAVAILABLE)
    assert len(run.questions) == 3 and run.served_at


def test_revoked_keys_serve_the_archive(pool_factory, game_settings):  # noqa: F811
    pool = pool_factory(orgs=2)
    player = Player.objects.create(callsign="Tester")
    run = start_live(player, 1)
    for key in pool.keys:
        pool.stub.revoke(pool.secrets[key.pk])
    assert live_write(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.source == RunSource.ARCHIVE
    # The pool disabled the revoked keys: the next launch does not even try.
    again = run_start(player=Player.objects.create(callsign="Other"), quest=Quest.objects.get(number=1))
    assert again.fallback_reason == FallbackReason.UNAVAILABLE


def test_a_live_run_is_written_once_even_when_its_task_runs_twice(pool_factory, game_settings):  # noqa: F811
    pool = pool_factory(orgs=1)
    run = start_live(Player.objects.create(callsign="Tester"), 2)
    assert live_write(run_id=run.pk) == "live"
    first = QuestRun.objects.get(pk=run.pk)
    assert live_write(run_id=run.pk) == "not pending"
    again = QuestRun.objects.get(pk=run.pk)
    assert first.source == RunSource.LIVE and again.questions == first.questions and first.archive_ref == ""
    assert pool.stub.stats()["requests"] == 1


def test_a_claimed_run_is_not_written_twice(pool_factory, game_settings):  # noqa: F811
    from django.utils import timezone

    pool = pool_factory(orgs=1)
    run = start_live(Player.objects.create(callsign="Tester"), 2)
    QuestRun.objects.filter(pk=run.pk).update(claimed_at=timezone.now())
    assert live_write(run_id=run.pk) == "not pending"
    assert QuestRun.objects.get(pk=run.pk).status == RunStatus.PENDING
    assert pool.stub.stats()["requests"] == 0


def test_a_stale_claim_is_taken_over(pool_factory, game_settings):  # noqa: F811
    from datetime import timedelta

    from django.utils import timezone

    pool_factory(orgs=1)
    run = start_live(Player.objects.create(callsign="Tester"), 2)
    QuestRun.objects.filter(pk=run.pk).update(claimed_at=timezone.now() - timedelta(minutes=10))
    assert live_write(run_id=run.pk) == "live"
    assert QuestRun.objects.get(pk=run.pk).status == RunStatus.READY


def test_archive_runs_avoid_repeats_for_one_player(game_settings):  # noqa: F811
    player = Player.objects.create(callsign="Tester")
    quest = Quest.objects.get(number=4)
    refs = []
    for _ in range(10):
        run = run_start(player=player, quest=quest)
        refs.append(run.archive_ref)
        QuestRun.objects.filter(pk=run.pk).update(status=RunStatus.ANSWERED, answered_at=run.created_at)
    assert len(set(refs)) == 10


def test_each_tier_states_its_own_rules_in_the_prompt():
    from quests.services.generation import build_messages, tier_config

    quest = Quest.objects.get(number=1)
    systems = {tier: build_messages(quest=quest, topic="tides", config=tier_config(quest=quest, tier=tier))[0]["content"]
               for tier in Tier.values}
    assert '"fact"' in systems[Tier.CADET] and '"facts"' not in systems[Tier.CADET]
    assert '"facts"' in systems[Tier.OFFICER] and '"calculation"' in systems[Tier.OFFICER]
    assert "works out a number" in systems[Tier.OFFICER] and '"reasoning"' not in systems[Tier.OFFICER]
    assert '"reasoning"' in systems[Tier.COMMANDER] and "what follows" in systems[Tier.COMMANDER]
    assert all("planets with planets" in text for text in systems.values())


def test_a_reply_that_breaks_the_tier_rules_gets_one_more_attempt(pool_factory):
    pool = pool_factory(orgs=1)
    pool.stub.enqueue({"content": json.dumps(archive_content(1, 0))})  # a valid cadet mission, for an officer run
    generated = generate_content(quest=Quest.objects.get(number=1), purpose="quest", tier=Tier.OFFICER)
    assert generated is not None and "after: question 1: missing facts" in generated.note
    assert all(len(q["facts"]) == 2 for q in generated.content.questions)
    assert sorted(UsageLog.objects.values_list("purpose", flat=True)) == ["quest-invalid", "quest-retry"]


def test_an_officer_run_whose_replies_stay_invalid_gets_an_officer_archive_mission(pool_factory, game_settings):  # noqa: F811
    pool = pool_factory(orgs=1)
    for _ in range(2):
        pool.stub.enqueue({"content": json.dumps(archive_content(2, 0))})
    player = Player.objects.create(callsign="Officer", user=baker.make(User), xp=200)
    run = run_start(player=player, quest=Quest.objects.get(number=2), tier=Tier.OFFICER)
    assert live_write(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert (run.source, run.tier, run.fallback_reason) == (RunSource.ARCHIVE, Tier.OFFICER, FallbackReason.FAILED)
    assert run.archive_ref.startswith("mars-o") and all(len(q["facts"]) in (1, 2) for q in run.questions)
