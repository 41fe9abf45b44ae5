"""The customer API and page: one person's value and story, never another company's."""

from datetime import timedelta

import pytest
from django.utils import timezone

from autonomax.models import Role
from customers.services.segments import profiles_refresh
from support.models import TicketMessage
from tests.conftest import _api_client
from tests.factories import (
    CompanyFactory,
    CustomerFactory,
    OrderFactory,
    OrderItemFactory,
    TicketFactory,
    member_with_token,
)


@pytest.fixture
def shop():
    company, other = CompanyFactory(slug="acme"), CompanyFactory(slug="globex")
    customer = CustomerFactory(company=company, email="ada@example.com", name="Ada")
    for days in (3, 40):
        OrderItemFactory(order=OrderFactory(company=company, customer=customer,
                                            created_at=timezone.now() - timedelta(days=days)))
    ticket = TicketFactory(company=company, customer_email="ada@example.com", subject="Where is my file?")
    TicketMessage.objects.create(ticket=ticket, author="customer", body="The link expired.", created_at=timezone.now())
    stranger = CustomerFactory(company=other, email="ada@example.com")
    profiles_refresh(company=company)
    return company, customer, stranger


@pytest.mark.django_db
def test_customer_api_gives_rfm_segment_and_says_when_history_is_too_short(shop):
    company, customer, stranger = shop
    _, key = member_with_token(company=company, role=Role.VIEWER)
    api = _api_client(key)
    body = api.get(f"/api/v1/customers/{customer.pk}/").json()
    assert body["rfm"] == {"recency": 3, "frequency": 2, "monetary": "38.00", "score": "523"}
    assert body["segment"] == "new"
    assert body["p_alive"] is None and body["predicted_value_12m"] is None and body["model_version"] is None
    assert body["history_note"]
    assert api.get(f"/api/v1/customers/{stranger.pk}/").status_code == 404
    listed = api.get("/api/v1/customers/").json()
    assert [c["id"] for c in listed["results"]] == [customer.pk]


@pytest.mark.django_db
def test_customer_page_tells_the_story(shop, client):
    company, customer, stranger = shop
    membership, _ = member_with_token(company=company, role=Role.VIEWER)
    client.force_login(membership.user)
    page = client.get(f"/customers/{customer.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Where is my file?" in text and "The link expired." in text
    assert text.count('<span class="pill">payment</span>') == 2
    assert "Segment — → new" in text
    assert client.get(f"/customers/{stranger.pk}/").status_code == 404
    assert client.get("/customers/999999/").status_code == 404


@pytest.mark.django_db
def test_admin_exports_one_customer_as_json(shop, client):
    from django.contrib.auth import get_user_model

    from customers.models import CustomerProfile

    company, customer, _ = shop
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-long-enough-1")
    client.force_login(admin)
    profile = CustomerProfile.objects.get(customer=customer)
    response = client.post("/admin/customers/customerprofile/", {"action": "export_personal_data",
                                                                  "_selected_action": [profile.pk]})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json()["apps"]["commerce"]["data"]["customer"][0]["email"] == "ada@example.com"


@pytest.mark.django_db
def test_a_customer_not_scored_yet_has_nulls_and_says_why():
    company = CompanyFactory(slug="acme")
    customer = CustomerFactory(company=company)
    _, key = member_with_token(company=company, role=Role.VIEWER)
    body = _api_client(key).get(f"/api/v1/customers/{customer.pk}/").json()
    assert body["rfm"] is None and body["segment"] is None and body["p_alive"] is None
    assert body["predicted_value_12m"] is None and body["model_version"] is None
    assert body["history_note"] == "not scored yet"
