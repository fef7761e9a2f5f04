"""Ahead-of-time generation: the buffer, its refills, their limits, and single use."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_q.models import Schedule

from keymanager.models import Limit, UsageLog
from quests import tasks
from quests.models import Player, Quest, QuestRun, RunSource, RunStatus
from quests.services.headroom import pool_headroom
from quests.services.prefetch import buffer_levels, buffer_refill, refill_request
from quests.services.runs import run_start
from tests.conftest import MODEL
from tests.quests_fixtures import make_run, mission_reply, seeded  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded")]


def test_refill_fills_each_buffer_to_its_size_within_the_cap(pool_factory, settings):
    settings.QUESTS = {"buffer_size": 2, "refills_per_run": 7}
    pool = pool_factory(orgs=2, limits={"rpm": 1000, "rpd": 100000, "tpm": 10**6, "tpd": 10**7})
    for n in range(10):  # a distinct mission for each call
        pool.stub.enqueue(mission_reply(1, n))
    report = buffer_refill()
    assert report.total == 7
    levels = buffer_levels()
    # Emptiest quests first: every quest got one before any got a second.
    assert sorted(levels.values()) == [1, 1, 1, 2, 2]
    assert set(UsageLog.objects.values_list("purpose", flat=True)) == {"quest-prefetch"}
    assert buffer_refill().total == 3
    assert buffer_levels() == {n: 2 for n in range(1, 6)}
    assert buffer_refill().total == 0


def test_refill_does_nothing_without_keys(settings):
    settings.QUESTS = {"buffer_size": 3}
    report = buffer_refill()
    assert report.total == 0 and "headroom" in report.stopped


def test_refill_yields_when_the_pool_is_busy(pool_factory, settings):
    settings.QUESTS = {"buffer_size": 3, "refills_per_run": 15, "prefetch_min_headroom": 0.5}
    pool_factory(orgs=1)
    Limit.objects.update_or_create(
        provider="groq", organization="", model=MODEL, defaults={"rpm": 4, "rpd": 1000, "tpm": 10**6, "tpd": 10**7}
    )
    Limit.objects.filter(organization="org_a").delete()
    report = buffer_refill()
    # Two calls use half of the 4 RPM; prefetch stops there and leaves the rest to players.
    assert report.total == 2
    assert "headroom" in report.stopped
    assert pool_headroom(model=MODEL) == 0.5


def test_headroom_ignores_cooling_organizations(pool_factory):
    from datetime import timedelta

    from keymanager.models import Cooldown

    pool = pool_factory(orgs=1)
    assert pool_headroom(model=MODEL) == 1.0
    Cooldown.objects.create(
        organization=pool.keys[0].organization, reason="rate_limit", ends_at=timezone.now() + timedelta(minutes=1)
    )
    assert pool_headroom(model=MODEL) == 0.0


def test_a_buffered_run_is_served_to_one_player_once(settings):
    settings.QUESTS = {"refill_on_serve": False}
    quest = Quest.objects.get(number=1)
    buffered = make_run(quest_number=1)
    first = run_start(player=Player.objects.create(callsign="One"), quest=quest)
    second = run_start(player=Player.objects.create(callsign="Two"), quest=quest)
    assert first.pk == buffered.pk and first.source == RunSource.BUFFER and first.served_at
    # No key in the pool: the second player gets an archive run at once.
    assert second.pk != buffered.pk and (second.status, second.source) == (RunStatus.READY, RunSource.ARCHIVE)
    assert QuestRun.objects.buffered(quest.pk).count() == 0


def test_a_player_gets_the_same_open_run_back(settings):
    settings.QUESTS = {"refill_on_serve": False}
    quest = Quest.objects.get(number=1)
    make_run(quest_number=1)
    make_run(quest_number=1, index=1)
    player = Player.objects.create(callsign="One")
    assert run_start(player=player, quest=quest).pk == run_start(player=player, quest=quest).pk
    assert QuestRun.objects.buffered(quest.pk).count() == 1


@pytest.mark.django_db(transaction=True)
def test_serving_a_buffered_run_enqueues_one_debounced_refill(pool_factory, settings):
    settings.QUESTS = {"buffer_size": 2, "refill_on_serve": True}
    pool_factory(orgs=1)
    quest = Quest.objects.get(number=2)
    make_run(quest_number=2)
    make_run(quest_number=2, index=1)
    run_start(player=Player.objects.create(callsign="One"), quest=quest)
    # Q_CLUSTER sync=True in tests: the task ran on commit and refilled quest 2 only.
    assert buffer_levels()[2] == 2
    assert buffer_levels()[1] == 0
    assert not refill_request(quest=Quest.objects.get(number=2))  # debounced


def test_ensure_schedules_is_idempotent(settings):
    settings.QUESTS = {"refill_every_minutes": 2}
    tasks.ensure_schedules()
    tasks.ensure_schedules()
    schedule = Schedule.objects.get(name=tasks.REFILL_SCHEDULE)
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == ("quests.tasks.refill_buffers", "I", 2)
    assert Schedule.objects.filter(name=tasks.REFILL_SCHEDULE).count() == 1


def test_the_refill_task_reports_what_it_did(pool_factory, settings):
    settings.QUESTS = {"buffer_size": 1}
    pool = pool_factory(orgs=2)
    for n in range(5):
        pool.stub.enqueue(mission_reply(1, n))
    assert tasks.refill_buffers() == {"created": {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}, "duplicates": {}, "stopped": ""}
    assert tasks.refill_quest(Quest.objects.get(number=3).pk)["created"] == {}
