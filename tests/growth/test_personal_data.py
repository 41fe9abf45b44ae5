"""growth.personal_data: export and erase what growth holds about one email in one company."""

import pytest
from django.test import Client

from autonomax.privacy import Person
from growth.events import lead_events_record
from growth.models import EmailDelivery, HandoffTask, Lead, LeadEvent, Unsubscribe
from growth.personal_data import erase, export_personal_data, suppressed_address
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db


def _lead_with_history(company, email):
    lead = LeadFactory(company=company, email=email, name="Ada")
    lead_events_record(company=company, events=[{"idempotency_key": f"{email}-1", "type": "page_view",
                                                 "lead_id": lead.pk, "properties": {"path": "/pricing"}}])
    EmailDelivery.objects.create(company=company, send_key=f"job-{company.pk}", email=email, lead=lead, subject="Hi")
    Unsubscribe.objects.create(company=company, email=email)
    HandoffTask.objects.create(company=company, lead=lead, threshold=80, score=90, title="t",
                               created_at=lead.created_at)
    return lead


def test_export_has_the_lead_its_events_and_emails(company):
    _lead_with_history(company, "ada@example.com")
    _lead_with_history(CompanyFactory(), "ada@example.com")
    data = export_personal_data(company, "ADA@example.com")
    assert len(data["leads"]) == 1 and data["leads"][0]["name"] == "Ada"
    assert data["leads"][0]["events"][0]["properties"] == {"path": "/pricing"}
    assert len(data["email_deliveries"]) == 1 and len(data["unsubscribed"]) == 1


def test_erase_deletes_this_company_only_and_keeps_the_suppression(company):
    _lead_with_history(company, "ada@example.com")
    other = _lead_with_history(CompanyFactory(), "ada@example.com")
    counts = erase(company, Person(email="ada@example.com"))
    assert counts["growth.LeadEvent"] == 1 and counts["growth.EmailDelivery"] == 1
    assert counts["growth.HandoffTask"] == 1
    assert not Lead.objects.filter(company=company).exists()
    # Never email them again: the unsubscribe stays, as a hash of the address only.
    assert list(Unsubscribe.objects.filter(company=company).values_list("email", flat=True)) == [
        suppressed_address("ada@example.com")]
    assert not EmailDelivery.objects.filter(company=company, email="ada@example.com").exists()
    assert Lead.objects.filter(pk=other.pk).exists() and LeadEvent.objects.filter(lead=other).exists()


def test_lead_page_shows_breakdown_and_timeline(owner_api, company):
    membership, _ = owner_api
    lead = _lead_with_history(company, "ada@example.com")
    client = Client()
    client.force_login(membership.user)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "+25 pricing page visit just now" in html and 'data-kind="event"' in html
    other = LeadFactory(company=CompanyFactory())
    assert client.get(f"/leads/{other.pk}/").status_code == 404


def test_export_says_when_a_sequence_email_was_first_opened(company, other_company, mailoutbox):
    import re
    from datetime import UTC, datetime, timedelta

    import time_machine

    from growth.models import Sequence, SequenceStep
    from growth.sequences import sequence_enrol, sequences_dispatch

    # given a one-step sequence sent to Ada (the real dispatcher), and another company's Ada
    now = datetime(2026, 11, 7, 12, 0, tzinfo=UTC)
    sequence = Sequence.objects.create(company=company, name="Welcome", kind=Sequence.Kind.MARKETING)
    SequenceStep.objects.create(company=company, sequence=sequence, position=1, delay_hours=0, subject="Welcome",
                                body="Hello {name}.")
    lead = LeadFactory(company=company, email="ada@example.com", name="Ada", consent=True, timezone="UTC")
    _lead_with_history(other_company, "ada@example.com")
    with time_machine.travel(now, tick=False):
        sequence_enrol(sequence=sequence, lead=lead, now=now)
        sequences_dispatch(now=now, company=company)
    [message] = mailoutbox
    pixel = re.search(r'<img src="https?://[^/]+(/[^"]+)"', message.alternatives[0][0]).group(1)
    assert export_personal_data(company, "ada@example.com")["email_deliveries"][-1]["opened_at"] is None
    # when she opens it twice, the second time a day later
    for later in (timedelta(hours=3), timedelta(days=1)):
        with time_machine.travel(now + later, tick=False):
            assert Client().get(pixel).status_code == 200
    # then the export says it was sent and first opened three hours later
    [email] = export_personal_data(company, "ada@example.com")["email_deliveries"]
    assert email["subject"] == "Welcome" and email["status"] == "sent" and email["opens_tracked"]
    assert email["opened_at"] == (now + timedelta(hours=3)).isoformat()
