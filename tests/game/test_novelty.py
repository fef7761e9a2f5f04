"""Never the same content twice while new content exists: buffer, archive, live, replays."""

from __future__ import annotations

import random

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.html import escape
from model_bakery import baker

from quests.models import FallbackReason, Player, Quest, QuestRun, RunSource, RunStatus, Tier, XpNote
from quests.services.archive import archive_entries
from quests.services.content import content_fields
from quests.services.daily import daily_today
from quests.services.grading import run_grade
from quests.services.live import live_write
from quests.services.novelty import archive_choose, entry_key
from quests.services.prefetch import buffer_keep, buffer_refill
from quests.services.runs import run_start
from tests.quests_fixtures import (  # noqa: F401
    archive_content,
    game_settings,
    make_run,
    mission_reply,
    right_answers,
    seeded,
    session_player,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("game_settings", "seeded")]

ROOMY = {"rpm": 10_000, "rpd": 1_000_000, "tpm": 10**8, "tpd": 10**9}


def flown(player: Player, *, quest: int = 1, index: int = 0) -> QuestRun:
    """An answered run of archive mission `index` of the quest."""
    run = baker.make(
        QuestRun, quest=Quest.objects.get(number=quest), player=player, source=RunSource.ARCHIVE,
        status=RunStatus.READY, **content_fields(archive_content(quest, index)),
    )
    run_grade(run_id=run.pk, player=player, answers=[q["answer"] for q in run.questions])
    return run


def launch(client, number: int = 1) -> QuestRun:
    response = client.post(reverse("quests:quest_launch", args=[number]))
    assert response.status_code == 302
    return QuestRun.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


def test_the_buffer_skips_what_the_player_has_flown():
    player = baker.make(Player, callsign="Returning")
    flown(player, index=0)
    stale = make_run(quest_number=1, index=0)  # older, but this player flew its content
    fresh = make_run(quest_number=1, index=1)
    run = run_start(player=player, quest=Quest.objects.get(number=1))
    assert run.pk == fresh.pk
    stale.refresh_from_db()
    assert stale.player_id is None  # still there for a player who has not flown it
    assert run_start(player=baker.make(Player, callsign="Newcomer"), quest=Quest.objects.get(number=1)).pk == stale.pk


def test_the_buffer_never_queues_two_copies_of_one_content():
    quest = Quest.objects.get(number=2)
    fields = content_fields(archive_content(2, 0), rng=random.Random(1))
    assert buffer_keep(quest=quest, tier=Tier.CADET, fields=fields)
    again = content_fields(archive_content(2, 0), rng=random.Random(2))  # other option order, same content
    assert not buffer_keep(quest=quest, tier=Tier.CADET, fields=again)
    assert QuestRun.objects.buffered(quest.pk).count() == 1
    # The database itself refuses it, whoever writes.
    with pytest.raises(IntegrityError), transaction.atomic():
        QuestRun.objects.create(quest=quest, tier=Tier.CADET, source=RunSource.BUFFER, status=RunStatus.READY, **again)
    # Once served, the same content may be queued again for others.
    QuestRun.objects.buffered(quest.pk).update(player=baker.make(Player, callsign="Taker"))
    assert buffer_keep(quest=quest, tier=Tier.CADET, fields=again)


def test_a_refill_that_writes_a_queued_mission_does_not_count_it_as_a_fill(pool_factory, settings):
    settings.QUESTS = {"buffer_size": 2, "refills_per_run": 4, "refill_on_serve": False}
    pool = pool_factory(orgs=1, limits=ROOMY)
    for n in (1, 1, 2):
        pool.stub.enqueue(mission_reply(1, n))
    report = buffer_refill(quest_ids=[Quest.objects.get(number=1).pk])
    assert report.created == {1: 2} and report.duplicates == {1: 1} and report.calls == 3
    titles = sorted(QuestRun.objects.buffered(Quest.objects.get(number=1).pk).values_list("title", flat=True))
    assert len(set(titles)) == 2


def test_the_archive_serves_every_mission_of_a_tier_once_before_any_repeat(client):
    shelf = archive_entries(quest_number=3, tier=Tier.CADET)
    seen = []
    for _ in range(len(shelf) + 2):
        run = launch(client, 3)
        seen.append(run.content_key)
        page = client.get(reverse("quests:run_detail", args=[run.pk])).content.decode()
        practice = "Practice · 0 XP" in page
        assert practice == (len(seen) > len(shelf))  # said on the mission page, before answering
        client.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run))
    assert len(set(seen[: len(shelf)])) == len(shelf)
    # Then the one flown longest ago comes back first.
    assert seen[len(shelf)] == seen[0] and seen[len(shelf) + 1] == seen[1]


def test_archive_choice_prefers_unflown_then_held_back_then_the_least_recent():
    entries = archive_entries(quest_number=1, tier=Tier.CADET)
    keys = [entry_key(e) for e in entries]
    entry, new = archive_choose(player_id=None, quest_number=1, tier=Tier.CADET, flown=set(keys[1:]))
    assert (entry.ref, new) == (entries[0].ref, True)
    entry, new = archive_choose(
        player_id=None, quest_number=1, tier=Tier.CADET, flown=set(keys[2:]), held_back={keys[0]}
    )
    assert (entry.ref, new) == (entries[1].ref, True)
    entry, new = archive_choose(player_id=None, quest_number=1, tier=Tier.CADET, flown=set(keys[1:]), held_back={keys[0]})
    assert (entry.ref, new) == (entries[0].ref, True)  # held back, but the only one left unflown
    _entry, new = archive_choose(player_id=None, quest_number=1, tier=Tier.CADET, flown=set(keys))
    assert not new


