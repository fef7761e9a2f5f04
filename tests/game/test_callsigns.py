"""Impersonation: callsigns are unique, case-insensitive, and look-alikes are refused."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse
from model_bakery import baker

from quests.models import Player
from quests.services.callsigns import callsign_clean, callsign_key
from quests.services.players import CallsignTaken, player_rename
from tests.quests_fixtures import game_settings, seeded  # noqa: F401

pytestmark = [pytest.mark.usefixtures("game_settings", "seeded")]

LOOK_ALIKES = ["admin", "ADMIN", "Admin", "\u0430dmin", "\u13aadmin", "\uff41\uff44\uff4d\uff49\uff4e", "Adrnin"]


def test_look_alikes_share_one_key():
    assert len({callsign_key(name) for name in LOOK_ALIKES}) == 1
    assert callsign_key("admin") != callsign_key("adrian")
    assert callsign_key("Zoë") != callsign_key("Zoe")  # accents are real letters, not disguises


@pytest.mark.parametrize("bad", ["ad", "x" * 25, "ad\u200bmin", "-admin", "ad<min", "a\u0301\u0301\u0301\u0301b", "admin\u202e"])
def test_invalid_callsigns_are_refused(bad):
    with pytest.raises(ValueError):
        callsign_clean(bad)


def test_letters_of_any_alphabet_are_welcome():
    assert callsign_clean("  Юрий   Гагарин ") == "Юрий Гагарин"


@pytest.mark.django_db
@pytest.mark.parametrize("name", LOOK_ALIKES[1:])
def test_renaming_to_a_look_alike_of_a_taken_callsign_is_refused(name):
    baker.make(Player, callsign="admin")
    me = baker.make(Player, callsign="Vega")
    with pytest.raises(CallsignTaken):
        player_rename(player=me, callsign=name)
    me.refresh_from_db()
    assert me.callsign == "Vega"
    assert player_rename(player=me, callsign="VEGA").callsign == "VEGA"  # your own, in other case


@pytest.mark.django_db
def test_the_database_refuses_a_look_alike_that_skipped_the_check():
    baker.make(Player, callsign="admin")
    with pytest.raises(IntegrityError), transaction.atomic():
        baker.make(Player, callsign="\u13aadmin")


@pytest.mark.django_db
def test_staff_usernames_are_reserved(client):
    baker.make(User, username="admin", is_staff=True)
    client.post(reverse("quests:quest_launch", args=[1]))
    response = client.post(reverse("quests:profile"), {"callsign": "\u0430dmin"})
    page = client.get(response["Location"]).content.decode()
    assert "is taken" in page and 'id="callsign-error"' in page


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["\u0430dmin", "\u13aadmin", "ADMIN"])
def test_sign_up_refuses_a_username_that_looks_like_a_callsign(client, username):
    baker.make(Player, callsign="admin")
    data = {"username": username, "password1": "orbit-velocity-42", "password2": "orbit-velocity-42"}
    response = client.post(reverse("quests:signup"), data)
    assert response.status_code == 400 and b"is taken" in response.content
    assert not User.objects.filter(username=username).exists()


@pytest.mark.django_db
def test_the_username_becomes_the_callsign_and_a_guest_may_keep_their_own(client):
    client.post(reverse("quests:quest_launch", args=[1]))
    guest = Player.objects.get(pk=client.session["quests_player_id"])
    player_rename(player=guest, callsign="Star Lord")
    data = {"username": "starlord", "password1": "orbit-velocity-42", "password2": "orbit-velocity-42"}
    assert client.post(reverse("quests:signup"), data).status_code == 302
    guest.refresh_from_db()
    assert guest.user.username == "starlord" and guest.callsign == "starlord"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_look_alike_sign_ups_cannot_both_win():
    barrier = threading.Barrier(2)
    statuses = []

    def sign_up(name: str) -> None:
        try:
            barrier.wait()
            response = Client().post(
                reverse("quests:signup"),
                {"username": name, "password1": "orbit-velocity-42", "password2": "orbit-velocity-42"},
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in ("admin", "\u0430dmin")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [302, 400]
    assert User.objects.count() == 1 and Player.objects.count() == 1
