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
from quests.services.callsigns import InvalidCallsign, callsign_clean, callsign_key, default_ignorable
from quests.services.players import CallsignTaken, player_rename
from tests.quests_fixtures import game_settings, seeded, signup_form  # noqa: F401

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
    response = client.post(reverse("quests:signup"), signup_form(username))
    assert response.status_code == 400 and b"is taken" in response.content
    assert not User.objects.filter(username=username).exists()


@pytest.mark.django_db
def test_the_username_becomes_the_callsign_and_a_guest_may_keep_their_own(client):
    client.post(reverse("quests:quest_launch", args=[1]))
    guest = Player.objects.get(pk=client.session["quests_player_id"])
    player_rename(player=guest, callsign="Star Lord")
    assert client.post(reverse("quests:signup"), signup_form("starlord")).status_code == 302
    guest.refresh_from_db()
    assert guest.user.username == "starlord" and guest.callsign == "starlord"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_look_alike_sign_ups_cannot_both_win():
    barrier = threading.Barrier(2)
    statuses = []

    def sign_up(name: str) -> None:
        try:
            barrier.wait()
            response = Client().post(reverse("quests:signup"), signup_form(name))
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


# --- Invisible characters: every Default_Ignorable_Code_Point (issue 18) ------------------------

DERIVED_FROM = "DerivedCoreProperties-15.0.0.txt"


def test_the_shipped_class_is_unicodes_default_ignorable_code_points():
    """The data file is Unicode's derivation, checked against what Python's unicodedata can tell:
    every format character (Cf) and variation selector is in, save the exceptions Unicode names."""
    import unicodedata

    from quests.services.callsigns import DEFAULT_IGNORABLE

    assert DERIVED_FROM in DEFAULT_IGNORABLE.read_text()
    ignorable = default_ignorable()
    assert len(ignorable) == 4174  # "# Total code points: 4174" in Unicode 15.0
    visible_format = {*map(chr, range(0xFFF9, 0xFFFC)), *map(chr, range(0x13430, 0x13441)),
                      *map(chr, [0x600, 0x601, 0x602, 0x603, 0x604, 0x605, 0x6DD, 0x70F, 0x890, 0x891, 0x8E2, 0x110BD,
                                 0x110CD])}
    format_chars = {chr(cp) for cp in range(0x110000) if unicodedata.category(chr(cp)) == "Cf"}
    assert format_chars - visible_format <= ignorable
    selectors = {*map(chr, range(0xFE00, 0xFE10)), *map(chr, range(0xE0100, 0xE01F0)), *map(chr, range(0x180B, 0x180E))}
    assert selectors <= ignorable
    assert {"\u034f", "\u3164", "\u115f", "\u1160", "\uffa0", "\u17b4", "\u17b5", "\u200b", "\u2065"} <= ignorable
    assert not {" ", "a", "\u00e9", "\u0301", "-"} & ignorable


def test_every_default_ignorable_character_is_refused_and_dropped_from_the_key():
    key = callsign_key("admin")
    for ch in sorted(default_ignorable()):
        for name in (f"ad{ch}min", f"admin{ch}", f"{ch}admin"):
            with pytest.raises(InvalidCallsign):
                callsign_clean(name)
            assert callsign_key(name) == key, f"U+{ord(ch):04X}"


@pytest.mark.django_db
@pytest.mark.parametrize("invisible", ["\ufe0f", "\u034f", "\u3164", "\u180b", "\u17b4", "\U000e0041"])
def test_sign_up_refuses_look_alikes_made_with_invisible_characters(client, invisible):
    baker.make(User, username="ops", is_staff=True)
    for name in (f"ops{invisible}", f"o{invisible}ps", f"ad{invisible}min"):
        response = client.post(reverse("quests:signup"), signup_form(name))
        assert response.status_code == 400 and b"invisible characters" in response.content
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_a_callsign_with_invisible_characters_cannot_be_chosen_on_the_profile(client):
    client.post(reverse("quests:quest_launch", args=[1]))
    response = client.post(reverse("quests:profile"), {"callsign": "Vega\ufe0f"})
    assert "invisible characters" in client.get(response["Location"]).content.decode()
    assert "\ufe0f" not in Player.objects.get().callsign


@pytest.mark.django_db
def test_callsigns_that_slipped_in_before_lose_their_invisible_characters():
    import importlib

    from django.apps import apps as live_apps

    baker.make(Player, callsign="admin")
    twin = baker.make(Player, callsign="Vega")
    Player.objects.filter(pk=twin.pk).update(callsign="admin\ufe0f", callsign_key="admin\ufe0f")
    lone = baker.make(Player, callsign="Rigel")
    Player.objects.filter(pk=lone.pk).update(callsign="Ri\u034fgel", callsign_key="ri\u034fgel")
    migration = importlib.import_module("quests.migrations.0011_abuse_invisible_callsigns")
    migration.strip_invisible(live_apps, None)
    twin.refresh_from_db()
    lone.refresh_from_db()
    assert (lone.callsign, lone.callsign_key) == ("Rigel", callsign_key("Rigel"))
    assert twin.callsign != "admin" and not set(twin.callsign) & default_ignorable()
    assert twin.callsign_key == callsign_key(twin.callsign)
