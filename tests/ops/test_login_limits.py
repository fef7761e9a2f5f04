"""Logging in (issue 18): a username is capped before anything reads it (a 300-character one was
a 500 and a mail to the admins), and failed logins are limited per address and IPv6 /48
whatever the usernames (30 usernames x 2 passwords from one address passed django-axes)."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db
PASSWORD = "orbit-velocity-42"
LOGINS = ["/accounts/login/", "/admin/login/"]


@pytest.fixture
def pilot():
    return User.objects.create_user("vega", password=PASSWORD, is_staff=True)


@pytest.mark.parametrize("url", LOGINS)
@pytest.mark.parametrize("length", [151, 255, 256, 300, 5000])
def test_a_long_username_is_a_form_error_not_a_server_error(url, length, settings):
    settings.ADMINS = [("Ops", "ops@example.org")]
    response = Client(raise_request_exception=False).post(url, {"username": "a" * length, "password": "x"})
    assert response.status_code == 200
    assert "at most 150 characters" in response.content.decode()
    assert not AccessAttempt.objects.exists()  # never reached authentication, nor django-axes
    assert mail.outbox == []


@pytest.mark.parametrize("url", LOGINS)
def test_the_login_inputs_say_their_limit(client, url):
    assert 'maxlength="150"' in client.get(url).content.decode()


@pytest.mark.parametrize("url", LOGINS)
def test_failed_logins_across_usernames_are_limited_per_address(pilot, settings, url):
    settings.AUTH_FAILURE_RATE_ADDRESS = "4/15m"
    guesser = Client(REMOTE_ADDR="203.0.113.7")
    statuses = [guesser.post(url, {"username": f"user{i}", "password": "wrong"}).status_code for i in range(4)]
    assert statuses == [200] * 4
    refused = guesser.post(url, {"username": "vega", "password": PASSWORD})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many logins failed from your network" in refused.content.decode()
    assert guesser.get(url).status_code == 200  # the page itself still shows
    elsewhere = Client(REMOTE_ADDR="198.51.100.2").post(url, {"username": "vega", "password": PASSWORD})
    assert elsewhere.status_code == 302


def test_one_limit_for_the_game_and_the_admin(pilot, settings):
    settings.AUTH_FAILURE_RATE_ADDRESS = "2/15m"
    guesser = Client(REMOTE_ADDR="203.0.113.7")
    guesser.post("/accounts/login/", {"username": "a", "password": "wrong"})
    guesser.post("/admin/login/", {"username": "b", "password": "wrong"})
    assert guesser.post("/accounts/login/", {"username": "vega", "password": PASSWORD}).status_code == 429


def test_successful_logins_do_not_count(pilot, settings):
    settings.AUTH_FAILURE_RATE_ADDRESS = "2/15m"
    for _ in range(4):
        browser = Client(REMOTE_ADDR="203.0.113.7")
        assert browser.post("/accounts/login/", {"username": "vega", "password": PASSWORD}).status_code == 302


def test_ipv6_guessers_are_held_per_48(pilot, settings):
    settings.AUTH_FAILURE_RATE_ADDRESS = "100/15m"
    settings.AUTH_FAILURE_RATE_NETWORK = "5/15m"
    statuses = [Client(REMOTE_ADDR=f"2001:db8:9:{i:02x}00::1").post("/accounts/login/", {
        "username": f"user{i}", "password": "wrong"}).status_code for i in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    other = Client(REMOTE_ADDR="2001:db8:a::1").post("/accounts/login/", {"username": "vega", "password": PASSWORD})
    assert other.status_code == 302


def test_without_its_store_login_still_works(pilot):
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE cosmosquest_cache")
    try:
        browser = Client(REMOTE_ADDR="203.0.113.7")
        assert browser.post("/accounts/login/", {"username": "x", "password": "wrong"}).status_code == 200
        assert browser.post("/accounts/login/", {"username": "vega", "password": PASSWORD}).status_code == 302
    finally:
        call_command("createcachetable")


def test_a_request_for_another_host_is_logged_quietly_not_mailed(client, settings, caplog):
    settings.ADMINS = [("Ops", "ops@example.org")]
    for _ in range(5):
        response = client.get(reverse("quests:star_map"), HTTP_HOST="scanner.example")
        assert response.status_code == 400
    assert mail.outbox == []
    assert [r.name for r in caplog.records].count("django.security.DisallowedHost") == 5
