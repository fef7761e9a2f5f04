"""Nobody spends the quota alone: missions that cost an LLM call (live, or buffered and then
refilled) are limited per guest session, per address and IPv6 /48, per account (new accounts
start small) and per address for signed-in players, in moving windows; guests and new accounts
leave headroom to established players when the pool is short (issues 11 and 18). Beyond a limit
the player gets the archive."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker

from keymanager.services import complete
from quests.models import FallbackReason, Player, Quest, QuestRun, RunSource, RunStatus
from quests.services.headroom import pool_headroom
from tests.quests_fixtures import game_settings, make_run, seeded  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("game_settings", "seeded")]
MODEL = "openai/gpt-oss-20b"


@pytest.fixture
def limits(settings):
    def set_limits(**values):
        settings.QUESTS = {**settings.QUESTS, "live_max_in_flight": 1000, **values}

    return set_limits


def veteran() -> User:
    """An established account: older than a day, with missions answered (the full quota)."""
    user = baker.make(User, date_joined=timezone.now() - timedelta(days=3))
    baker.make(Player, user=user, callsign=f"Veteran {user.pk}", runs_completed=100)
    return user


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


def test_a_buffered_mission_counts_like_a_live_one(client, pool_factory, limits, settings, django_capture_on_commit_callbacks):
    """Handing out a buffered mission queues a refill: one LLM call, counted in the same windows
    as a live launch. Beyond the limit the player gets the archive and the buffer stays full."""
    pool_factory(orgs=1)
    limits(live_rate_guest="2/h", refill_on_serve=True)
    first, second, third = (make_run(quest_number=n) for n in (2, 3, 4))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert launch(client, 2).pk == first.pk
        assert launch(client, 3).pk == second.pk
        refused = launch(client, 4)
    assert outcome(refused) == FallbackReason.LIMITED and refused.source == RunSource.ARCHIVE
    assert QuestRun.objects.get(pk=third.pk).player is None  # still in the buffer for the next player
    assert len(callbacks) == 2  # a refill queued for each counted hand-out, none for the refused one


def test_a_refused_guest_leaves_the_buffer_to_others(pool_factory, limits, django_capture_on_commit_callbacks):
    pool_factory(orgs=1)
    limits(live_rate_address="1/h")
    buffered = [make_run(quest_number=1, index=i) for i in range(2)]
    with django_capture_on_commit_callbacks(execute=False):
        assert launch(Client(REMOTE_ADDR="203.0.113.7")).pk == buffered[0].pk
        assert outcome(launch(Client(REMOTE_ADDR="203.0.113.7"))) == FallbackReason.LIMITED
        assert launch(Client(REMOTE_ADDR="198.51.100.2")).pk == buffered[1].pk


def test_fresh_sessions_from_one_address_share_the_address_limit(pool_factory, limits, django_capture_on_commit_callbacks):
    pool_factory(orgs=2)
    limits(live_rate_guest="5/h", live_rate_address="3/h")
    with django_capture_on_commit_callbacks(execute=False):
        same = [outcome(launch(Client(REMOTE_ADDR="203.0.113.7"))) for _ in range(5)]
        other = outcome(launch(Client(REMOTE_ADDR="203.0.113.8")))
    assert same == ["live"] * 3 + [FallbackReason.LIMITED] * 2
    assert other == "live"


def test_a_forged_forwarded_for_from_a_client_counts_as_the_client(pool_factory, limits, settings,
                                                                  django_capture_on_commit_callbacks):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    pool_factory(orgs=2)
    limits(live_rate_address="2/h")
    with django_capture_on_commit_callbacks(execute=False):
        direct = [outcome(launch(Client(REMOTE_ADDR="192.0.2.66", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")))
                  for i in range(3)]
        proxied = [outcome(launch(Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}, 198.51.100.9")))
                   for i in range(3)]
    assert direct == ["live", "live", FallbackReason.LIMITED]
    assert proxied == ["live", "live", FallbackReason.LIMITED]  # the entry our proxy added, not the forged one


def test_ipv6_guests_are_counted_per_56_and_per_48(pool_factory, limits, django_capture_on_commit_callbacks):
    pool_factory(orgs=4)
    limits(live_rate_guest="5/h", live_rate_address="2/h", live_rate_network="5/h")
    with django_capture_on_commit_callbacks(execute=False):
        # Every /64 of one home's /56: one address.
        home = [outcome(launch(Client(REMOTE_ADDR=f"2001:db8:7:1{i:02x}::1"))) for i in range(3)]
        # A /56 each, all in one /48: the network's limit holds them together (2 are spent already).
        rotated = [outcome(launch(Client(REMOTE_ADDR=f"2001:db8:7:{i:02x}00::1"))) for i in range(2, 8)]
        elsewhere = outcome(launch(Client(REMOTE_ADDR="2001:db8:8::1")))
    assert home == ["live", "live", FallbackReason.LIMITED]
    assert rotated == ["live"] * 3 + [FallbackReason.LIMITED] * 3
    assert elsewhere == "live"


def test_signed_in_players_are_counted_per_account_and_per_address_apart_from_guests(
    pool_factory, limits, django_capture_on_commit_callbacks
):
    pool_factory(orgs=4)
    limits(live_rate_address="1/h", live_rate_player="2/h", live_rate_player_address="3/h")
    pilots = [Client(REMOTE_ADDR="203.0.113.7") for _ in range(2)]
    for pilot in pilots:
        pilot.force_login(veteran())
    with django_capture_on_commit_callbacks(execute=False):
        assert outcome(launch(Client(REMOTE_ADDR="203.0.113.7"))) == "live"
        assert outcome(launch(Client(REMOTE_ADDR="203.0.113.7"))) == FallbackReason.LIMITED  # the guests' share is spent
        seen = []
        for pilot in (pilots[0], pilots[0], pilots[0], pilots[1], pilots[1]):
            run = launch(pilot, 3)
            seen.append(outcome(run))
            finish(run)
    # Each account 2/h, and accounts from one address 3/h together: guests did not use them up.
    assert seen == ["live", "live", FallbackReason.LIMITED, "live", FallbackReason.LIMITED]


def test_a_new_account_starts_small_and_grows_with_play(pool_factory, limits, django_capture_on_commit_callbacks):
    pool_factory(orgs=4)
    limits(live_rate_new_player="2/h", live_rate_player="4/h", new_player_hours=24)
    user = baker.make(User, date_joined=timezone.now() - timedelta(hours=23))
    pilot = Client()
    pilot.force_login(user)

    def launches(count: int) -> list[str]:
        seen = []
        with django_capture_on_commit_callbacks(execute=False):
            for _ in range(count):
                run = launch(pilot, 1)
                seen.append(outcome(run))
                finish(run)
        return seen

    assert launches(3) == ["live", "live", FallbackReason.LIMITED]
    User.objects.filter(pk=user.pk).update(date_joined=timezone.now() - timedelta(hours=25))
    assert launches(1) == [FallbackReason.LIMITED]  # a day old, but no mission answered yet: still 2/h
    Player.objects.filter(user=user).update(runs_completed=1)
    assert launches(2) == ["live", FallbackReason.LIMITED]  # one more per mission answered
    Player.objects.filter(user=user).update(runs_completed=50)
    assert launches(2) == ["live", FallbackReason.LIMITED]  # up to the full 4/h


def test_when_the_pool_is_short_guests_get_the_archive_and_signed_in_players_go_live(
    pool_factory, limits, django_capture_on_commit_callbacks
):
    pool_factory(orgs=1, limits={"rpm": 4, "rpd": 1000, "tpm": 100000, "tpd": 1000000})
    limits(guest_min_headroom=0.5)
    for _ in range(2):
        complete(messages=[{"role": "user", "content": "Name a moon of Mars."}], max_tokens=20, purpose="test")
    assert pool_headroom(model=MODEL) == 0.5  # two of four requests this minute are left
    pilot, newcomer = Client(), Client()
    pilot.force_login(veteran())
    newcomer.force_login(baker.make(User, date_joined=timezone.now() - timedelta(hours=23)))
    with django_capture_on_commit_callbacks(execute=False):
        guest_run = launch(Client(), 1)
        newcomer_run = launch(newcomer, 1)
        pilot_run = launch(pilot, 1)
    assert outcome(guest_run) == FallbackReason.RESERVED
    assert outcome(newcomer_run) == FallbackReason.RESERVED  # accounts younger than a day share the guests' side
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
