"""Live missions are written by a django-q2 task, never inside a web request (issue 12).

The task runs through the sync cluster of tests/settings.py when a launch's on-commit
callbacks are executed; tests that leave them unexecuted play the part of a cluster that is
not running. The stand-in's request counter shows which step spent quota.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ, Task
from model_bakery import baker

from quests.models import FallbackReason, Player, Quest, QuestRun, RunSource, RunStatus
from quests.services.live import GRACE_SECONDS, live_write
from tests.quests_fixtures import (  # noqa: F401
    game_settings,
    right_answers,
    seeded,
    session_player,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("game_settings", "seeded")]


def launch(client, number: int = 1):
    response = client.post(reverse("quests:quest_launch", args=[number]))
    assert response.status_code == 302
    return QuestRun.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


def requests_to(pool) -> int:
    return pool.stub.stats()["requests"]


def row(run: QuestRun) -> dict:
    return QuestRun.objects.filter(pk=run.pk).values().get()


def overdue(run: QuestRun, settings_value: int = 10) -> None:
    """Move a run's launch into the past, beyond its wait and the page's grace."""
    QuestRun.objects.filter(pk=run.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings_value + GRACE_SECONDS + 1)
    )


def test_a_launch_queues_the_writer_after_commit_and_the_request_calls_no_llm(
    client, pool_factory, django_capture_on_commit_callbacks
):
    pool = pool_factory(orgs=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = launch(client, 3)
    assert (run.status, run.source) == (RunStatus.PENDING, RunSource.LIVE)
    assert len(callbacks) == 1  # the task is queued only once the launch has committed
    assert requests_to(pool) == 0  # the POST decided and queued; it did not write
    # The pending run already holds the archive mission its player gets if the writer is late.
    assert run.archive_ref.startswith("jupiter-") and len(run.questions) == 3
    callbacks[0]()  # the commit: the sync cluster runs the task
    task = Task.objects.get(name=f"live-run-{run.pk}")
    assert task.func == "quests.tasks.write_live_run" and task.args == (run.pk,) and task.result == "live"
    run.refresh_from_db()
    assert (run.status, run.source, run.archive_ref, run.fallback_reason) == (RunStatus.READY, RunSource.LIVE, "", "")
    assert requests_to(pool) == 1


def test_the_progress_page_moves_on_without_javascript_and_with_a_status_check(
    client, pool_factory, django_capture_on_commit_callbacks
):
    pool = pool_factory(orgs=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = launch(client, 2)
    page = client.get(reverse("quests:run_detail", args=[run.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and "Receiving your mission" in html
    # Without JavaScript the page looks at itself again; the script asks the status URL instead.
    assert '<noscript><meta http-equiv="refresh" content="1"></noscript>' in html
    assert f'data-status-url="{reverse("quests:run_status", args=[run.pk])}"' in html
    assert "/transmit" not in html
    status = client.get(reverse("quests:run_status", args=[run.pk]))
    assert status["Content-Type"] == "application/json" and "no-cache" in status["Cache-Control"]
    assert status.json() == {"state": "writing", "url": reverse("quests:run_detail", args=[run.pk]), "poll_ms": 300}
    callbacks[0]()
    assert client.get(reverse("quests:run_status", args=[run.pk])).json()["state"] == "ready"
    mission = client.get(reverse("quests:run_detail", args=[run.pk])).content.decode()
    assert "Your challenge" in mission and "Archive transmission" not in mission
    assert requests_to(pool) == 1


def test_gets_have_no_side_effects(client, pool_factory, django_capture_on_commit_callbacks):
    pool = pool_factory(orgs=1)
    with django_capture_on_commit_callbacks(execute=False):
        run = launch(client, 1)
    before = row(run)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for _ in range(3):
            client.get(reverse("quests:run_detail", args=[run.pk]))
            client.get(reverse("quests:run_status", args=[run.pk]))
        client.get(reverse("quests:quest_detail", args=[1]))
        client.get("/")
    assert callbacks == [] and not OrmQ.objects.exists() and requests_to(pool) == 0
    assert row(run) == before
    # Past the deadline the pages show the archive mission, and still write nothing.
    overdue(run)
    before = row(run)
    assert b"did not finish a fresh briefing in time" in client.get(reverse("quests:run_detail", args=[run.pk])).content
    assert client.get(reverse("quests:run_status", args=[run.pk])).json()["state"] == "archive"
    assert row(run) == before and requests_to(pool) == 0


def test_without_a_cluster_the_player_gets_the_archive_after_a_bounded_wait(
    client, pool_factory, django_capture_on_commit_callbacks
):
    pool_factory(orgs=1)
    with django_capture_on_commit_callbacks(execute=False):  # nobody runs the task
        run = launch(client, 4)
    # Just inside the wait (the deadline plus grace), the progress page still shows.
    QuestRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(seconds=10 + GRACE_SECONDS - 1))
    assert b"Receiving your mission" in client.get(reverse("quests:run_detail", args=[run.pk])).content
    overdue(run)
    page = client.get(reverse("quests:run_detail", args=[run.pk])).content.decode()
    assert "Archive transmission" in page and "did not finish a fresh briefing in time" in page
    assert "Your challenge" in page and "Receiving your mission" not in page
    # Answering turns the pending run into the archive run the player was shown, and grades it.
    response = client.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run))
    assert response.status_code == 302 and response["Location"].endswith("/result")
    run.refresh_from_db()
    assert (run.status, run.source, run.fallback_reason, run.correct_count) == (
        RunStatus.ANSWERED, RunSource.ARCHIVE, FallbackReason.TIMEOUT, 3
    )


def test_a_task_that_starts_after_the_deadline_spends_nothing(client, pool_factory, django_capture_on_commit_callbacks):
    pool = pool_factory(orgs=1)
    with django_capture_on_commit_callbacks(execute=False):
        run = launch(client, 5)
    overdue(run)
    assert live_write(run_id=run.pk) == "timeout"
    run.refresh_from_db()
    assert (run.status, run.source, run.fallback_reason) == (RunStatus.READY, RunSource.ARCHIVE, FallbackReason.TIMEOUT)
    assert requests_to(pool) == 0


def test_a_mission_written_too_late_goes_to_the_buffer(client, pool_factory, settings, django_capture_on_commit_callbacks):
    settings.QUESTS = {**settings.QUESTS, "live_wait_seconds": 1}
    pool = pool_factory(orgs=1, latency=1.5)  # slower than the wait
    with django_capture_on_commit_callbacks(execute=False):
        run = launch(client, 2)
    shown = list(run.questions)
    assert live_write(run_id=run.pk) == "buffered"
    run.refresh_from_db()
    # The player keeps the archive mission the page showed; the quota spent is not lost.
    assert (run.status, run.source, run.questions) == (RunStatus.READY, RunSource.ARCHIVE, shown)
    buffered = QuestRun.objects.buffered(run.quest_id).get()
    assert buffered.request_id and requests_to(pool) == 1


def test_with_no_keys_the_mission_comes_at_once_without_a_progress_page(client):
    run = launch(client, 3)
    assert (run.status, run.source, run.fallback_reason) == (RunStatus.READY, RunSource.ARCHIVE, FallbackReason.UNAVAILABLE)
    page = client.get(reverse("quests:run_detail", args=[run.pk])).content.decode()
    assert "Receiving your mission" not in page and "Your challenge" in page
    assert "Archive transmission" in page and "mission computer is offline" in page


def test_beyond_the_writers_capacity_a_launch_is_served_at_once(pool_factory, settings, django_capture_on_commit_callbacks):
    settings.QUESTS = {**settings.QUESTS, "live_max_in_flight": 1}
    pool = pool_factory(orgs=1)
    first, second = Client(), Client()
    with django_capture_on_commit_callbacks(execute=False):
        one = launch(first, 1)
        two = launch(second, 1)
    assert one.status == RunStatus.PENDING
    assert (two.status, two.fallback_reason) == (RunStatus.READY, FallbackReason.BUSY)
    assert requests_to(pool) == 0


def test_the_status_check_and_every_run_page_are_private(client, pool_factory, django_capture_on_commit_callbacks):
    pool_factory(orgs=1)
    owner = baker.make(Player, callsign="Owner")
    theirs = baker.make(QuestRun, player=owner, quest=Quest.objects.get(number=1), source=RunSource.LIVE,
                        status=RunStatus.PENDING, questions=[])
    status = client.get(reverse("quests:run_status", args=[theirs.pk]))  # no session at all
    assert status.status_code == 404 and "error" in status.json()
    with django_capture_on_commit_callbacks(execute=False):
        launch(client, 2)  # now the client is a player too
    for name in ("run_detail", "run_status", "run_result"):
        assert client.get(reverse(f"quests:{name}", args=[theirs.pk])).status_code == 404, name
    assert client.post(reverse("quests:run_answer", args=[theirs.pk]), {"q1": "0"}).status_code == 404
    assert client.get(reverse("quests:run_status", args=[99999])).status_code == 404
    assert QuestRun.objects.get(pk=theirs.pk).status == RunStatus.PENDING


def test_the_status_check_points_an_answered_run_at_its_result(client):
    run = launch(client, 1)  # no keys: an archive run at once
    client.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run))
    assert client.get(reverse("quests:run_status", args=[run.pk])).json() == {
        "state": "answered", "url": reverse("quests:run_result", args=[run.pk]), "poll_ms": 300
    }


def test_launch_and_answer_need_the_csrf_token(pool_factory):
    pool_factory(orgs=1)
    browser = Client(enforce_csrf_checks=True)
    browser.get(reverse("quests:quest_detail", args=[1]))
    assert browser.post(reverse("quests:quest_launch", args=[1])).status_code == 403
    assert not QuestRun.objects.exists()
    token = browser.cookies["csrftoken"].value
    response = browser.post(reverse("quests:quest_launch", args=[1]), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    run = QuestRun.objects.get()
    QuestRun.objects.filter(pk=run.pk).update(status=RunStatus.READY)
    assert browser.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run)).status_code == 403
    assert QuestRun.objects.get(pk=run.pk).status == RunStatus.READY
    answered = browser.post(reverse("quests:run_answer", args=[run.pk]), {**right_answers(run), "csrfmiddlewaretoken": token})
    assert answered.status_code == 302


def test_a_signed_in_player_plays_a_live_mission_end_to_end(client, pool_factory, django_capture_on_commit_callbacks):
    pool = pool_factory(orgs=2)
    user = baker.make(User, username="vega")
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        run = launch(client, 3)
    run.refresh_from_db()
    assert (run.source, run.status) == (RunSource.LIVE, RunStatus.READY) and run.player.user == user
    response = client.post(reverse("quests:run_answer", args=[run.pk]), right_answers(run))
    assert response.status_code == 302
    assert Player.objects.get(user=user).xp > 0 and requests_to(pool) == 1
