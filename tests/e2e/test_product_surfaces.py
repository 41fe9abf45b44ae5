"""Connections, drafts, the mission page and the owner's phone, in a real browser (Playwright + Debian chromium)."""

from urllib.parse import urlsplit

import pytest

from autonomax.models import Connection, Role
from chimera.commander.models import Mission
from commerce.models import ProductDraft
from tests.commerce.factories import ProductDraftFactory
from tests.commerce.servers import FakeStripe
from tests.factories import MembershipFactory, UserFactory

from .test_command_center import PASSWORD, browser, login, world  # noqa: F401  (fixtures shared with the Command Center's)

pytestmark = pytest.mark.e2e


@pytest.fixture
def owner(world):  # noqa: F811
    user = UserFactory(username="boss")
    MembershipFactory(user=user, company=world, role=Role.OWNER)
    return user


def test_owner_connects_stripe_checked_against_the_local_server(browser, live_server, world, owner, settings):  # noqa: F811
    # given the local Stripe server and no key in the environment
    stripe = FakeStripe()
    settings.STRIPE_API_BASE, settings.STRIPE_SECRET_KEY = stripe.url, ""
    try:
        page = browser.new_page()
        login(page, live_server.url, "boss")
        # the Command Center warns that checkout is off
        assert "Checkout is off: Stripe is not connected." in page.inner_text("#live")
        # when the owner enters the keys on the connections page
        page.click("text=Connections")
        form = page.locator("#connection-stripe")
        form.locator("input[name=secret_key]").fill("sk_test_browser_key_9876")
        form.locator("input[name=webhook_secret]").fill("whsec_browser_secret")
        form.locator("button[value=save]").click()
        page.wait_for_load_state()
        # then it was checked live and is working; the key is not on the page, only its last characters
        assert "Stripe answered: the key works" in page.inner_text("#connection-stripe")
        assert "Working" in page.inner_text("#connection-stripe h2")
        html = page.content()
        assert "sk_test_browser_key_9876" not in html and "…9876" in html
        assert Connection.objects.get(company=world, kind="stripe").status == Connection.Status.OK
        # and the warning is gone
        page.goto(f"{live_server.url}/")
        assert "Checkout is off" not in page.inner_text("#live")
        page.close()
    finally:
        stripe.close()


def test_operators_cannot_open_connections(browser, live_server, world):  # noqa: F811
    page = browser.new_page()
    login(page, live_server.url, "op")
    assert page.locator("header nav >> text=Connections").count() == 0
    response = page.goto(f"{live_server.url}/settings/connections/")
    assert response.status == 403
    page.close()


def test_operator_reviews_a_draft_below_the_gate_overrides_with_a_reason_and_promotes(browser, live_server, world,  # noqa: F811
                                                                                      settings, tmp_path):
    # given a draft below the quality gate
    settings.MEDIA_ROOT = str(tmp_path)
    draft = ProductDraftFactory(company=world, title="Notion budget planner for nurses",
                                rubric={"readability": 3.0, "seo": 3.5, "uniqueness": 3.0})
    page = browser.new_page()
    login(page, live_server.url, "op")
    # when the operator opens it from the drafts list in the top navigation
    page.click("header nav >> text=Drafts")
    page.click(f"text={draft.title}")
    page.wait_for_url(f"{live_server.url}/commerce/drafts/{draft.pk}/")
    assert "below 4.0" in page.inner_text("body")
    # and overrides the gate with a reason, then promotes it
    page.fill("#reason", "Checked by hand: the SEO score misreads the niche")
    page.click("text=Override the gate")
    page.click("text=Promote to product")
    # then the product exists with its file, and the page shows who overrode and why
    page.wait_for_selector("text=Download the file")
    assert "Checked by hand" in page.inner_text("body")
    draft.refresh_from_db()
    assert draft.status == ProductDraft.Status.PROMOTED and draft.gate_override_by.username == "op"
    page.close()


def test_operator_approves_from_the_mission_page(browser, live_server, world):  # noqa: F811
    mission = Mission.objects.get(company=world, play__key="faq-macros")
    page = browser.new_page()
    login(page, live_server.url, "op")
    # when they open the mission from its card and approve it there
    page.click(f"#mission-{mission.pk} h4 a")
    page.wait_for_url(f"{live_server.url}/missions/{mission.pk}/")
    assert "write canned answers for the top 5 ticket intents" in page.inner_text(".why")
    page.click(f"#mission-{mission.pk} button.approve")
    # then the card on the page changes in place
    page.wait_for_function(
        f"['planned', 'running'].includes(document.querySelector('#mission-{mission.pk}')?.dataset.status)",
        timeout=10000)
    mission.refresh_from_db()
    assert mission.decided_by.username == "op"
    page.close()


def test_on_an_owners_phone_the_first_mission_is_on_the_first_screen(browser, live_server, world, owner):  # noqa: F811
    # given the owner (who also sees the onboarding checklist and the connection warning) on a phone
    page = browser.new_page(viewport={"width": 390, "height": 844})
    login(page, live_server.url, "boss")
    # then the first proposed mission starts on the first screen, before the KPIs
    mission = page.locator("#proposed .mission").first.bounding_box()
    kpis = page.locator("details.kpis-panel").bounding_box()
    assert mission["y"] + 60 < 844 and mission["y"] < kpis["y"]
    assert page.locator("details.onboarding").count() == 1
    page.close()


def test_owner_invites_a_person_who_accepts_by_link_and_sees_the_company(browser, live_server, world, owner,  # noqa: F811
                                                                         mailoutbox):
    # given the owner on the team page
    page = browser.new_page()
    login(page, live_server.url, "boss")
    page.goto(f"{live_server.url}/settings/team/")
    # when they invite a person as operator
    page.fill("form.invite input[name=email]", "newcomer@example.com")
    page.select_option("form.invite select[name=role]", "operator")
    page.click("form.invite button[type=submit]")
    page.wait_for_load_state()
    # then the invitation is open and its link went by email
    assert "newcomer@example.com" in page.inner_text("body")
    [mail] = [m for m in mailoutbox if "newcomer@example.com" in m.to]
    link = next(word for word in mail.body.split() if "/invite/" in word)
    page.close()

    # when the invited person opens the link in their own browser and creates an account
    context = browser.new_context()
    guest = context.new_page()
    guest.goto(live_server.url + urlsplit(link).path)  # the link names SITE_URL; the test server is elsewhere
    assert "Join E2E Store" in guest.inner_text("h1")
    guest.fill("input[name=username]", "newcomer")
    guest.fill("input[name=password1]", PASSWORD)
    guest.fill("input[name=password2]", PASSWORD)
    guest.click("button[type=submit]")
    guest.wait_for_load_state()
    # then they are an operator of the company, signed in, and see its Command Center
    assert world.memberships.get(user__username="newcomer").role == Role.OPERATOR
    guest.goto(f"{live_server.url}/")
    assert "E2E Store" in guest.inner_text("body")
    context.close()
