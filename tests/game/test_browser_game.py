"""End to end in a real browser (Debian's chromium through Playwright): a guest plays a quest
from the star map to the result page, live against the Groq stand-in (written by a real
django-q2 cluster on the test database), with no keys at all, and without JavaScript, also
while no cluster is running.

Screenshots of every page land in artifacts/ for a human to look at.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from quests.models import FallbackReason, QuestRun, RunSource
from tests.browser import chromium, needs_chromium, screenshot
from tests.quests_fixtures import seeded  # noqa: F401

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded"),
    needs_chromium,
]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def browser(settings):
    settings.QUESTS = {"refill_on_serve": False}
    with chromium() as browser:
        yield browser


def database_url_of_tests() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def qcluster(monkeypatch, tmp_path):
    """A real django-q2 cluster (ORM broker) on the test database, as `make run` starts one:
    launches enqueue for real instead of running the task inside the request."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    procs = []

    def start(*, groq_base_url: str) -> subprocess.Popen:
        env = {
            **os.environ,  # SECRET_KEY and KEY_ENCRYPTION_KEYS of tests/settings.py: tasks are signed with the first
            "DJANGO_SETTINGS_MODULE": "cosmosquest.settings",
            "DATABASE_URL": database_url_of_tests(),
            "GROQ_BASE_URL": groq_base_url,
            "Q_WORKERS": "1",
            "LOG_LEVEL": "WARNING",
        }
        log = (tmp_path / "qcluster.log").open("w")
        proc = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    connection.close()  # the cluster's connections end with it; ours is re-opened for the flush


def shot(page, name: str) -> None:
    screenshot(page, name)


def answer_correctly(page, run: QuestRun) -> None:
    for i, question in enumerate(run.questions, start=1):
        page.locator(f"input[name=q{i}][value='{question['answer']}']").check()


def launch_from_star_map(page, base_url: str, *, number: int, prefix: str) -> None:
    page.goto(base_url + "/")
    assert page.get_by_role("heading", name="Star map").is_visible()
    shot(page, f"{prefix}-1-star-map")
    page.locator(".quest-card").nth(number - 1).get_by_role("link").click()
    page.wait_for_url(f"**/quest/{number}/")
    shot(page, f"{prefix}-2-quest")
    page.get_by_role("button", name="Launch mission").first.click()
    page.wait_for_url("**/run/**")


def finish_mission(page, *, prefix: str) -> QuestRun:
    page.get_by_role("heading", name="Your challenge").wait_for(timeout=30_000)
    shot(page, f"{prefix}-4-mission")
    run = QuestRun.objects.get(pk=int(page.url.rstrip("/").split("/")[-1]))
    answer_correctly(page, run)
    page.get_by_role("button", name="Send answers").click()
    page.wait_for_url("**/result")
    assert page.get_by_role("heading", name="Perfect mission!").is_visible()
    shot(page, f"{prefix}-5-result")
    return run


def test_a_guest_plays_a_live_quest_against_the_stand_in(browser, live_server, pool_factory, qcluster):
    pool = pool_factory(orgs=2, latency=2.0)
    qcluster(groq_base_url=pool.stub.url)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    status_checks = []
    page.on("request", lambda request: "/status" in request.url and status_checks.append(request.url))
    launch_from_star_map(page, live_server.url, number=3, prefix="live")
    # The mission is being written by the cluster: the progress page shows, and its script asks
    # the status URL until the mission is there.
    assert page.get_by_role("heading", name="Receiving your mission").is_visible()
    shot(page, "live-3-transmitting")
    run = finish_mission(page, prefix="live")
    run.refresh_from_db()
    assert run.source == RunSource.LIVE and run.player.xp == run.xp_awarded > 0
    assert status_checks and pool.stub.stats()["requests"] >= 1
    page.get_by_role("link", name="Leaderboard").click()
    assert page.get_by_text(run.player.callsign).first.is_visible()
    shot(page, "live-6-leaderboard")
    page.get_by_role("link", name="Profile").click()
    shot(page, "live-7-profile")
    page.get_by_role("link", name="Sign up").first.click()
    shot(page, "live-8-signup")


