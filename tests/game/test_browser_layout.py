"""Layout of the game's pages at a 390x844 phone and a 1280x800 desktop, measured in a real
browser, and the back button after a result. Screenshots land in artifacts/browser/."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from model_bakery import baker

from quests.models import Player, QuestRun, RunStatus
from tests.browser import chromium, needs_chromium, screenshot
from tests.quests_fixtures import seeded  # noqa: F401

pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded"), needs_chromium]

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


@pytest.fixture
def browser(settings):
    settings.QUESTS = {"refill_on_serve": False}
    with chromium() as browser:
        yield browser


def new_page(browser, size: str):
    extra = {"is_mobile": True, "has_touch": True} if size == "phone" else {}
    return browser.new_context(viewport=SIZES[size], **extra).new_page()


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def overlap(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def play_with_a_missing_answer(page, base: str) -> QuestRun:
    page.goto(base + "/quest/2/")
    page.get_by_role("button", name="Launch mission").first.click()
    page.get_by_role("heading", name="Your challenge").wait_for(timeout=30_000)
    run = QuestRun.objects.get(pk=int(page.url.rstrip("/").split("/")[-1]))
    page.locator(f"input[name=q1][value='{run.questions[0]['answer']}']").check()
    page.get_by_role("button", name="Send answers").click()
    page.get_by_text("Choose an answer for question 2.").first.wait_for()
    for i, q in enumerate(run.questions, start=1):
        page.locator(f"input[name=q{i}][value='{q['answer']}']").check()
    page.get_by_role("button", name="Send answers").click()
    page.wait_for_url("**/result")
    return run


@pytest.mark.parametrize("size", SIZES)
def test_nav_underline_clears_the_sign_up_pill_and_log_out_lines_up(browser, live_server, size):
    page = new_page(browser, size)
    page.goto(live_server.url + "/leaderboard/")
    active, pill = box(page, ".nav-links a[aria-current=page]"), box(page, ".nav-cta")
    screenshot(page, f"layout-{size}-nav-guest")
    # The underline is drawn inside the active link's box, which never meets the pill.
    assert not overlap(active, pill), (active, pill)
    User.objects.create_user("rigel", password="orbit-velocity-42")
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "rigel")
    page.fill("#id_password", "orbit-velocity-42")
    page.locator("main").get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server.url + "/")
    logout, star_map = box(page, ".nav-links .link-button"), box(page, ".nav-links li:first-child a")
    screenshot(page, f"layout-{size}-nav-member")
    if abs(logout["y"] - star_map["y"]) < star_map["height"]:  # same row (desktop always)
        centre = lambda b: b["y"] + b["height"] / 2  # noqa: E731
        assert abs(centre(logout) - centre(star_map)) <= 1.5, (logout, star_map)
    assert size == "phone" or abs(logout["y"] - star_map["y"]) < star_map["height"]


@pytest.mark.parametrize("size", SIZES)
def test_leaderboard_keeps_names_on_one_line_and_columns_on_screen(browser, live_server, size):
    for i in range(8):
        baker.make(Player, callsign=f"Quasar-Voyager-{1000 + i}", xp=900 - i, runs_completed=12, perfect_runs=5)
    page = new_page(browser, size)
    page.goto(live_server.url + "/leaderboard/")
    screenshot(page, f"layout-{size}-leaderboard")
    width = SIZES[size]["width"]
    for header in ["#", "Pilot", "XP"]:
        b = page.get_by_role("columnheader", name=header, exact=True).bounding_box()
        assert b["x"] >= 0 and b["x"] + b["width"] <= width, (header, b)
    name = page.locator(".pilot-name").first
    line = float(name.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
    assert name.bounding_box()["height"] <= line * 1.2  # one line
    wrap = page.locator(".table-wrap").first
    assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth + 1")


@pytest.mark.parametrize("size", SIZES)
def test_flight_log_shows_its_when_column_and_back_from_a_result_works(browser, live_server, size):
    page = new_page(browser, size)
    run = play_with_a_missing_answer(page, live_server.url)
    screenshot(page, f"layout-{size}-result")
    # Back from the result: the page before is a GET (post-redirect-get), never ERR_CACHE_MISS.
    response = page.go_back()
    assert response is None or response.ok
    assert "chrome-error" not in page.url
    page.wait_for_load_state()
    assert page.url.endswith(("/result", f"/run/{run.pk}/"))
    page.goto(live_server.url + "/profile/")
    screenshot(page, f"layout-{size}-profile")
    when = page.get_by_role("columnheader", name="When").bounding_box()
    assert when["x"] + when["width"] <= SIZES[size]["width"], when
    cell = page.locator(".flight-log td.when").first
    assert cell.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    assert page.locator(".table-wrap").first.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    run.refresh_from_db()
    assert run.status == RunStatus.ANSWERED
