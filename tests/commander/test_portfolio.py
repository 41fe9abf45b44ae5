"""`/portfolio/`: a person in several companies sees each one's headline and switches from there."""

from decimal import Decimal

import pytest
from django.test import Client

from autonomax.models import Role
from tests.factories import CompanyFactory, MembershipFactory, OrderFactory, UserFactory

from .factories import load_playbook, propose

pytestmark = pytest.mark.django_db


def test_portfolio_shows_each_of_my_companies_and_none_other(company):
    # given a person who owns one shop and views another; a third shop is not theirs
    person = UserFactory(username="multi")
    second = CompanyFactory(slug="second", name="Second Shop")
    stranger = CompanyFactory(slug="stranger", name="Stranger Shop")
    MembershipFactory(user=person, company=company, role=Role.OWNER)
    MembershipFactory(user=person, company=second, role=Role.VIEWER)
    OrderFactory(company=company, total=Decimal("42"))
    OrderFactory(company=stranger, total=Decimal("999"))
    load_playbook(second)
    propose(second, "faq-macros")
    client = Client()
    client.force_login(person)
    # when
    response = client.get("/portfolio/")
    # then
    html = response.content.decode()
    rows = {r["company"].slug: r for r in response.context["rows"]}
    assert response.status_code == 200 and set(rows) == {"acme", "second"} and "Stranger Shop" not in html
    assert rows["acme"]["sales"]["current"]["net"] == Decimal("42") and rows["second"]["waiting"] == 1
    # and "Open" switches the company the dashboard acts for
    assert client.post("/company/switch/", {"company": "second", "next": "/"}).status_code == 302
    assert client.get("/").context["current_company"].slug == "second"
