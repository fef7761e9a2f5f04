"""Opening an account (issue 18): a person check without any third party (a time token and a
hidden field), new accounts limited per address and per IPv6 /48, and one answer for every name
that cannot be had, so sign-up does not tell which usernames exist."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from model_bakery import baker

from quests.models import Player
from quests.services.players import UNAVAILABLE
from quests.services.signup import NOT_A_PERSON, STALE, TOO_QUICK, challenge_token
from tests.quests_fixtures import game_settings, seeded, signup_form  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("game_settings", "seeded")]
URL = reverse("quests:signup")


def sign_up(client: Client, username: str, **changes):
    return client.post(URL, {**signup_form(username), **changes})


def test_the_form_carries_a_fresh_token_and_a_field_people_never_see(client):
    html = client.get(URL).content.decode()
    assert 'name="form_token"' in html and 'class="signup-trap" aria-hidden="true"' in html
    assert 'name="flight_plan"' in html and 'tabindex="-1"' in html
    tokens = {client.get(URL).content.decode().split('name="form_token" value="')[1].split('"')[0] for _ in range(2)}
    assert len(tokens) == 2


def test_a_person_filling_the_form_in_gets_an_account(client):
    response = sign_up(client, "vega")
    assert response.status_code == 302 and User.objects.filter(username="vega").exists()


def test_a_form_sent_back_at_once_is_refused_and_shown_again_with_a_new_token(client):
    response = sign_up(client, "vega", form_token=challenge_token())
    assert response.status_code == 400 and TOO_QUICK in response.content.decode()
    assert not User.objects.exists()
    assert 'name="form_token" value="' in response.content.decode()


def test_the_hidden_field_filled_in_is_refused(client):
    response = sign_up(client, "vega", flight_plan="http://spam.example")
    assert response.status_code == 400 and NOT_A_PERSON in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.parametrize("token", ["", "forged", "eyJub25jZSI6IngifQ:1abc:xyz"])
def test_a_missing_or_forged_token_is_refused(client, token):
    response = sign_up(client, "vega", form_token=token)
    assert response.status_code == 400 and STALE in response.content.decode()
    assert not User.objects.exists()


def test_a_token_is_good_once_and_not_for_ever(client, settings):
    token = challenge_token(now=time.time() - 60)
    assert sign_up(Client(), "vega", form_token=token).status_code == 302
    again = sign_up(Client(), "rigel", form_token=token)
    assert again.status_code == 400 and STALE in again.content.decode()
    settings.QUESTS = {**settings.QUESTS, "signup_max_age_seconds": 600}
    old = sign_up(Client(), "deneb", form_token=challenge_token(now=time.time() - 601))
    assert old.status_code == 400 and STALE in old.content.decode()
    assert list(User.objects.values_list("username", flat=True)) == ["vega"]


def test_new_accounts_are_limited_per_address(settings):
    settings.QUESTS = {**settings.QUESTS, "signup_rate_address": "2/d"}
    statuses = [sign_up(Client(REMOTE_ADDR="203.0.113.7"), f"pilot{i}").status_code for i in range(4)]
    assert statuses == [302, 302, 429, 429]
    refused = sign_up(Client(REMOTE_ADDR="203.0.113.7"), "pilot9")
    assert "Too many accounts were opened from your network" in refused.content.decode()
    assert "keep playing as a guest" in refused.content.decode()
    assert sign_up(Client(REMOTE_ADDR="198.51.100.2"), "elsewhere").status_code == 302
    assert User.objects.count() == 3


def test_ipv6_sign_ups_are_limited_per_56_and_per_48(settings):
    settings.QUESTS = {**settings.QUESTS, "signup_rate_address": "1/d", "signup_rate_network": "3/d"}
    home = [sign_up(Client(REMOTE_ADDR=f"2001:db8:5:1{i:02x}::9"), f"home{i}").status_code for i in range(2)]
    rotated = [sign_up(Client(REMOTE_ADDR=f"2001:db8:5:{i:02x}00::9"), f"rot{i}").status_code for i in range(2, 6)]
    assert home == [302, 429]
    assert rotated == [302, 302, 429, 429]


def test_every_name_that_cannot_be_had_gets_the_same_answer(client, settings):
    settings.AUTH_FAILURE_RATE_ADDRESS = "100/15m"
    renamed = baker.make(User, username="orion")
    baker.make(Player, user=renamed, callsign="Betelgeuse")  # the username is no callsign any more
    baker.make(Player, callsign="Sirius")
    baker.make(User, username="ops", is_staff=True)
    answers = set()
    for name in ("orion", "ORION", "Sirius", "S\u0456rius", "ops", "0ps"):
        response = sign_up(client, name)
        assert response.status_code == 400, name
        page = response.content.decode()
        answers.add(page.split('id="id_username_error">')[1].split("</div>")[0])
    assert answers == {f"<p>{UNAVAILABLE.replace(':', ':')}</p>"}
    assert User.objects.count() == 2


def test_names_refused_count_like_failed_logins(settings):
    settings.AUTH_FAILURE_RATE_ADDRESS = "3/15m"
    baker.make(Player, callsign="Sirius")
    probe = Client(REMOTE_ADDR="203.0.113.7")
    assert [sign_up(probe, "Sirius").status_code for _ in range(3)] == [400, 400, 400]
    assert sign_up(probe, "unclaimed").status_code == 429  # probing names from here waits now
    assert probe.post(reverse("quests:login"), {"username": "a", "password": "b"}).status_code == 429
    assert sign_up(Client(REMOTE_ADDR="198.51.100.2"), "unclaimed").status_code == 302
    # Other mistakes (a short password) are not probes of names.
    other = Client(REMOTE_ADDR="192.0.2.4")
    assert [sign_up(other, f"n{i}", password="short", password2="short").status_code for i in range(4)] == [400] * 4


def test_without_its_store_sign_up_waits_and_opens_nothing(client):
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE cosmosquest_cache")
    try:
        response = sign_up(client, "vega")
        assert response.status_code == 503 and "Sign-up is paused" in response.content.decode()
        assert not User.objects.exists()
    finally:
        call_command("createcachetable")
