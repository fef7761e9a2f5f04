"""A reason to come back: tiers unlocked by rank, the daily mission, badges and the streak."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker

from quests import tasks
from quests.models import DailyMission, Player, Quest, QuestRun, QuestTier, RunSource, RunStatus, Tier
from quests.services.daily import daily_quest, daily_start, daily_today
from quests.services.generation import build_messages, tier_config
from quests.services.live import live_write
from quests.services.runs import run_start
from quests.services.scoring import run_xp, tiers_for
from tests.quests_fixtures import game_settings, right_answers, seeded, session_player  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("game_settings", "seeded")]


def test_tiers_unlock_by_rank_and_pay_more():
    assert [t.unlocked for t in tiers_for(0)] == [True, False, False]
    assert [t.unlocked for t in tiers_for(150)] == [True, True, False]
    assert [t.unlocked for t in tiers_for(500)] == [True, True, True]
    assert run_xp(correct=3, total=3, streak_days=1, tier=Tier.COMMANDER) == 2 * run_xp(correct=3, total=3, streak_days=1)


def test_a_locked_tier_cannot_be_launched(client):
    response = client.post(reverse("quests:quest_launch", args=[1]), {"tier": "commander"})
    assert response.status_code == 403 and b"Tier locked" in response.content
    assert not QuestRun.objects.exists()
    assert client.post(reverse("quests:quest_launch", args=[1]), {"tier": "admiral"}).status_code == 400
    page = client.get(reverse("quests:quest_detail", args=[1])).content.decode()
    assert "Unlocks at Lieutenant" in page and "Unlocks at Commander" in page


def test_an_unlocked_tier_serves_its_own_archive_shelf_without_keys(client):
    player = baker.make(Player, callsign="Ace", xp=600)
    run = run_start(player=player, quest=Quest.objects.get(number=3), tier=Tier.COMMANDER)
    assert run.tier == Tier.COMMANDER and run.source == RunSource.ARCHIVE and run.archive_ref.startswith("jupiter-c")


def test_each_tier_has_its_own_llm_settings_in_the_prompt_and_call(pool_factory):
    quest = Quest.objects.get(number=2)
    QuestTier.objects.filter(quest=quest, tier=Tier.OFFICER).update(temperature=0.3, max_tokens=2100, guidance="Ask about rates.")
    config = tier_config(quest=quest, tier=Tier.OFFICER)
    messages = build_messages(quest=quest, topic="dust storms", config=config)
    assert "Ask about rates." in messages[0]["content"] and "officer-level" in messages[1]["content"]
    pool = pool_factory(orgs=1)
    player = baker.make(Player, callsign="Ace", xp=200)
    run = run_start(player=player, quest=quest, tier=Tier.OFFICER)
    assert live_write(run_id=run.pk) == "live"
    run.refresh_from_db()
    assert run.source == RunSource.LIVE and run.tier == Tier.OFFICER and pool.stub.stats()["requests"] >= 1


def test_the_daily_mission_comes_from_the_archive_when_nothing_was_written(client):
    mission = daily_today()
    assert mission.source == RunSource.ARCHIVE and mission.quest == daily_quest(day=timezone.localdate())
    assert daily_today().pk == mission.pk  # everyone shares it
    page = client.get(reverse("quests:daily"))
    assert page.status_code == 200 and mission.title.encode() in page.content


def test_the_daily_task_writes_missions_ahead_and_players_are_served_from_them(pool_factory):
    pool_factory(orgs=1)
    report = tasks.prepare_daily()
    today = timezone.localdate()
    assert report["ready"] == [today.isoformat(), (today + timedelta(days=1)).isoformat()]
    mission = DailyMission.objects.get(day=today)
    assert mission.source == RunSource.BUFFER
    player = baker.make(Player, callsign="Early")
    run = daily_start(player=player)
    assert run.daily == mission and run.title == mission.title and run.status == RunStatus.READY


def test_each_player_flies_the_daily_once_and_it_has_its_own_board(client):
    first = baker.make(Player, callsign="Quick")
    mine = daily_start(player=first)
    assert daily_start(player=first).pk == mine.pk
    response = client.post(reverse("quests:daily_launch"))
    run = QuestRun.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
    assert run.daily_id == mine.daily_id and run.player_id != first.pk
    client.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run))
    board = client.get(reverse("quests:daily")).content.decode()
    assert session_player(client).callsign in board and "3/3" in board
    assert "Quick" not in board  # has not answered yet
    result = client.get(reverse("quests:run_result", args=[run.pk])).content.decode()
    assert "#1" in result


def test_perfect_missions_earn_planet_badges_per_tier(client):
    client.post(reverse("quests:quest_launch", args=[4]))
    run = QuestRun.objects.get()  # no keys: an archive mission at once
    client.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run))
    star_map = client.get("/").content.decode()
    assert 'class="badge-planet badge-cadet"' in star_map
    assert star_map.count("badge-planet") == 1


def test_the_profile_shows_the_streak_as_it_stands_today(client):
    client.post(reverse("quests:quest_launch", args=[1]))
    player = session_player(client)
    Player.objects.filter(pk=player.pk).update(streak_days=4, best_streak=4, last_played_on=timezone.localdate() - timedelta(days=1))
    page = client.get(reverse("quests:profile")).content.decode()
    assert "Streak: 4 days" in page
    Player.objects.filter(pk=player.pk).update(last_played_on=date(2020, 1, 1))
    page = client.get(reverse("quests:profile")).content.decode()
    assert "Streak: 0 days" in page and "best 4" in page
