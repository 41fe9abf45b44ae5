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


@pytest.mark.django_db
def test_customer_page_says_which_emails_were_opened(shop, client, other_company):
    from datetime import UTC, datetime

    import time_machine

    from growth.models import EmailDelivery, LeadEvent
    from tests.factories import LeadFactory

    # given Ada is also a lead: a campaign email she opened (pixel message "campaign:<id>:<variant>"), one
    # she did not open yet, and a win-back email (segment sends carry no pixel); another company's lead with
    # her address opened an email with the same message key
    company, customer, _ = shop
    sent = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    lead = LeadFactory(company=company, email="ada@example.com")
    for key, subject in (("campaign:7", "New templates"), ("campaign:8", "Last call"), ("9f1c", "Welcome back")):
        EmailDelivery.objects.create(company=company, send_key=key, email="ada@example.com", lead=lead,
                                     subject=subject, status=EmailDelivery.Status.SENT, sent_at=sent)
    for at_hour, key in ((18, "open:a"), (20, "open:b")):  # two opens recorded: the first one counts
        LeadEvent.objects.create(company=company, lead=lead, type=LeadEvent.Type.EMAIL_OPEN, idempotency_key=key,
                                 occurred_at=sent.replace(hour=at_hour), properties={"message": "campaign:7:b"})
    theirs = LeadFactory(company=other_company, email="ada@example.com")
    LeadEvent.objects.create(company=other_company, lead=theirs, type=LeadEvent.Type.EMAIL_OPEN, idempotency_key="x",
                             occurred_at=sent, properties={"message": "campaign:8:a"})
    membership, _ = member_with_token(company=company, role=Role.VIEWER)
    client.force_login(membership.user)
    # when
    with time_machine.travel(datetime(2026, 11, 7, 10, 0, tzinfo=UTC), tick=False):
        text = client.get(f"/customers/{customer.pk}/").content.decode()
    # then
    assert "Email “New templates” sent 2026-11-02 10:00, opened 2026-11-02 18:00" in text
    assert "Email “Last call” sent 2026-11-02 10:00, not opened yet" in text
    assert "Email “Welcome back” sent 2026-11-02 10:00, opens not tracked" in text
