"""Signing up in a real browser (Debian's chromium): the hidden field stays hidden from a person
(and from the keyboard), a person who takes the time a person takes gets an account, and one who
sends the form at once is asked to check it and send it again (issue 18)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from tests.browser import chromium, needs_chromium, screenshot
from tests.quests_fixtures import seeded  # noqa: F401

pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded"),
              needs_chromium]


@pytest.fixture
def browser(settings):
    settings.QUESTS = {"refill_on_serve": False, "signup_min_seconds": 2}
    with chromium() as browser:
        yield browser


def fill(page, username: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill("orbit-velocity-42")
    page.get_by_label("Password confirmation").fill("orbit-velocity-42")


def test_a_person_signs_up_and_a_hasty_form_is_sent_again(browser, live_server):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(live_server.url + "/accounts/signup/")
    assert not page.locator("#id_flight_plan").is_visible()
    # Tab from the last password goes to the button, never into the hidden field.
    page.get_by_label("Password confirmation").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Create account"
    fill(page, "Vega")
    page.get_by_role("button", name="Create account").click()  # well within 2 s of the page
    assert page.get_by_text("quicker than anyone can type").is_visible()
    screenshot(page, "signup-1-too-quick")
    page.wait_for_timeout(2200)
    page.get_by_label("Password", exact=True).fill("orbit-velocity-42")
    page.get_by_label("Password confirmation").fill("orbit-velocity-42")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(live_server.url + "/")
    assert page.get_by_text("Welcome aboard, Vega!").is_visible()
    screenshot(page, "signup-2-welcome")
    assert User.objects.filter(username="Vega").exists()
