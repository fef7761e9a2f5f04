"""The key list, the usage log and the API dashboard at desktop (1280x800) and phone (390x844)
sizes, in Debian's chromium: every column visible beside the filters on a desktop, nothing wider
than a phone's screen, axes on every chart. Screenshots in artifacts/browser/layout-*.png."""

from __future__ import annotations

import pytest

from tests.browser import chromium, needs_chromium, screenshot
from tests.ops.test_admin_pages import EveryState

pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), needs_chromium]

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
PASSWORD = "a-long-password-123"

# Widths the page needs: the document, the list's results box (visible and full), its table.
MEASURE = """() => {
  const box = document.querySelector('#changelist .results');
  const cells = [...document.querySelectorAll('#result_list thead th')];
  const edge = box ? box.getBoundingClientRect().right : 0;
  return {
    page: document.documentElement.scrollWidth,
    box: box ? [box.scrollWidth, box.clientWidth, getComputedStyle(box).overflowX] : null,
    hidden: cells.filter(th => th.getBoundingClientRect().right > edge + 1).map(th => th.innerText.trim()),
  };
}"""


@pytest.fixture(params=sorted(SIZES))
def admin_page(request, live_server, django_user_model):
    EveryState()
    django_user_model.objects.create_superuser("ops", "ops@example.com", PASSWORD)
    width, height = SIZES[request.param]
    with chromium() as browser:
        page = browser.new_context(viewport={"width": width, "height": height}).new_page()
        page.goto(live_server.url + "/admin/login/")
        page.fill("#id_username", "ops")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/")
        page.size_name, page.width = request.param, width
        yield page


@pytest.mark.parametrize("name, url, columns", [
    ("key-list", "/admin/keymanager/key/", 7),
    ("usage-log", "/admin/keymanager/usagelog/", 8),
])
def test_every_column_of_the_lists_shows(admin_page, live_server, name, url, columns):
    page = admin_page
    page.goto(live_server.url + url)
    assert page.locator("#result_list thead th").count() == columns
    screenshot(page, f"layout-{name}-{page.size_name}")
    size = page.evaluate(MEASURE)
    assert size["page"] <= page.width, size  # the page itself never scrolls sideways
    if page.size_name == "desktop":
        # Beside the filters, with nothing to scroll: every column in view.
        assert size["hidden"] == [] and size["box"][0] <= size["box"][1], size
    else:
        # A phone scrolls the table inside its box; every column is reachable there.
        assert size["box"][2] == "auto", size


def test_the_dashboard_fits_the_screen_and_every_chart_has_axes(admin_page, live_server):
    page = admin_page
    page.goto(live_server.url + "/admin/api-dashboard/")
    screenshot(page, f"layout-dashboard-{page.size_name}")
    page.locator(".cq-card").first.screenshot(path=f"artifacts/browser/layout-dashboard-card-{page.size_name}.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.width
    for element in page.locator("#api-dashboard article, #api-dashboard section").all():
        box = element.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= page.width, (element.inner_text()[:40], box)
    charts = page.locator("svg.cq-chart")
    assert charts.count() == 6 + 2  # one per key card, and the calls and latency charts
    for i in range(charts.count()):
        chart = charts.nth(i)
        labels = chart.locator("text.cq-axis").all_text_contents()
        values = [t for t in labels if ":" not in t]
        times = [t for t in labels if ":" in t]
        assert len(values) >= 3 and len(times) >= 3, (chart.get_attribute("aria-label"), labels)