def test_an_ordinary_launch_does_not_spoil_todays_daily():
    mission = daily_today()  # from the archive of the day's quest
    quest = mission.quest
    shelf = archive_entries(quest_number=quest.number, tier=Tier.CADET)
    for i in range(3):  # three players, each flying all but one archive mission of that quest
        player = baker.make(Player, callsign=f"Patient {i}")
        served = set()
        for _ in range(len(shelf) - 1):
            run = run_start(player=player, quest=quest)
            served.add(run.content_key)
            run_grade(run_id=run.pk, player=player, answers=[q["answer"] for q in run.questions])
        assert mission.content_key not in served


def test_a_live_mission_the_player_has_flown_is_swapped_for_a_new_one(pool_factory, settings):
    settings.QUESTS = {"refill_on_serve": False, "live_max_in_flight": 100, "live_rate_player": "100/h"}
    pool = pool_factory(orgs=1, limits=ROOMY)
    player = baker.make(Player, user=baker.make(User), callsign="Veteran")
    quest = Quest.objects.get(number=1)
    # The player flew a live mission; the model writes it again, then a new one.
    pool.stub.enqueue(mission_reply(1, 7))
    first = run_start(player=player, quest=quest)
    assert live_write(run_id=first.pk) == "live"
    run_grade(run_id=first.pk, player=player, answers=[q["answer"] for q in QuestRun.objects.get(pk=first.pk).questions])
    first.refresh_from_db()
    pool.stub.enqueue(mission_reply(1, 7))
    pool.stub.enqueue(mission_reply(1, 8))
    second = run_start(player=player, quest=quest)
    assert live_write(run_id=second.pk) == "live"
    second.refresh_from_db()
    assert second.content_key != first.content_key and second.title.endswith("(8)")
    # The repeat is kept for the buffer: other players have not flown it.
    assert list(QuestRun.objects.buffered(quest.pk).values_list("content_key", flat=True)) == [first.content_key]

    # The model repeats itself twice: the player gets the archive mission the run holds.
    pool.stub.enqueue(mission_reply(1, 7))
    pool.stub.enqueue(mission_reply(1, 8))
    run_grade(run_id=second.pk, player=player, answers=[q["answer"] for q in second.questions])
    third = run_start(player=player, quest=quest)
    held = third.content_key
    assert live_write(run_id=third.pk) == "repeat"
    third.refresh_from_db()
    assert (third.source, third.fallback_reason, third.content_key) == (RunSource.ARCHIVE, FallbackReason.REPEAT, held)
    assert held not in {first.content_key, second.content_key}


def test_the_quest_page_marks_flown_missions_and_todays_xp_left(client):
    run = launch(client, 2)
    client.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run))
    run.refresh_from_db()
    page = client.get(reverse("quests:quest_detail", args=[2])).content.decode()
    assert "Missions you have flown" in page and escape(run.title) in page and "flown</span>" in page
    assert f"Today: {150 - run.xp_awarded} of 150 XP left" in page
    assert "Fly again · practice, 0 XP" in page
    assert "9 of 10 cadet" in page


def test_a_replay_chosen_on_purpose_says_practice_before_it_starts_and_pays_nothing(client):
    run = launch(client, 4)
    client.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run))
    player = session_player(client)
    xp = Player.objects.get(pk=player.pk).xp
    response = client.post(reverse("quests:quest_replay", args=[4]), {"run": run.pk})
    replay = QuestRun.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
    assert (replay.source, replay.content_key, replay.status) == (RunSource.REPLAY, run.content_key, RunStatus.READY)
    page = client.get(reverse("quests:run_detail", args=[replay.pk])).content.decode()
    assert "Practice · 0 XP" in page and "You have flown this mission before" in page
    client.post(reverse("quests:run_answer", args=[replay.pk]), right_answers(replay))
    replay.refresh_from_db()
    assert (replay.xp_awarded, replay.xp_note) == (0, XpNote.REPEAT)
    assert Player.objects.get(pk=player.pk).xp == xp
    # A first flight says nothing of the kind.
    fresh = launch(client, 5)
    assert "Practice · 0 XP" not in client.get(reverse("quests:run_detail", args=[fresh.pk])).content.decode()


def test_only_your_own_flown_missions_can_be_replayed(client):
    other = baker.make(Player, callsign="Other")
    theirs = flown(other, quest=1)
    assert client.post(reverse("quests:quest_replay", args=[1]), {"run": theirs.pk}).status_code == 404  # no player yet
    mine = launch(client, 2)  # now a player, with a mission of their own open
    assert client.post(reverse("quests:quest_replay", args=[2]), {"run": mine.pk}).status_code == 404  # not flown yet
    assert client.post(reverse("quests:quest_replay", args=[1]), {"run": theirs.pk}).status_code == 404
    assert client.post(reverse("quests:quest_replay", args=[1]), {"run": "x"}).status_code == 404
    assert not QuestRun.objects.filter(source=RunSource.REPLAY).exists()


def test_the_mission_computers_repeat_is_explained_on_the_page(client):
    run = launch(client, 1)
    QuestRun.objects.filter(pk=run.pk).update(fallback_reason=FallbackReason.REPEAT)
    page = client.get(reverse("quests:run_detail", args=[run.pk])).content.decode()
    assert "wrote a mission you have already flown" in page
