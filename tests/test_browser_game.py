"""End to end in a real browser (Debian's chromium through Playwright): a guest plays a quest
from the star map to the result page, against the Groq stand-in and with no keys at all.

Screenshots of every page land in artifacts/ for a human to look at.
"""

from __future__ import annotations

import pytest

from quests.models import QuestRun, RunSource
from tests.browser import chromium, needs_chromium, screenshot
from tests.quests_fixtures import seeded  # noqa: F401

pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded"),
    needs_chromium,
]


@pytest.fixture
def browser(settings):
    settings.QUESTS = {"refill_on_serve": False}
    with chromium() as browser:
        yield browser


def shot(page, name: str) -> None:
    screenshot(page, name)


def answer_correctly(page, run: QuestRun) -> None:
    for i, question in enumerate(run.questions, start=1):
        page.locator(f"input[name=q{i}][value='{question['answer']}']").check()


def play_quest(page, base_url: str, *, number: int, prefix: str) -> QuestRun:
    page.goto(base_url + "/")
    assert page.get_by_role("heading", name="Star map").is_visible()
    shot(page, f"{prefix}-1-star-map")
    page.locator(".quest-card").nth(number - 1).get_by_role("link").click()
    page.wait_for_url(f"**/quest/{number}/")
    shot(page, f"{prefix}-2-quest")
    page.get_by_role("button", name="Launch mission").first.click()
    # With an empty buffer the player first sees the progress page, then the mission.
    page.wait_for_url("**/run/**")
    if page.get_by_role("heading", name="Receiving your mission").count():
        shot(page, f"{prefix}-3-transmitting")
    page.get_by_role("heading", name="Your challenge").wait_for(timeout=30_000)
    shot(page, f"{prefix}-4-mission")
    run = QuestRun.objects.get(pk=int(page.url.rstrip("/").split("/")[-1]))
    answer_correctly(page, run)
    page.get_by_role("button", name="Send answers").click()
    page.wait_for_url("**/result")
    assert page.get_by_role("heading", name="Perfect mission!").is_visible()
    shot(page, f"{prefix}-5-result")
    return run


def test_a_guest_plays_a_live_quest_against_the_stand_in(browser, live_server, pool_factory):
    pool = pool_factory(orgs=2)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    run = play_quest(page, live_server.url, number=3, prefix="live")
    run.refresh_from_db()
    assert run.source == RunSource.LIVE and run.player.xp == run.xp_awarded > 0
    assert pool.stub.stats()["requests"] >= 1
    assert page.get_by_text("Promotion!").count() == 0 or page.get_by_text("Promotion!").is_visible()
    page.get_by_role("link", name="Leaderboard").click()
    assert page.get_by_text(run.player.callsign).first.is_visible()
    shot(page, "live-6-leaderboard")
    page.get_by_role("link", name="Profile").click()
    shot(page, "live-7-profile")
    page.get_by_role("link", name="Sign up").first.click()
    shot(page, "live-8-signup")


def test_a_guest_plays_with_no_keys_at_all(browser, live_server):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    run = play_quest(page, live_server.url, number=4, prefix="archive-phone")
    run.refresh_from_db()
    assert run.source == RunSource.ARCHIVE
    page.goto(live_server.url + f"/run/{run.pk}/")
    page.wait_for_url("**/result")


def test_the_game_works_without_javascript_and_with_the_keyboard(browser, live_server):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1024, "height": 800})
    page = context.new_page()
    page.goto(live_server.url + "/quest/1/")
    page.get_by_role("button", name="Launch mission").first.focus()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Your challenge").wait_for(timeout=30_000)
    assert page.get_by_text("Archive transmission").is_visible()
    run = QuestRun.objects.get(pk=int(page.url.rstrip("/").split("/")[-1]))
    # Send with one question unanswered: the form comes back with a clear message.
    page.locator(f"input[name=q1][value='{run.questions[0]['answer']}']").check()
    page.get_by_role("button", name="Send answers").click()
    assert page.get_by_text("Choose an answer for question 2.").first.is_visible()
    shot(page, "nojs-1-missing-answer")
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
    assert run.player.xp == run.xp_awarded
    page = stale
    shot(page, "nojs-2-already-answered")
    context.close()