def test_a_guest_plays_with_no_keys_at_all_without_a_progress_page(browser, live_server):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    launch_from_star_map(page, live_server.url, number=4, prefix="archive-phone")
    # Nothing is being written, so no "writing a fresh briefing" page: the mission at once.
    assert page.get_by_role("heading", name="Your challenge").is_visible()
    assert page.get_by_role("heading", name="Receiving your mission").count() == 0
    assert page.get_by_text("The mission computer is offline").is_visible()
    run = finish_mission(page, prefix="archive-phone")
    run.refresh_from_db()
    assert (run.source, run.fallback_reason) == (RunSource.ARCHIVE, FallbackReason.UNAVAILABLE)
    page.goto(live_server.url + f"/run/{run.pk}/")
    page.wait_for_url("**/result")


def test_without_javascript_the_progress_page_refreshes_to_the_live_mission(browser, live_server, pool_factory, qcluster):
    pool = pool_factory(orgs=1, latency=2.0)
    qcluster(groq_base_url=pool.stub.url)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1024, "height": 800})
    page = context.new_page()
    page.goto(live_server.url + "/quest/2/")
    page.get_by_role("button", name="Launch mission").first.focus()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Receiving your mission").wait_for()
    shot(page, "nojs-live-1-transmitting")
    run = finish_mission(page, prefix="nojs-live")
    assert QuestRun.objects.get(pk=run.pk).source == RunSource.LIVE
    context.close()


def test_without_a_cluster_the_archive_comes_after_a_bounded_wait(browser, live_server, pool_factory, settings, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # launches enqueue; no cluster takes the task
    settings.QUESTS = {**settings.QUESTS, "live_wait_seconds": 2}
    pool = pool_factory(orgs=1)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1024, "height": 800})
    page = context.new_page()
    page.goto(live_server.url + "/quest/1/")
    started = time.monotonic()
    page.get_by_role("button", name="Launch mission").first.click()
    page.get_by_role("heading", name="Receiving your mission").wait_for()
    shot(page, "nocluster-1-transmitting")
    page.get_by_role("heading", name="Your challenge").wait_for(timeout=30_000)
    waited = time.monotonic() - started
    assert 2 <= waited < 15, waited  # the wait plus the page's grace and one refresh, not forever
    assert page.get_by_text("did not finish a fresh briefing in time").is_visible()
    shot(page, "nocluster-2-archive")
    run = QuestRun.objects.get(pk=int(page.url.rstrip("/").split("/")[-1]))
    # Send with one question unanswered: the form comes back with a clear message.
    page.locator(f"input[name=q1][value='{run.questions[0]['answer']}']").check()
    page.get_by_role("button", name="Send answers").click()
    assert page.get_by_text("Choose an answer for question 2.").first.is_visible()
    shot(page, "nocluster-3-missing-answer")
    # The same mission open in a second tab, as players do.
    stale = context.new_page()
    stale.goto(live_server.url + f"/run/{run.pk}/")
    answer_correctly(page, run)
    page.get_by_role("button", name="Send answers").click()
    page.wait_for_url("**/result")
    # Sending the stale tab's answers too: the result with a clear note, and no second helping of XP.
    answer_correctly(stale, run)
    stale.get_by_role("button", name="Send answers").click()
    stale.wait_for_url("**/result")
    assert stale.get_by_text("You had already sent your answers").is_visible()
    run.refresh_from_db()
    assert (run.source, run.fallback_reason) == (RunSource.ARCHIVE, FallbackReason.TIMEOUT)
    assert run.player.xp == run.xp_awarded and pool.stub.stats()["requests"] == 0
    shot(stale, "nocluster-4-already-answered")
    context.close()
