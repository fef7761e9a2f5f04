"""The smaller defects of issue 17, each pinned: sign-up and its help, the keyboard keys, the
favicon, "0 minutes ago", the rank bar after a promotion, a documented way into the demo's admin.
(Focus after a failed sign-up and the phone layouts are checked in a browser:
test_browser_features.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker

from quests.models import Player, QuestRun
from quests.templatetags.game import ago
from tests.quests_fixtures import game_settings, right_answers, seeded, session_player, signup_form  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("game_settings", "seeded")]
ROOT = Path(__file__).resolve().parents[2]
PASSWORDS = {"password1": "orbit-velocity-42", "password2": "orbit-velocity-42"}


def test_sign_up_takes_the_spaces_its_help_text_allows(client):
    page = client.get(reverse("quests:signup")).content.decode()
    assert "spaces" in page  # what the help promises
    response = client.post(reverse("quests:signup"), signup_form("Star  Lord "))
    assert response.status_code == 302
    user = User.objects.get()
    assert user.username == "Star Lord" and Player.objects.get(user=user).callsign == "Star Lord"
    client.post(reverse("quests:logout"))
    assert client.post(reverse("quests:login"), {"username": "Star Lord", "password": PASSWORDS["password1"]}).status_code == 302


def test_a_failed_sign_up_keeps_the_help_and_leads_with_an_error_summary(client):
    response = client.post(reverse("quests:signup"), {"username": "x!", "password1": "a", "password2": "b"})
    page = response.content.decode()
    assert response.status_code == 400
    help_text = re.search(r'<div class="small muted help" id="id_username_help">([^<]*)</div>', page)
    assert help_text and "spaces" in help_text.group(1)  # the help is still there, beside the error
    username = re.search(r'<input type="text" name="username"[^>]*>', page).group(0)
    assert 'aria-describedby="id_username_error id_username_help"' in username
    summary = re.search(r'<div class="form-errors"[^>]*>', page).group(0)
    assert 'id="form-errors"' in summary and 'tabindex="-1"' in summary and "autofocus" in summary
    assert page.index("form-errors") < page.index('name="username"')
    assert '<a href="#id_username">' in page


def test_options_are_labelled_a_to_d_and_the_keys_say_so(client):
    client.post(reverse("quests:quest_launch", args=[1]))
    run = QuestRun.objects.get()
    page = client.get(reverse("quests:run_detail", args=[run.pk])).content.decode()
    assert [f'aria-keyshortcuts="{letter} {n}"' in page for n, letter in enumerate("ABCD", start=1)] == [True] * 4
    assert "press <kbd>A</kbd>–<kbd>D</kbd> (or <kbd>1</kbd>–<kbd>4</kbd>)" in page
    script = (ROOT / "static" / "quests" / "game.js").read_text()
    assert 'a: 0, b: 1, c: 2, d: 3, "1": 0' in script  # the keys the hint names


def test_favicon_ico_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert client.head("/favicon.ico").status_code == 200


def test_a_run_just_answered_says_just_now_not_zero_minutes(client):
    client.post(reverse("quests:quest_launch", args=[1]))
    run = QuestRun.objects.get()
    client.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run))
    page = client.get(reverse("quests:profile")).content.decode()
    assert "just now" in page and "0 minutes" not in page
    assert ago(timezone.now() - timezone.timedelta(minutes=5, seconds=3)) == "5\xa0minutes ago"
    assert ago(timezone.now() - timezone.timedelta(hours=2, minutes=7)) == "2\xa0hours ago"


def test_the_result_of_a_promotion_shows_the_rank_completed_in_full(client):
    client.post(reverse("quests:quest_launch", args=[1]))
    run = QuestRun.objects.get()
    Player.objects.filter(pk=session_player(client).pk).update(xp=40)  # a perfect mission makes Ensign
    response = client.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run))
    page = client.get(response["Location"]).content.decode()
    assert "promoted to Ensign" in page
    assert "Cadet completed" in page and 'aria-label="Cadet completed"' in page and 'aria-valuenow="100"' in page
    # Shown once, for that result.
    assert "Cadet completed" not in client.get(response["Location"]).content.decode()
    css = (ROOT / "static" / "quests" / "game.css").read_text()
    assert ".rank-card .progress-bar { min-width:" in css  # a bar at 0 % still shows its start


def test_the_demo_has_a_documented_way_into_its_admin():
    makefile = (ROOT / "Makefile").read_text()
    rule = re.search(r"^demo-superuser:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert rule and "DATABASE_URL=$(DEMO_DATABASE_URL)" in rule.group(1) and "createsuperuser" in rule.group(1)
    assert "make demo-superuser" in (ROOT / "README.md").read_text()


def test_pages_that_do_not_exist_for_a_visitor_say_so_clearly(client):
    baker.make(Player, callsign="Somebody")
    assert client.post(reverse("quests:quest_replay", args=[1]), {"run": 1}).status_code == 404
    assert client.post(reverse("quests:quest_replay", args=[9]), {"run": 1}).status_code == 404
    assert client.get(reverse("quests:flight_school")).status_code == 200
    assert client.get(reverse("quests:leagues")).status_code == 200
