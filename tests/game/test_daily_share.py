"""A daily worth sharing: one mission everyone has not flown, what it pays, a countdown, and a
spoiler-free share card with a link preview."""

from __future__ import annotations

import html
import io
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker
from PIL import Image

from quests import tasks
from quests.models import DailyMission, Player, Quest, QuestRun, RunSource, RunStatus
from quests.services.archive import archive_entries
from quests.services.content import content_fields
from quests.services.daily import daily_for, daily_quest, daily_start, daily_today, next_daily_at
from quests.services.grading import run_grade
from quests.services.novelty import entry_key
from quests.services.share_card import share_token
from tests.quests_fixtures import game_settings, right_answers, seeded, session_player  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("game_settings", "seeded")]


def fly(player: Player, content: dict, quest: Quest) -> QuestRun:
    run = baker.make(QuestRun, quest=quest, player=player, source=RunSource.ARCHIVE, status=RunStatus.READY,
                     **content_fields(content))
    run_grade(run_id=run.pk, player=player, answers=[q["answer"] for q in run.questions])
    return run


def test_without_the_model_the_hourly_task_fixes_the_archive_daily_fewest_players_have_flown():
    day = timezone.localdate()
    quest = daily_quest(day=day)
    entries = archive_entries(quest_number=quest.number, tier="cadet")
    # Every entry but the last has been flown by someone.
    for i, entry in enumerate(entries[:-1]):
        fly(baker.make(Player, callsign=f"Pilot {i}"), entry.content.as_dict(), quest)
    report = tasks.prepare_daily()  # no keys: the model writes nothing
    assert report["archive"] == [day.isoformat()] and len(report["missing"]) == 2
    mission = DailyMission.objects.get(day=day)
    assert mission.content_key == entry_key(entries[-1]) and mission.variant == 0 and mission.source == "archive"
    assert daily_today(day=day).pk == mission.pk  # everyone's
    assert not DailyMission.objects.filter(day=day + timedelta(days=1)).exists()  # a later try may write it


def test_a_page_that_finds_no_daily_fixes_one_at_once_never_a_recent_one():
    day = timezone.localdate()
    # The quest's dailies of the last 30 days (the quests take turns), oldest first.
    recent = [daily_today(day=day - timedelta(days=5 * back)).content_key for back in (5, 4, 3, 2, 1)]
    assert len(set(recent)) == 5  # none repeats another
    mission = daily_today(day=day)
    assert mission.content_key not in recent


def test_a_player_who_flew_the_daily_elsewhere_gets_the_days_alternative():
    main = daily_today()
    veteran = baker.make(Player, callsign="Veteran")
    fly(veteran, {"title": main.title, "briefing": main.briefing, "questions": main.questions}, main.quest)
    choice = daily_for(player=veteran)
    assert choice.new and choice.mission.variant == 1 and choice.mission.content_key != main.content_key
    run = daily_start(player=veteran)
    assert run.daily_id == choice.mission.pk and run.content_key == choice.mission.content_key
    # Another player in the same case shares that alternative; a newcomer flies everyone's daily.
    second = baker.make(Player, callsign="Second")
    fly(second, {"title": main.title, "briefing": main.briefing, "questions": main.questions}, main.quest)
    assert daily_for(player=second).mission.pk == choice.mission.pk
    assert daily_for(player=baker.make(Player, callsign="Newcomer")).mission.pk == main.pk
    assert daily_start(player=veteran).pk == run.pk  # one daily a day
    assert DailyMission.objects.filter(day=main.day).count() == 2


def test_the_alternative_shares_the_days_board(client):
    main = daily_today()
    client.post(reverse("quests:daily_launch"))
    player = session_player(client)
    fly(baker.make(Player, callsign="Early"), {"title": main.title, "briefing": main.briefing, "questions": main.questions}, main.quest)
    veteran = baker.make(Player, callsign="Veteran")
    fly(veteran, {"title": main.title, "briefing": main.briefing, "questions": main.questions}, main.quest)
    alt = daily_start(player=veteran)
    run_grade(run_id=alt.pk, player=veteran, answers=[q["answer"] for q in alt.questions])
    mine = QuestRun.objects.get(player=player, daily__isnull=False)
    client.post(reverse("quests:run_answer", args=[mine.pk]), right_answers(mine))
    board = client.get(reverse("quests:daily")).content.decode()
    assert "Veteran" in board and player.callsign in board


