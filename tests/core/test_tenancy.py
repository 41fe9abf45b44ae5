"""Company A's token can neither read nor write company B's rows."""

import pytest
from rest_framework.test import APIClient

from autonomax.models import Role
from commerce.models import Order

from ..factories import CompanyFactory, LeadFactory, OrderFactory, TicketFactory, member_with_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_companies():
    a, b = CompanyFactory(slug="alpha"), CompanyFactory(slug="beta")
    _, key_a = member_with_token(company=a, role=Role.OWNER)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key_a}")
    return a, b, client


@pytest.mark.parametrize("path, factory", [
    ("orders", OrderFactory), ("leads", LeadFactory), ("tickets", TicketFactory),
])
def test_list_shows_only_own_company_rows(two_companies, path, factory):
    a, b, client = two_companies
    own = factory(company=a)
    factory(company=b)

    response = client.get(f"/api/v1/{path}/")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [own.pk]


def test_other_company_row_is_not_found(two_companies):
    a, b, client = two_companies
    foreign = OrderFactory(company=b)

    response = client.get(f"/api/v1/orders/{foreign.pk}/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_token_cannot_act_for_another_company(two_companies):
    a, b, client = two_companies

    read = client.get("/api/v1/orders/", HTTP_X_COMPANY="beta")
    write = client.post("/api/v1/companies/beta/halt/", {"halted": True, "reason": "x"}, format="json")

    assert read.status_code == 404
    assert write.status_code == 404
    b.refresh_from_db()
    assert b.execution_halted is False


def test_session_user_cannot_switch_into_a_foreign_company(two_companies, client):
    a, b, _ = two_companies
    membership, _ = member_with_token(company=a, role=Role.OWNER, username="alice")
    client.force_login(membership.user)
    OrderFactory(company=b)

    response = client.get("/api/v1/orders/", HTTP_X_COMPANY="beta")

    assert response.status_code == 404
    assert Order.objects.filter(company=b).count() == 1


def test_unknown_company_is_404(two_companies):
    _, _, client = two_companies

    response = client.post("/api/v1/companies/nope/halt/", {}, format="json")

    assert response.status_code == 404
