"""A simulated player flies 30 missions on one quest and 14 daily missions: never the same
content twice while content they have not flown exists (quests.testing.simulated_player).

Against the Groq stand-in, the model's missions are scripted (GroqStub.enqueue) so the test
decides when the model repeats itself; `bench/simulated_player.py` runs the same player
against the stand-in's own writing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from model_bakery import baker

from quests.models import Player, Quest, QuestRun, RunSource, Tier
from quests.services.archive import archive_entries
from quests.services.daily import daily_prepare, daily_quest
from quests.testing.simulated_player import SimulatedPlayer
from tests.quests_fixtures import mission_reply, seeded  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded")]

ROOMY = {"rpm": 10_000, "rpd": 1_000_000, "tpm": 10**8, "tpd": 10**9}


@pytest.fixture
def live_for_all(settings):
    settings.QUESTS = {
        "refill_on_serve": False,
        "live_rate_player": "1000/h",
        "live_max_in_flight": 1000,
        "xp_cap_per_quest_per_day": 10_000,
    }


def pilot() -> Player:
    # An established account (a new one starts with a small live quota that grows with play).
    user = baker.make(User, date_joined=timezone.now() - timedelta(days=30))
    return baker.make(Player, user=user, callsign="Simulated")


def test_thirty_missions_and_fourteen_dailies_against_the_stand_in_never_repeat(pool_factory, live_for_all):
    pool = pool_factory(orgs=2, limits=ROOMY)
    quest = Quest.objects.get(number=1)
    sim = SimulatedPlayer(pilot())
    for i in range(30):
        if i % 4 == 3:
            # The model repeats a mission this player flew two launches ago: the player gets
            # something new instead, and the repeat goes to the buffer for other players.
            pool.stub.enqueue(mission_reply(1, i - 2))
            pool.stub.enqueue(mission_reply(1, 100 + i))
        else:
            pool.stub.enqueue(mission_reply(1, i))
        sim.fly_mission(quest)
    assert sim.log.repeats("mission") == 0 and sim.log.distinct("mission") == 30
    assert {f.source for f in sim.log.of("mission")} == {RunSource.LIVE}
    assert QuestRun.objects.buffered(quest.pk).count() == 7  # the model's seven repeats, kept for others

    today = timezone.localdate()
    for d in range(14):
        day = today + timedelta(days=d)
        if d == 5:
            # The model writes, as the day's mission, one this player has flown: one more try.
            pool.stub.enqueue(mission_reply(1, 0))
        pool.stub.enqueue(mission_reply(daily_quest(day=day).number, 500 + d))
        assert daily_prepare(day=day) is not None
        sim.fly_daily(day)
    assert sim.log.repeats("daily") == 0 and sim.log.distinct("daily") == 14


def test_with_the_archive_alone_nothing_repeats_until_the_tier_is_exhausted(live_for_all):
    quest = Quest.objects.get(number=1)
    shelf = len(archive_entries(quest_number=1, tier=Tier.CADET))
    sim = SimulatedPlayer(pilot())
    for _ in range(30):
        sim.fly_mission(quest)
    assert sim.log.violations("mission") == 0
    assert sim.log.first_repeat("mission") == shelf + 1  # every archive mission once, then practice
    assert sim.log.distinct("mission") == shelf
    assert all(f.xp == 0 for f in sim.log.of("mission")[shelf:])  # repeats pay nothing

    today = timezone.localdate()
    days = [today + timedelta(days=d) for d in range(14)]
    for day in days:
        sim.fly_daily(day)
    assert sim.log.violations("daily") == 0
    # Only the days of the quest whose whole shelf the player has flown are practice.
    assert sim.log.repeats("daily") == sum(daily_quest(day=day).number == 1 for day in days)
