"""The API dashboard in a real browser (Debian's chromium through Playwright): log in, open
the dashboard, watch it refresh itself and its countdowns tick; screenshots in artifacts/."""

from __future__ import annotations

import pytest

from tests.browser import chromium, needs_chromium, screenshot
from tests.ops.test_admin_pages import EveryState

pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), needs_chromium]


@pytest.fixture
def page(live_server):
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.outside_requests = []
        page.console_errors = []

        def only_local(route):
            if route.request.url.startswith(live_server.url):
                route.continue_()
            else:  # no CDN, nothing from the internet
                page.outside_requests.append(route.request.url)
                route.abort()

        page.route("**/*", only_local)
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        yield page


def shot(page, name: str) -> None:
    screenshot(page, f"admin-{name}")


def test_an_admin_logs_in_and_watches_the_dashboard(page, live_server, django_user_model, settings):
    settings.KEYMANAGER_DASHBOARD_REFRESH_SECONDS = 1
    data = EveryState()
    django_user_model.objects.create_superuser("ops", "ops@example.com", "a-long-password-123")

    page.goto(live_server.url + "/admin/api-dashboard/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "a-long-password-123")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/api-dashboard/")
    assert page.get_by_role("heading", name="API dashboard").is_visible()
    assert page.locator(".cq-card").count() == 6
    assert page.locator(".cq-card-cooling").count() == 2 and page.locator(".cq-card-disabled").count() == 2
    assert page.locator("svg.cq-chart").count() >= 8  # a sparkline per key and the three charts
    countdown = page.locator("[data-until]").first
    assert "left" in countdown.inner_text()
    shot(page, "1-dashboard")

    # It refreshes in place: the same page, new content, no reload.
    page.evaluate("window.__sameDocument = true")
    page.locator("#api-dashboard[data-refreshed]").wait_for(state="attached", timeout=10_000)
    assert page.evaluate("window.__sameDocument") is True
    first = countdown.inner_text()
    page.wait_for_timeout(1500)
    assert page.locator("[data-until]").first.inner_text() != first  # the countdown ticks

    html = page.content()
    data.assert_no_secret(html)

    page.get_by_role("link", name="Keys", exact=True).first.click()
    page.wait_for_url("**/admin/keymanager/key/")
    assert page.locator(".cq-badge-cooling").count() == 2
    shot(page, "2-key-list")
    data.assert_no_secret(page.content())

    page.goto(live_server.url + "/admin/keymanager/key/add/")
    assert page.locator("input[name=secret][type=password]").count() == 1
    shot(page, "3-key-add")

    page.goto(live_server.url + "/admin/")
    page.get_by_role("link", name="API dashboard").first.click()
    page.wait_for_url("**/admin/api-dashboard/")

    assert page.outside_requests == []
    assert page.console_errors == []