def test_when_every_candidate_is_flown_the_daily_is_practice_and_says_so_before_launch(client):
    main = daily_today()
    client.get("/")
    client.post(reverse("quests:quest_launch", args=[main.quest.number]))
    player = session_player(client)
    QuestRun.objects.filter(player=player).delete()
    for entry in archive_entries(quest_number=main.quest.number, tier="cadet"):
        fly(player, entry.content.as_dict(), main.quest)
    assert not daily_for(player=player).new
    page = client.get(reverse("quests:daily")).content.decode()
    assert "Practice, 0 XP" in page and "Launch the daily mission · practice, 0 XP" in page


def test_the_daily_page_says_what_it_pays_and_when_the_next_one_comes(client):
    page = client.get(reverse("quests:daily")).content.decode()
    assert "Up to 50 XP" in page and "10 per correct answer, +20 for all three" in page
    assert "outside the quests' daily XP cap" in page
    left = int((next_daily_at() - timezone.now()).total_seconds())
    hours, minutes = left // 3600, left % 3600 // 60
    assert f"{hours} h {minutes} min" in page or f"{hours} h {minutes - 1} min" in page  # server-side, no script needed
    assert 'data-countdown="' in page
    at = next_daily_at(now=timezone.make_aware(datetime(2026, 3, 9, 23, 59, 30)))
    assert at == timezone.make_aware(datetime(2026, 3, 10))


def test_a_streak_adds_its_bonus_to_what_the_daily_pays(client):
    client.post(reverse("quests:quest_launch", args=[1]))
    player = session_player(client)
    Player.objects.filter(pk=player.pk).update(streak_days=3, last_played_on=timezone.localdate() - timedelta(days=1))
    page = client.get(reverse("quests:daily")).content.decode()
    assert "Up to 56 XP" in page and "+6 streak bonus" in page  # day 4 of the streak: +2 a day after the first


def test_after_the_daily_a_spoiler_free_share_card_and_a_link_that_previews(client):
    client.post(reverse("quests:daily_launch"))
    run = QuestRun.objects.get(daily__isnull=False)
    answers = right_answers(run)
    answers["q2"] = str((run.questions[1]["answer"] + 1) % 4)
    client.post(reverse("quests:run_answer", args=[run.pk]), answers)
    result = client.get(reverse("quests:run_result", args=[run.pk])).content.decode()
    assert "Share your daily" in result and 'data-copy="share-text"' in result
    run.refresh_from_db()
    text = html.unescape(result.split('id="share-text"')[1].split("</textarea>")[0])
    assert "🟩🟥🟩 2/3" in text and "Time " in text
    for question in run.questions:  # no spoilers
        assert question["prompt"] not in text
        assert question["options"][question["answer"]] not in text
    assert run.title not in text
    url = reverse("quests:daily_share", args=[share_token(run)])
    assert url in text
    # The daily page shows the card too, once played.
    assert "Share your daily" in client.get(reverse("quests:daily")).content.decode()

    visitor = Client()  # anyone with the link
    page = visitor.get(url)
    shared = page.content.decode()
    assert page.status_code == 200
    assert '<meta property="og:title" content="CosmosQuest daily' in shared
    assert 'property="og:description"' in shared and "2/3" in shared
    image_url = f"http://testserver{url.rstrip('/')}.png"
    assert f'<meta property="og:image" content="{image_url}">' in shared
    png = visitor.get(url.rstrip("/") + ".png")
    assert png["Content-Type"] == "image/png" and "public" in png["Cache-Control"]
    assert Image.open(io.BytesIO(png.content)).size == (1200, 630)


def test_a_share_link_that_is_not_ours_is_a_clear_404(client):
    client.post(reverse("quests:daily_launch"))
    run = QuestRun.objects.get(daily__isnull=False)
    token = share_token(run)
    assert client.get(reverse("quests:daily_share", args=[token])).status_code == 404  # not answered yet
    client.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run))
    assert client.get(reverse("quests:daily_share", args=[token])).status_code == 200
    forged = f"{run.pk + 1}.{token.split('.', 1)[1]}"
    for bad in (forged, "nonsense", "1.", "9" * 40):
        response = client.get(reverse("quests:daily_share", args=[bad]))
        assert response.status_code == 404 and b"Card not found" in response.content
    assert client.get(reverse("quests:daily_share_image", args=[forged])).status_code == 404
