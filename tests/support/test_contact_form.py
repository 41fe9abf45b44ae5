"""The public contact form per company: /f/<company-slug>/contact/."""

import pytest

from support.models import SupportSettings, Ticket

from ..factories import CompanyFactory

pytestmark = pytest.mark.django_db

FORM = {"name": "Ada", "email": "ada@example.com", "subject": "Invoice", "message": "Please send an invoice."}


def test_the_form_opens_a_web_ticket_for_its_company(client, company):
    CompanyFactory(slug="other")

    page = client.get("/f/acme/contact/")
    response = client.post("/f/acme/contact/", FORM)

    assert page.status_code == 200 and b"Contact Acme Digital" in page.content
    assert response.status_code == 201
    ticket = Ticket.objects.get()
    assert (ticket.company, ticket.channel, ticket.customer_email) == (company, "web", "ada@example.com")
    assert ticket.reference.encode() in response.content


def test_invalid_form_is_400_and_nothing_stored(client, company):
    response = client.post("/f/acme/contact/", {**FORM, "email": "nope"})

    assert response.status_code == 400
    assert b"valid email" in response.content
    assert not Ticket.objects.exists()


def test_bots_filling_the_hidden_field_are_dropped(client, company):
    response = client.post("/f/acme/contact/", {**FORM, "website": "http://spam.test"})

    assert response.status_code == 200
    assert not Ticket.objects.exists()


def test_unknown_or_disabled_company_is_404(client, company):
    SupportSettings.objects.create(company=CompanyFactory(slug="closed"), contact_form_enabled=False)

    assert client.get("/f/nobody/contact/").status_code == 404
    assert client.post("/f/closed/contact/", FORM).status_code == 404
    assert not Ticket.objects.exists()
