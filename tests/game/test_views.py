"""The player's pages through the test client, with every tampering case."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils.html import escape
from model_bakery import baker

from quests.models import Player, Quest, QuestRun, RunSource, RunStatus
from quests.services.scoring import PERFECT_BONUS, XP_PER_CORRECT
from tests.quests_fixtures import (  # noqa: F401
    game_settings,
    make_run,
    right_answers,
    seeded,
    session_player,
    signup_form,
    wrong_answers,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("game_settings", "seeded")]


def launch(client, number: int = 1) -> QuestRun:
    response = client.post(reverse("quests:quest_launch", args=[number]))
    assert response.status_code == 302
    return QuestRun.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


def answer(client, run: QuestRun, data: dict):
    return client.post(reverse("quests:run_answer", args=[run.pk]), data)


def test_it_shows_the_star_map_with_five_quests(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for title in ["Lunar Navigation", "Martian Geology", "The Galilean Moons", "Ring Runner", "Exoplanet Hunters"]:
        assert title in html
    assert "No flight log yet" in html
    assert not Player.objects.exists()  # looking creates nothing


def test_a_guest_plays_a_buffered_run_from_launch_to_result(client):
    buffered = make_run(quest_number=2)
    response = client.get(reverse("quests:quest_detail", args=[2]))
    assert b"Launch mission" in response.content
    run = launch(client, 2)
    assert run.pk == buffered.pk
    player = session_player(client)
    page = client.get(reverse("quests:run_detail", args=[run.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert escape(run.briefing) in html and 'type="radio"' in html
    # The correct answers never reach the browser before grading.
    for q in run.questions:
        assert q["explanation"] not in html
    assert '"answer"' not in html
    response = answer(client, run, right_answers(run))
    assert response.status_code == 302 and response["Location"] == reverse("quests:run_result", args=[run.pk])
    player.refresh_from_db()
    assert player.xp == 3 * XP_PER_CORRECT + PERFECT_BONUS
    assert (player.runs_completed, player.perfect_runs, player.streak_days) == (1, 1, 1)
    result = client.get(response["Location"])
    html = result.content.decode()
    assert "Perfect mission!" in html and f"{player.xp} XP" in html
    assert run.questions[0]["explanation"] in html
    assert "Next quest:" in html
    # The run now redirects to its result.
    assert client.get(reverse("quests:run_detail", args=[run.pk]))["Location"].endswith("/result")


def test_an_empty_buffer_without_keys_serves_an_archive_run_at_once(client):
    run = launch(client, 5)
    assert (run.status, run.source) == (RunStatus.READY, RunSource.ARCHIVE)
    page = client.get(reverse("quests:run_detail", args=[run.pk]))
    assert page.status_code == 200 and b"Receiving your mission" not in page.content
    assert b"Archive transmission" in page.content and b"Your challenge" in page.content


def test_relaunching_returns_the_open_mission(client):
    make_run(quest_number=1)
    make_run(quest_number=1, index=1)
    first = launch(client, 1)
    assert launch(client, 1).pk == first.pk
    assert b"Continue your mission" in client.get(reverse("quests:quest_detail", args=[1])).content


def test_wrong_answers_earn_nothing_and_show_the_right_ones(client):
    make_run(quest_number=3)
    run = launch(client, 3)
    answer(client, run, wrong_answers(run))
    player = session_player(client)
    assert player.xp == 0 and player.runs_completed == 1 and player.perfect_runs == 0
    html = client.get(reverse("quests:run_result", args=[run.pk])).content.decode()
    assert "0 of 3" in html and "correct answer" in html


# --- tampering: 400/404 with a clear message, never a 500, never double XP -------------------


def test_double_submission_counts_once(client):
    make_run(quest_number=1)
    run = launch(client, 1)
    assert answer(client, run, right_answers(run)).status_code == 302
    # The second sending lands on the result (a GET, so the back button works) with a note.
    again = answer(client, run, right_answers(run))
    assert again.status_code == 302 and again["Location"] == reverse("quests:run_result", args=[run.pk])
    assert b"already sent your answers" in client.get(again["Location"]).content
    assert session_player(client).xp == 3 * XP_PER_CORRECT + PERFECT_BONUS


def test_answering_someone_elses_run_is_not_found(client, django_user_model):
    owner = Player.objects.create(callsign="Owner")
    theirs = make_run(quest_number=1, player=owner)
    make_run(quest_number=2)
    launch(client, 2)  # the client is a player too
    response = answer(client, theirs, right_answers(theirs))
    assert response.status_code == 404 and b"no mission with that number" in response.content
    assert client.get(reverse("quests:run_detail", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("quests:run_result", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("quests:run_status", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == RunStatus.READY and owner.xp == 0


def test_answering_without_a_session_is_not_found(client):
    run = make_run(quest_number=1, player=Player.objects.create(callsign="Owner"))
    assert answer(client, run, right_answers(run)).status_code == 404


def test_a_buffered_unserved_run_cannot_be_answered(client):
    make_run(quest_number=2)
    launch(client, 2)
    unserved = make_run(quest_number=1)
    assert answer(client, unserved, right_answers(unserved)).status_code == 404


def test_unknown_runs_and_quests_are_not_found(client):
    assert client.get(reverse("quests:run_detail", args=[99999])).status_code == 404
    assert client.get(reverse("quests:quest_detail", args=[9])).status_code == 404
    assert client.post(reverse("quests:quest_launch", args=[9])).status_code == 404
    assert client.post(reverse("quests:run_answer", args=[99999]), {"q1": "0"}).status_code == 404


@pytest.mark.parametrize(
    "tamper",
    [
        {"q1": "4"},
        {"q1": "-1"},
        {"q2": "abc"},
        {"q3": "1.5"},
        {"q3": "9" * 40},
        {"q4": "0"},
        {"answer": "2"},
    ],
)
def test_tampered_answers_are_rejected_with_400(client, tamper):
    make_run(quest_number=4)
    run = launch(client, 4)
    data = {**right_answers(run), **tamper}
    response = answer(client, run, data)
    assert response.status_code == 400
    assert b"Transmission garbled" in response.content
    run.refresh_from_db()
    assert run.status == RunStatus.READY and session_player(client).xp == 0


def test_a_repeated_field_is_tampering(client):
    make_run(quest_number=4)
    run = launch(client, 4)
    body = "&".join(f"{k}={v}" for k, v in right_answers(run).items()) + "&q1=0"
    response = client.post(
        reverse("quests:run_answer", args=[run.pk]), body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400


def test_a_missing_answer_shows_the_form_again_with_a_message(client):
    make_run(quest_number=4)
    run = launch(client, 4)
    data = right_answers(run)
    del data["q2"]
    response = answer(client, run, data)
    # Post-redirect-get: the form comes back on a GET, so going back never re-posts.
    assert response.status_code == 302 and response["Location"] == reverse("quests:run_detail", args=[run.pk])
    page = client.get(response["Location"])
    assert b"Choose an answer for question 2." in page.content
    # The player's other choices are kept, once.
    assert page.content.count(b" checked>") == 2
    assert b"Choose an answer" not in client.get(response["Location"]).content
    run.refresh_from_db()
    assert run.status == RunStatus.READY


def test_answering_a_pending_run_is_rejected(client):
    make_run(quest_number=2)
    launch(client, 2)  # the client is a player now
    run = baker.make(QuestRun, player=session_player(client), quest=Quest.objects.get(number=1), source=RunSource.LIVE,
                     status=RunStatus.PENDING, questions=[])
    response = answer(client, run, {"q1": "0", "q2": "0", "q3": "0"})
    assert response.status_code == 302
    assert b"not arrived yet" in client.get(response["Location"]).content


def test_answer_and_launch_only_accept_post(client):
    make_run(quest_number=1)
    run = launch(client, 1)
    assert client.get(reverse("quests:run_answer", args=[run.pk])).status_code == 405
    assert client.get(reverse("quests:quest_launch", args=[1])).status_code == 405


def test_a_result_before_answering_goes_back_to_the_mission(client):
    make_run(quest_number=1)
    run = launch(client, 1)
    assert client.get(reverse("quests:run_result", args=[run.pk]))["Location"] == reverse(
        "quests:run_detail", args=[run.pk]
    )


# --- players: leaderboard, profile, sign-up and log-in claim the guest's progress -----------


def play_perfect(client, number: int = 1) -> QuestRun:
    make_run(quest_number=number)
    run = launch(client, number)
    answer(client, run, right_answers(run))
    return run


def test_leaderboard_ranks_players_by_xp(client):
    Player.objects.create(callsign="Ace", xp=500)
    Player.objects.create(callsign="Nobody", xp=0)
    play_perfect(client)
    html = client.get(reverse("quests:leaderboard")).content.decode()
    assert html.index("Ace") < html.index(session_player(client).callsign)
    assert "Nobody" not in html and "You are <strong>#2</strong>" in html


def test_profile_renames_the_callsign_and_rejects_bad_ones(client):
    play_perfect(client)
    response = client.post(reverse("quests:profile"), {"callsign": "Star Lord"})
    assert response.status_code == 302
    assert session_player(client).callsign == "Star Lord"
    bad = client.post(reverse("quests:profile"), {"callsign": "<script>"})
    assert bad.status_code == 302
    assert b"3 to 24 characters" in client.get(bad["Location"]).content
    page = client.get(reverse("quests:profile")).content.decode()
    assert "Flight log" in page and "Sign up" in page


def test_signing_up_keeps_the_guests_progress(client):
    run = play_perfect(client)
    guest = session_player(client)
    response = client.post(
        reverse("quests:signup"),
        signup_form("vega"),
    )
    assert response.status_code == 302
    user = User.objects.get(username="vega")
    player = Player.objects.get(user=user)
    assert player.pk == guest.pk and player.xp == guest.xp
    assert QuestRun.objects.get(pk=run.pk).player_id == player.pk
    assert client.get(reverse("quests:run_result", args=[run.pk])).status_code == 200


def test_logging_in_merges_the_guests_runs_into_the_account(client):
    user = User.objects.create_user("rigel", password="orbit-velocity-42")
    account = Player.objects.create(user=user, callsign="Rigel", xp=100, runs_completed=2)
    run = play_perfect(client, 3)
    guest = session_player(client)
    response = client.post(reverse("quests:login"), {"username": "rigel", "password": "orbit-velocity-42"})
    assert response.status_code == 302 and response["Location"] == "/"
    account.refresh_from_db()
    assert account.xp == 100 + guest.xp and account.runs_completed == 3
    assert not Player.objects.filter(pk=guest.pk).exists()
    assert QuestRun.objects.get(pk=run.pk).player_id == account.pk
    assert b"Pilot <strong>Rigel</strong>" in client.get("/").content


def test_logging_out_leaves_a_fresh_guest_session(client):
    User.objects.create_user("rigel", password="orbit-velocity-42")
    client.post(reverse("quests:login"), {"username": "rigel", "password": "orbit-velocity-42"})
    response = client.post(reverse("quests:logout"))
    assert response.status_code == 302
    assert b"No flight log yet" in client.get("/").content


def test_auth_pages_render(client):
    assert client.get(reverse("quests:login")).status_code == 200
    assert client.get(reverse("quests:signup")).status_code == 200
    bad = client.post(reverse("quests:signup"), {"username": "x", "password1": "a", "password2": "b"})
    assert bad.status_code == 400
