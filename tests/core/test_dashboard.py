import pytest

from autonomax.models import Role

from ..factories import CompanyFactory, MembershipFactory, OrderFactory

pytestmark = pytest.mark.django_db


def test_dashboard_requires_login(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_dashboard_shows_the_selected_company_only(client):
    # given a user in two companies, with an order in each
    membership = MembershipFactory(company=CompanyFactory(slug="alpha", name="Alpha"), role=Role.OWNER)
    MembershipFactory(user=membership.user, company=CompanyFactory(slug="beta", name="Beta"), role=Role.VIEWER)
    OrderFactory(company=membership.company)
    client.force_login(membership.user)

    # when they switch to beta
    switched = client.post("/company/switch/", {"company": "beta", "next": "/"})
    page = client.get("/")

    # then the dashboard is beta's and the switcher lists both
    assert switched.status_code == 302
    assert page.context["current_company"].slug == "beta"
    assert b"Command Center \xc2\xb7 Beta" in page.content  # `/` is the Command Center (issue 5)
    assert b'value="alpha"' in page.content


def test_switching_to_a_foreign_company_is_404(client):
    membership = MembershipFactory(company=CompanyFactory(slug="alpha"), role=Role.OWNER)
    CompanyFactory(slug="beta")
    client.force_login(membership.user)

    response = client.post("/company/switch/", {"company": "beta"})

    assert response.status_code == 404
    assert client.session.get("company_slug") is None


def test_switch_refuses_offsite_redirects(client):
    membership = MembershipFactory(company=CompanyFactory(slug="alpha"), role=Role.OWNER)
    client.force_login(membership.user)

    response = client.post("/company/switch/", {"company": "alpha", "next": "https://evil.example/"})

    assert response["Location"] == "/"
