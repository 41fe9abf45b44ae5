"""The Command Center in plain words: each proposed mission in one sentence with its preview (the email, the
discount code, the price before and after), the formula folded away; the kill switch says who, when and why;
the owner's onboarding checklist."""

from decimal import Decimal

import pytest
from django.test import Client

from autonomax.models import Role
from autonomax.services import company_set_halt
from chimera.commander.selectors import onboarding_checklist
from tests.factories import CustomerFactory, MembershipFactory, OrderFactory, OrderItemFactory, ProductFactory

from .factories import kpi, kpis_with, load_playbook, propose

pytestmark = pytest.mark.django_db


def _client(company, role=Role.OWNER) -> tuple[Client, object]:
    membership = MembershipFactory(company=company, role=role)
    client = Client()
    client.force_login(membership.user)
    return client, membership.user


def test_a_win_back_card_says_why_whom_what_and_how_it_is_measured(company, other_company):
    # given a win-back mission (repeat customers below target)
    load_playbook(company)
    mission = propose(company, "win-back-email")
    client, _ = _client(company)
    # when
    html = client.get("/").content.decode()
    # then one plain sentence, the email as it will read, and the formula under "score details"
    audience = mission.measure_plan["audience"]
    assert (f"Repeat Customers 30D is 15, below the 20 target: email {audience} customers who bought 30-180 days "
            "ago and not since, with a new 15% off code WELCOMEBACK-… valid 14 days;") in html
    assert "Preview the email" in html and "Hi Ada," in html and "15% off with code WELCOMEBACK-XXXX" in html
    assert "<summary>Score details</summary>" in html and mission.explanation in html


def test_a_price_test_shows_the_price_before_and_after(company, other_company):
    # given a best seller at 20.00, and another company's busier product
    product = ProductFactory(company=company, name="Budget planner", price=Decimal("20.00"))
    OrderItemFactory(order=OrderFactory(company=company, customer=CustomerFactory(company=company)), product=product)
    other = ProductFactory(company=other_company, name="Someone else's", price=Decimal("99.00"))
    for _ in range(3):
        OrderItemFactory(order=OrderFactory(company=other_company), product=other)
    load_playbook(company)
    mission = propose(company, "price-test-best-seller")
    client, _ = _client(company)
    # when
    html = client.get(f"/missions/{mission.pk}/").content.decode()
    # then the bot's own formula (-10%, floor 5) gives the preview
    assert "change the price of Budget planner from 20.00 to 18.00 (-10%)" in html
    assert "<s>20.00</s> → <strong>18.00</strong>" in html and "Someone else" not in html


def test_kill_switch_banner_says_who_when_and_why(company):
    client, owner = _client(company)
    # when the owner stops everything with a reason
    response = client.post("/command/switches/", {"switch": "halt", "on": "1", "reason": "Shopify outage"})
    # then the banner names them and the reason; the switch no longer asks (it offers Resume)
    assert response.status_code == 302
    html = client.get("/").content.decode()
    assert f"by {owner.get_username()} on" in html and "“Shopify outage”" in html
    assert "Why stop all execution" not in html
    company_set_halt(company=company, halted=False, actor=owner, reason="over")
    assert 'aria-label="Why stop all execution"' in client.get("/").content.decode()


def test_onboarding_checklist_steps_are_done_one_by_one(company, other_company, settings):
    # given a new company with no Stripe key anywhere and no playbook
    settings.STRIPE_SECRET_KEY = ""
    client, owner = _client(company)
    assert [s["done"] for s in onboarding_checklist(company=company)["steps"]] == [False, False, False, False]
    assert "Getting started" in client.get("/").content.decode()
    # when the owner loads the playbook, runs the silent cycle and reviews its report
    client.post("/onboarding/", {"action": "playbook"})
    client.post("/onboarding/", {"action": "silent_cycle"})
    page = client.get("/onboarding/").content.decode()
    client.post("/onboarding/", {"action": "reviewed"})
    # then those steps are done, the report was shown, and only payments remain
    assert "The silent cycle's report" in page and "orders-7d" in page
    company.refresh_from_db()
    assert [s["done"] for s in onboarding_checklist(company=company)["steps"]] == [False, True, True, True]
    assert company.onboarding["reviewed_by"] == owner.get_username()
    # and the other company is untouched
    other_company.refresh_from_db()
    assert other_company.onboarding == {}


def test_only_the_owner_takes_onboarding_steps(company):
    client, _ = _client(company, Role.OPERATOR)
    assert client.post("/onboarding/", {"action": "silent_cycle"}).status_code == 403
    assert "Getting started" not in client.get("/").content.decode()
    company.refresh_from_db()
    assert company.onboarding == {}


def test_a_bundle_card_names_the_kpi_with_its_unit_and_the_forecast(company):
    load_playbook(company)
    mission = propose(company, "bundle-offer", kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "18", unit="USD")}))
    html = _client(company)[0].get("/").content.decode()
    assert "Aov 30D is 18 USD, below the 20 USD target" in html
    assert ("offer a bundle of the 3 best sellers at 20% off; measured against a forecast of Aov 30D after 7 days."
            in html)
    assert mission.explanation in html
