"""XP farming: shuffled options, XP once per mission content, a daily cap per quest."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker

from quests.models import Player, Quest, QuestRun, RunSource, RunStatus, XpNote
from quests.services.content import content_fields
from quests.services.grading import run_grade
from quests.services.players import player_claim_guest
from quests.services.xp import content_key
from tests.quests_fixtures import archive_content, game_settings, seeded  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("game_settings", "seeded")]


def served(player: Player, *, quest: int = 1, index: int = 0, seed: int | None = None, **extra) -> QuestRun:
    fields = content_fields(archive_content(quest, index), rng=random.Random(seed))
    return baker.make(
        QuestRun, quest=Quest.objects.get(number=quest), player=player, source=RunSource.ARCHIVE,
        status=RunStatus.READY, **fields, **extra,
    )


def perfect(run: QuestRun):
    return run_grade(run_id=run.pk, player=run.player, answers=[q["answer"] for q in run.questions])


def test_each_run_gets_its_own_option_order_and_the_same_content_key():
    content = archive_content(1, 0)
    runs = [content_fields(content, rng=random.Random(seed)) for seed in range(12)]
    orders = {tuple(tuple(q["options"]) for q in r["questions"]) for r in runs}
    assert len(orders) > 1
    assert {r["content_key"] for r in runs} == {content_key(content["questions"])}
    for r in runs:  # the right answer follows its option
        for q, original in zip(r["questions"], content["questions"], strict=True):
            assert q["options"][q["answer"]] == original["options"][original["answer"]]


def test_a_replayed_mission_earns_no_xp_again():
    player = baker.make(Player, callsign="Farmer")
    first = perfect(served(player, seed=1))
    again = perfect(served(player, seed=2))  # same content, other option order
    assert first.xp > 0 and again.xp == 0
    again.run.refresh_from_db()
    assert again.run.xp_note == XpNote.REPEAT and again.run.xp_earned > 0
    player.refresh_from_db()
    assert player.xp == first.xp and player.runs_completed == 2
    # A different mission still pays.
    assert perfect(served(player, index=1)).xp > 0


def test_seeing_the_answers_once_is_enough_even_without_xp():
    player = baker.make(Player, callsign="Peeker")
    run = served(player)
    run_grade(run_id=run.pk, player=player, answers=[(q["answer"] + 1) % 4 for q in run.questions])
    assert perfect(served(player, seed=3)).xp == 0


def test_xp_per_quest_per_day_is_capped(settings):
    settings.QUESTS = {"refill_on_serve": False, "xp_cap_per_quest_per_day": 120}
    player = baker.make(Player, callsign="Grinder")
    earned = [perfect(served(player, index=i)).xp for i in range(4)]
    assert earned == [50, 50, 20, 0]  # 50 + 50 + 20 = the cap of 120
    run = QuestRun.objects.filter(player=player).order_by("answered_at")[2]
    assert run.xp_note == XpNote.CAPPED and run.xp_earned > run.xp_awarded
    player.refresh_from_db()
    assert player.xp == 120
    # Another quest has its own allowance; yesterday's XP does not count today.
    assert perfect(served(player, quest=2)).xp > 0
    QuestRun.objects.filter(player=player, quest__number=1).update(answered_at=timezone.now() - timedelta(days=1))
    assert perfect(served(player, index=5)).xp > 0


def test_the_database_refuses_a_second_credit_for_the_same_content():
    from django.db import IntegrityError, transaction

    player = baker.make(Player, callsign="Racer")
    key = content_key(archive_content(1, 0)["questions"])
    baker.make(QuestRun, quest=Quest.objects.get(number=1), player=player, content_key=key, xp_awarded=50,
               status=RunStatus.ANSWERED, answered_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        baker.make(QuestRun, quest=Quest.objects.get(number=1), player=player, content_key=key, xp_awarded=10,
                   status=RunStatus.ANSWERED, answered_at=timezone.now())


def test_merging_guests_into_an_account_pays_each_mission_once():
    user = baker.make(User, username="vega")
    account = baker.make(Player, user=user, callsign="Vega")
    perfect(served(account))
    account.refresh_from_db()
    before = account.xp
    guest = baker.make(Player, callsign="Guest-1")
    perfect(served(guest, seed=5))  # the same mission the account already flew
    fresh = perfect(served(guest, index=1))
    merged = player_claim_guest(user=user, guest_id=guest.pk)
    assert merged.pk == account.pk and merged.xp == before + fresh.xp
    assert QuestRun.objects.filter(player=account).count() == 3
    assert sorted(QuestRun.objects.filter(player=account).values_list("xp_note", flat=True)) == ["", "", "repeat"]


def test_the_leaderboard_shows_fair_xp(client):
    farmer = baker.make(Player, callsign="Farmer")
    for seed in range(6):
        perfect(served(farmer, seed=seed))
    honest = baker.make(Player, callsign="Honest")
    perfect(served(honest, index=1))
    perfect(served(honest, quest=2))
    html = client.get(reverse("quests:leaderboard")).content.decode()
    assert html.index("Honest") < html.index("Farmer")
