import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from support.models import Ticket, TicketMessage
from support.personal_data import erase_personal_data, export_personal_data
from support.tickets import Inbound, ticket_receive

from ..factories import CompanyFactory

pytestmark = pytest.mark.django_db


def test_export_and_erase_reach_only_this_person_in_this_company(company):
    # given
    other = CompanyFactory(slug="other")
    path = default_storage.save("support/test/note.txt", ContentFile(b"x"))
    mine = ticket_receive(company=company, inbound=Inbound(
        email="ada@example.com", subject="Help", body="my text",
        attachments=[{"filename": "note.txt", "content_type": "text/plain", "size": 1, "path": path}])).ticket
    ticket_receive(company=company, inbound=Inbound(email="bob@example.com", subject="Hi", body="bob"))
    ticket_receive(company=other, inbound=Inbound(email="ada@example.com", subject="Other", body="elsewhere"))

    # when
    exported = export_personal_data(company, "ADA@example.com")
    counts = erase_personal_data(company, "ada@example.com")

    # then
    assert [t["reference"] for t in exported["tickets"]] == [mine.reference]
    assert exported["tickets"][0]["messages"][0]["body"] == "my text"
    assert counts == {"tickets": 1, "ticket_messages": 1, "ticket_events": 0, "attachments": 1, "intent_models": 0}
    assert not Ticket.objects.filter(pk=mine.pk).exists() and not default_storage.exists(path)
    assert Ticket.objects.filter(customer_email="bob@example.com").exists()
    assert Ticket.objects.filter(company=other, customer_email="ada@example.com").exists()
    assert TicketMessage.objects.count() == 2
