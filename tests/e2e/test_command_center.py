"""The Command Center in a real browser: Playwright driving Debian's chromium against a live server."""

import os
from pathlib import Path

import pytest
from django.db import connections

from autonomax.models import Role
from chimera.commander.models import Mission
from chimera.commander.services.missions import missions_suggest
from tests.commander.factories import kpi, kpis_with, load_playbook
from tests.factories import CompanyFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery staple"


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("REQUIRE_SERVICES"):
            pytest.fail("REQUIRE_SERVICES is set but /usr/bin/chromium is missing (run `make browser`)")
        pytest.skip("/usr/bin/chromium is missing: run `make browser` (scripts/install_chromium.sh)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the live server and ORM calls are in
    # other threads or happen between browser calls, so Django's async-safety guard does not apply.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()
        # While Playwright's loop runs, Django keeps this thread's DB connections in a context-local
        # store (asgiref treats the thread as async); close them here, or they stay open and the test
        # database cannot be dropped at the end of the run ("being accessed by other users").
        connections.close_all()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def world(transactional_db):
    """A company with proposed missions, an operator and a viewer; jobs go to the broker (no worker here)."""
    from autonomax.celery import app

    company = CompanyFactory(slug="e2e", name="E2E Store")
    load_playbook(company)
    missions_suggest(company=company, kpis=kpis_with(**{
        "first-response-p50": kpi("first-response-p50", "CRITICAL", "300", direction="down"),
        "aov-30d": kpi("aov-30d", "WARNING", "21"),
    }))
    operator = UserFactory(username="op")
    viewer = UserFactory(username="view")
    MembershipFactory(user=operator, company=company, role=Role.OPERATOR)
    MembershipFactory(user=viewer, company=company, role=Role.VIEWER)
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False  # the web process only enqueues, like in production
    yield company
    app.conf.task_always_eager = previous


def login(page, base: str, username: str):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_operator_approves_inline_and_viewer_cannot(browser, live_server, world):
    mission = Mission.objects.get(company=world, play__key="faq-macros")
    card = f"#mission-{mission.pk}"

    # given an operator on the Command Center
    page = browser.new_page()
    login(page, live_server.url, "op")
    assert page.locator(card).get_attribute("data-status") == "proposed"
    # the card says why in words; the KPI's key and the formula are folded under "Score details"
    assert "First Response P50 is 300, above the 20 target" in page.locator(card).inner_text()
    assert "first-response-p50" in page.locator(f"{card} details.score-details").text_content()
    page.evaluate("window.__noReload = 'still here'")

    # when they click Approve
    page.locator(f"{card} button.approve").click()

    # then the card updates in place (no page load) to planned/running with its job
    page.wait_for_function(
        f"['planned', 'running'].includes(document.querySelector('{card}')?.dataset.status)", timeout=10000)
    assert page.evaluate("window.__noReload") == "still here"
    assert "faq_macros by support_bot" in page.locator(card).inner_text()
    mission.refresh_from_db()
    assert mission.status in (Mission.Status.PLANNED, Mission.Status.RUNNING)
    assert mission.decided_by.username == "op"
    page.close()

    # given a viewer
    other = Mission.objects.get(company=world, play__key="bundle-offer")
    page = browser.new_page()
    login(page, live_server.url, "view")

    # then there is no approve button, and posting anyway is refused by the server
    assert page.locator(f"#mission-{other.pk}").count() == 1
    assert page.locator("button.approve").count() == 0
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(f"{live_server.url}/missions/{other.pk}/approve/",
                                 headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status == 403
    other.refresh_from_db()
    assert other.status == Mission.Status.PROPOSED
    page.close()


def test_a_refused_inline_decision_shows_the_reason_on_the_card(browser, live_server, world):
    # given an operator whose page still shows a mission that someone else rejected meanwhile
    mission = Mission.objects.get(company=world, play__key="faq-macros")
    card = f"#mission-{mission.pk}"
    page = browser.new_page()
    login(page, live_server.url, "op")
    Mission.objects.filter(pk=mission.pk).update(status=Mission.Status.REJECTED)

    # when they click Approve on the stale card
    page.locator(f"{card} button.approve").click()

    # then the server's reason appears on the card instead of nothing happening
    page.wait_for_selector(f"{card} .htmx-error", timeout=10000)
    assert "is rejected, not proposed" in page.locator(f"{card} .htmx-error").inner_text()
    mission.refresh_from_db()
    assert mission.status == Mission.Status.REJECTED
    page.close()


def test_when_the_session_ends_a_background_refresh_goes_to_the_login_page(browser, live_server, world):
    # given an operator on the Command Center
    page = browser.new_page()
    login(page, live_server.url, "op")

    # when the session ends (expiry, logout in another tab) and the live panel refreshes
    page.context.clear_cookies()
    page.evaluate("htmx.ajax('GET', '/', {target: '#live', swap: 'innerHTML'})")  # what the 20 s poll sends

    # then the browser goes to the login page, which comes back here afterwards
    page.wait_for_url(f"{live_server.url}/accounts/login/?next=%2F", timeout=10000)
    assert page.locator("header.topbar").count() == 1
    page.close()


def test_kpi_and_ai_spend_charts_fit_a_phone_screen(browser, live_server, world):
    # given a KPI with a month of daily points
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from kpis.services.ingest import daily_point_ends
    from tests.kpis.factories import KPIDefinitionFactory, MetricSnapshotFactory

    kpi = KPIDefinitionFactory(company=world, key="gross-7d")
    for n, at in enumerate(daily_point_ends(now=timezone.now(), days=30)):
        MetricSnapshotFactory(company=world, metric=kpi.metric, window_days=1, at=at, value=Decimal(100 + n % 7))

    # when an operator opens it on a 390 px wide phone
    page = browser.new_page(viewport={"width": 390, "height": 844})
    login(page, live_server.url, "op")
    page.goto(f"{live_server.url}/kpis/{kpi.key}/")

    # then Chart.js draws the daily chart, with its dates, within the screen, not cut off at the right
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('kpi-daily-chart'))")
    labels = page.evaluate("() => Chart.getChart(document.getElementById('kpi-daily-chart')).data.labels")
    assert len(labels) == 30 and labels[-1] == (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%d")
    box = page.locator("#kpi-daily-chart").bounding_box()
    assert box is not None and box["width"] > 200 and box["x"] + box["width"] <= 390
    # and an HTMX refresh of the section draws it again
    page.evaluate("() => htmx.ajax('GET', location.pathname, {target: '#kpi-detail', swap: 'outerHTML'})")
    page.wait_for_function("() => Chart.getChart(document.getElementById('kpi-daily-chart'))")
    # and the AI engine page draws spend per day against the daily cap, within the screen too
    page.goto(f"{live_server.url}/ai/")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('ai-spend-chart'))")
    datasets = page.evaluate("() => Chart.getChart(document.getElementById('ai-spend-chart')).data.datasets"
                             ".map(d => [d.label, d.data.length])")
    assert datasets == [["AI spend (USD)", 30], ["daily cap", 30]]
    box = page.locator("#ai-spend-chart").bounding_box()
    assert box is not None and box["width"] > 200 and box["x"] + box["width"] <= 390
    page.close()


def test_on_a_phone_the_headline_and_first_mission_come_before_the_kpis(browser, live_server, world):
    # given an operator on a 390 px wide phone
    page = browser.new_page(viewport={"width": 390, "height": 844})
    login(page, live_server.url, "op")
    # then the week's headline is first and the first proposed mission is on the first screen
    headline = page.locator("section.headline").bounding_box()
    mission = page.locator("#proposed .mission").first.bounding_box()
    kpis = page.locator("details.kpis-panel").bounding_box()
    assert headline["y"] < mission["y"] < kpis["y"]
    assert mission["y"] + 40 < 844
    assert "Net revenue, last 7 days" in page.inner_text("section.headline")
    page.close()
