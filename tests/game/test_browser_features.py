"""Issue 17's pages in a real browser (Debian's chromium) at 1280x800 and 390x844: the quest
page's marks and a practice replay, the daily's share card (copy button, share link, preview
image), the leagues, Flight school played by keyboard alone, the sign-up error summary taking
the focus, and no page wider than the phone. Screenshots land in artifacts/browser/."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from model_bakery import baker

from quests.models import Player, QuestRun, ReviewAnswer, ReviewCard
from quests.services.daily import daily_start
from quests.services.flight_school import option_order
from quests.services.grading import run_grade
from quests.services.leagues import league_credit
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


def new_page(browser, size: str, **options):
    extra = {"is_mobile": True, "has_touch": True} if size == "phone" else {}
    return browser.new_context(viewport=SIZES[size], **extra, **options).new_page()


def fits(page, size: str) -> None:
    """Nothing on the page is wider than the screen."""
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"], page.url


def me(page, base: str) -> Player:
    page.goto(base + "/")
    return Player.objects.get(callsign=page.locator(".pilot-callsign strong").first.inner_text())


def fly(page, base: str, quest: int, *, wrong: int = 0) -> QuestRun:
    page.goto(f"{base}/quest/{quest}/")
    page.get_by_role("button", name=re.compile("^Launch mission")).first.click()
    page.get_by_role("heading", name="Your challenge").wait_for(timeout=30_000)
    run = QuestRun.objects.get(pk=int(page.url.rstrip("/").split("/")[-1]))
    for i, q in enumerate(run.questions, start=1):
        value = (q["answer"] + 1) % 4 if i <= wrong else q["answer"]
        page.locator(f"input[name=q{i}][value='{value}']").check()
    page.get_by_role("button", name="Send answers").click()
    page.wait_for_url("**/result")
    return run


@pytest.mark.parametrize("size", SIZES)
def test_quest_page_marks_flown_missions_and_a_replay_says_practice_first(browser, live_server, size):
    page = new_page(browser, size)
    run = fly(page, live_server.url, 2, wrong=1)
    page.goto(f"{live_server.url}/quest/2/")
    screenshot(page, f"features-{size}-quest-marks")
    fits(page, size)
    item = page.locator(".flown-item").filter(has_text=run.title)
    assert item.locator(".tag-flown").is_visible()
    assert page.locator("#xp-left").inner_text().startswith("Today: 130 of 150 XP left")
    item.get_by_role("button", name=re.compile("Fly again · practice, 0 XP")).click()
    page.get_by_role("heading", name="Your challenge").wait_for()
    assert page.locator("#practice-note").is_visible()  # before any answer is sent
    screenshot(page, f"features-{size}-practice-mission")
    fits(page, size)


@pytest.mark.parametrize("size", SIZES)
def test_daily_share_card_copies_plain_text_and_its_link_previews(browser, live_server, size):
    page = new_page(browser, size, permissions=["clipboard-read", "clipboard-write"])
    page.goto(f"{live_server.url}/daily/")
    assert re.fullmatch(r"\d+ h \d+ min \d+ s|\d+ min \d+ s", page.locator("#daily-countdown").inner_text())
    assert page.locator("#daily-xp").inner_text() == "Up to 50 XP"
    page.get_by_role("button", name="Launch the daily mission").click()
    page.get_by_role("heading", name="Your challenge").wait_for()
    run = QuestRun.objects.get(daily__isnull=False)
    for i, q in enumerate(run.questions, start=1):
        page.locator(f"input[name=q{i}][value='{q['answer'] if i != 2 else (q['answer'] + 1) % 4}']").check()
    page.get_by_role("button", name="Send answers").click()
    page.wait_for_url("**/result")
    page.get_by_role("heading", name="Share your daily").scroll_into_view_if_needed()
    screenshot(page, f"features-{size}-daily-result-share")
    fits(page, size)
    page.get_by_role("button", name="Copy").click()
    page.get_by_text("Copied. Paste it anywhere.").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#share-text").input_value()
    assert copied.splitlines()[1] == "🟩🟥🟩 2/3" and run.title not in copied
    link = copied.splitlines()[-1]
    visitor = new_page(browser, size)
    visitor.goto(link)
    assert visitor.locator('meta[property="og:title"]').get_attribute("content").endswith(": 2/3")
    image = visitor.locator('meta[property="og:image"]').get_attribute("content")
    assert visitor.locator("img.share-image").evaluate("img => img.complete && img.naturalWidth") == 1200
    assert visitor.request.get(image).headers["content-type"] == "image/png"
    screenshot(visitor, f"features-{size}-share-page")
    fits(visitor, size)


@pytest.mark.parametrize("size", SIZES)
def test_daily_board_keeps_its_time_column_on_screen(browser, live_server, size):
    now = timezone.now()
    for i in range(6):
        player = baker.make(Player, callsign=f"Quasar-Voyager-Long-{1000 + i}")
        run = daily_start(player=player)
        QuestRun.objects.filter(pk=run.pk).update(served_at=now - timedelta(minutes=i + 1, seconds=7))
        run_grade(run_id=run.pk, player=player, answers=[q["answer"] for q in run.questions])
    page = new_page(browser, size)
    page.goto(f"{live_server.url}/daily/")
    screenshot(page, f"features-{size}-daily-board")
    fits(page, size)
    time = page.get_by_role("columnheader", name=re.compile("^Time")).bounding_box()
    assert time["x"] + time["width"] <= SIZES[size]["width"]
    cell = page.locator(".daily-board td.time").first
    assert cell.evaluate("e => e.scrollWidth <= e.clientWidth + 1") and cell.inner_text() == "1:07"


@pytest.mark.parametrize("size", SIZES)
def test_leagues_page_shows_the_group_and_who_moves(browser, live_server, size):
    page = new_page(browser, size)
    fly(page, live_server.url, 1)
    mine = me(page, live_server.url)
    now = timezone.now()
    for i in range(29):
        rival = baker.make(Player, callsign=f"Nebula-Drifter-{100 + i}")
        league_credit(player_id=rival.pk, xp=300 - i * 7, at=now)
    page.goto(f"{live_server.url}/leagues/")
    screenshot(page, f"features-{size}-leagues")
    fits(page, size)
    assert page.locator("tr.zone-up").count() == 5 and page.locator("tr.zone-down").count() == 0  # lowest league
    assert page.locator("tr.is-me").inner_text().count(mine.callsign) == 1
    assert re.search(r"\d+ h|\d+ d", page.locator("#league-countdown").inner_text())


@pytest.mark.parametrize("size", SIZES)
def test_flight_school_played_with_the_keyboard_alone(browser, live_server, size):
    page = new_page(browser, size)
    fly(page, live_server.url, 3, wrong=2)
    ReviewCard.objects.update(due_on=timezone.localdate())
    page.goto(f"{live_server.url}/flight-school/")
    screenshot(page, f"features-{size}-flight-school")
    fits(page, size)
    for _ in range(2):
        card = ReviewCard.objects.filter(reviews=0).order_by("due_on", "box", "pk").first()
        right = "ABCD"[option_order(card).index(card.answer)]
        page.keyboard.press(right)  # the hint's keys pick the option of the page's one question
        assert page.locator("input[name=choice]:checked").evaluate("e => e === document.activeElement")
        with page.expect_navigation():
            page.keyboard.press("Enter")  # sends the form from the radio
        assert page.evaluate("document.activeElement.id") == "review-feedback"
        assert page.locator("#review-feedback").inner_text().startswith("Right! +2 XP")
    screenshot(page, f"features-{size}-flight-school-done")
    assert ReviewAnswer.objects.filter(correct=True).count() == 2


def test_flight_school_by_tab_and_arrows_without_javascript(browser, live_server):
    page = new_page(browser, "desktop", java_script_enabled=False)
    fly(page, live_server.url, 4, wrong=1)
    ReviewCard.objects.update(due_on=timezone.localdate())
    page.goto(f"{live_server.url}/flight-school/")
    for _ in range(40):  # Tab to the first option, as a keyboard user would
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "choice":
            break
    page.keyboard.press("ArrowDown")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert ReviewAnswer.objects.count() == 1
    assert page.locator("#review-feedback").is_visible()


@pytest.mark.parametrize("size", SIZES)
def test_a_failed_sign_up_moves_the_focus_to_the_error_summary(browser, live_server, size):
    page = new_page(browser, size)
    page.goto(f"{live_server.url}/accounts/signup/")
    page.fill("#id_username", "no!")
    page.fill("#id_password1", "orbit-velocity-42")
    page.fill("#id_password2", "orbit-velocity-41")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_load_state()
    assert page.evaluate("document.activeElement.id") == "form-errors"
    assert page.locator("#id_username_help").is_visible()  # the help stays beside the error
    screenshot(page, f"features-{size}-signup-error")
    fits(page, size)
    page.fill("#id_username", "Star Lord")
    page.fill("#id_password1", "orbit-velocity-42")
    page.fill("#id_password2", "orbit-velocity-42")
    page.wait_for_timeout(3100)  # a person takes a few seconds: the sign-up's time check
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(live_server.url + "/")
    assert "Welcome aboard, Star Lord" in page.content()


def test_no_new_page_is_wider_than_the_phone(browser, live_server):
    page = new_page(browser, "phone")
    run = fly(page, live_server.url, 5, wrong=1)
    player = me(page, live_server.url)
    league_credit(player_id=player.pk, xp=10, at=timezone.now())
    for path in ["/", "/quest/5/", f"/run/{run.pk}/result", "/daily/", "/leagues/", "/flight-school/", "/profile/",
                 "/leaderboard/", "/accounts/signup/"]:
        page.goto(live_server.url + path)
        fits(page, "phone")
