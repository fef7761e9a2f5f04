"""Anonymous traffic cannot spend the quota: live missions are limited per guest session, per
client address and per signed-in player, and guests leave headroom to signed-in players when
the pool is short (issue 11). Beyond a limit the player gets the buffer or the archive."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from model_bakery import baker

from keymanager.services import complete
from quests.models import FallbackReason, Quest, QuestRun, RunSource, RunStatus
from quests.services.headroom import pool_headroom
from quests.services.limits import address_network
from tests.quests_fixtures import game_settings, make_run, seeded  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("game_settings", "seeded")]
MODEL = "openai/gpt-oss-20b"


@pytest.fixture
def limits(settings):
    def set_limits(**values):
        settings.QUESTS = {**settings.QUESTS, "live_max_in_flight": 1000, **values}

    return set_limits


def launch(client: Client, number: int = 1, **extra) -> QuestRun:
    response = client.post(reverse("quests:quest_launch", args=[number]), **extra)
    assert response.status_code == 302
    return QuestRun.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


def finish(run: QuestRun) -> None:
    """Answered, so the player's next launch of that quest is a new run."""
    QuestRun.objects.filter(pk=run.pk).update(status=RunStatus.ANSWERED, answered_at=run.created_at)


def outcome(run: QuestRun) -> str:
    return "live" if run.source == RunSource.LIVE else run.fallback_reason or run.source


def test_a_guest_session_gets_its_share_of_live_missions_then_the_archive(
    client, pool_factory, limits, django_capture_on_commit_callbacks
):
    pool = pool_factory(orgs=2)
    limits(live_rate_guest="2/h")
    seen = []
    with django_capture_on_commit_callbacks(execute=False):
        for number in (1, 1, 1, 2):
            run = launch(client, number)
            seen.append(outcome(run))
            if number == 1:
                finish(run)
    assert seen == ["live", "live", FallbackReason.LIMITED, FallbackReason.LIMITED]
    page = client.get(reverse("quests:run_detail", args=[run.pk]))
    assert b"your share of freshly written missions" in page.content and b"signed-in pilots get more" in page.content
    assert pool.stub.stats()["requests"] == 0  # nothing written in the web requests


def test_beyond_a_limit_the_buffer_is_still_served(client, pool_factory, limits, django_capture_on_commit_callbacks):
    pool_factory(orgs=1)
    limits(live_rate_guest="1/h")
    with django_capture_on_commit_callbacks(execute=False):
        finish(launch(client, 2))
        buffered = make_run(quest_number=2)
        assert launch(client, 2).pk == buffered.pk


def test_fresh_sessions_from_one_address_share_the_address_limit(pool_factory, limits, django_capture_on_commit_callbacks):
    pool_factory(orgs=2)
    limits(live_rate_guest="5/h", live_rate_address="3/h")
    with django_capture_on_commit_callbacks(execute=False):
        same = [outcome(launch(Client(REMOTE_ADDR="203.0.113.7"))) for _ in range(5)]
        other = outcome(launch(Client(REMOTE_ADDR="203.0.113.8")))
    assert same == ["live"] * 3 + [FallbackReason.LIMITED] * 2
    assert other == "live"


def test_behind_the_proxy_the_address_is_the_proxys_entry_and_cannot_be_forged(
    pool_factory, limits, settings, django_capture_on_commit_callbacks
):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    pool_factory(orgs=2)
    limits(live_rate_address="2/h")
    with django_capture_on_commit_callbacks(execute=False):
        seen = [
            outcome(launch(Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}, 198.51.100.9")))
            for i in range(3)
        ]
    assert seen == ["live", "live", FallbackReason.LIMITED]


def test_ipv6_clients_are_counted_per_64_block():
    assert address_network("2001:db8:1:2:aaaa::1") == address_network("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::"
    assert address_network("2001:db8:1:3::1") != address_network("2001:db8:1:2::1")
    assert address_network("::ffff:198.51.100.4") == address_network("198.51.100.4") == "198.51.100.4"
    assert address_network("") == address_network("garbage") == "unknown"


def test_signed_in_players_have_their_own_limit_and_do_not_count_per_address(
    pool_factory, limits, django_capture_on_commit_callbacks
):
    pool_factory(orgs=2)
    limits(live_rate_address="1/h", live_rate_player="2/h")
    pilot = Client(REMOTE_ADDR="203.0.113.7")
    pilot.force_login(baker.make(User))
    with django_capture_on_commit_callbacks(execute=False):
        assert outcome(launch(Client(REMOTE_ADDR="203.0.113.7"))) == "live"
        assert outcome(launch(Client(REMOTE_ADDR="203.0.113.7"))) == FallbackReason.LIMITED  # the address is spent
        seen = []
        for _ in range(3):
            run = launch(pilot, 3)
            seen.append(outcome(run))
            finish(run)
    assert seen == ["live", "live", FallbackReason.LIMITED]


def test_when_the_pool_is_short_guests_get_the_archive_and_signed_in_players_go_live(
    pool_factory, limits, django_capture_on_commit_callbacks
):
    pool_factory(orgs=1, limits={"rpm": 4, "rpd": 1000, "tpm": 100000, "tpd": 1000000})
    limits(guest_min_headroom=0.5)
    for _ in range(2):
        complete(messages=[{"role": "user", "content": "Name a moon of Mars."}], max_tokens=20, purpose="test")
    assert pool_headroom(model=MODEL) == 0.5  # two of four requests this minute are left
    pilot = Client()
    pilot.force_login(baker.make(User))
    with django_capture_on_commit_callbacks(execute=False):
        guest_run = launch(Client(), 1)
        pilot_run = launch(pilot, 1)
    assert outcome(guest_run) == FallbackReason.RESERVED
    assert outcome(pilot_run) == "live"
    page = Client().get(reverse("quests:run_detail", args=[guest_run.pk]))
    assert page.status_code == 404  # another session: the guest's page is theirs alone


def test_limits_count_only_launches_that_would_spend_quota(client, limits):
    # No key at all: every launch is an archive run, and no counter moves.
    limits(live_rate_guest="1/h")
    from django.core.cache import cache
    from django.db import connection

    for _ in range(3):
        run = launch(client, 1)
        assert outcome(run) == FallbackReason.UNAVAILABLE
        finish(run)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM cosmosquest_cache")
        assert cursor.fetchone()[0] == 0
    assert cache.get("anything") is None


def test_two_hundred_fresh_sessions_cause_at_most_the_configured_completions(
    pool_factory, limits, django_capture_on_commit_callbacks
):
    """The README's abuse figure in small: one address, new cookies every launch."""
    pool = pool_factory(orgs=4)
    limits(live_rate_address="6/h")
    runs = []
    for i in range(200):
        with django_capture_on_commit_callbacks(execute=True):  # the sync cluster writes each live run
            runs.append(launch(Client(REMOTE_ADDR="192.0.2.50"), 1 + i % 5))
    assert pool.stub.stats()["requests"] == 6
    assert sum(QuestRun.objects.get(pk=r.pk).source == RunSource.LIVE for r in runs) == 6
    assert all(QuestRun.objects.get(pk=r.pk).status == RunStatus.READY for r in runs)
    assert Quest.objects.count() == 5
