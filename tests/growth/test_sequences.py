"""Nurture sequences: each step exactly once, checks at send time, one-click unsubscribe, caps and quiet hours."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from growth.models import (
    EmailDelivery,
    Enrolment,
    GrowthSettings,
    Lead,
    LeadEvent,
    Sequence,
    SequenceStep,
    StepSend,
    Unsubscribe,
)
from growth.sequences import enrolment_send_due, send_window_next, sequence_enrol, sequences_dispatch
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db

# Saturday 7 Nov 2026, 12:00 UTC: midday in UTC-zoned leads, outside quiet hours.
NOW = datetime(2026, 11, 7, 12, 0, tzinfo=UTC)


def _sequence(company, *, steps=2, kind=Sequence.Kind.MARKETING, **kwargs):
    sequence = Sequence.objects.create(company=company, name="Welcome", kind=kind, **kwargs)
    for position in range(1, steps + 1):
        SequenceStep.objects.create(company=company, sequence=sequence, position=position,
                                    delay_hours=0 if position == 1 else 48,
                                    subject=f"Step {position} for {{name}}", body=f"Hello {{name}}, step {position}.")
    return sequence


def _lead(company, **kwargs):
    kwargs.setdefault("consent", True)
    kwargs.setdefault("timezone", "UTC")
    return LeadFactory(company=company, name="Ada", **kwargs)


def test_each_step_goes_once_whatever_the_repeats(company):
    # given: two leads enrolled; another company's lead in its own sequence
    sequence = _sequence(company)
    leads = [_lead(company, email=f"l{i}@example.com") for i in range(2)]
    for lead in leads:
        sequence_enrol(sequence=sequence, lead=lead, now=NOW)
    other = CompanyFactory()
    sequence_enrol(sequence=_sequence(other), lead=_lead(other), now=NOW)

    # when: the dispatcher runs three times now, then three times two days later
    for _ in range(3):
        sequences_dispatch(now=NOW, company=company)
    for _ in range(3):
        sequences_dispatch(now=NOW + timedelta(days=2, minutes=1), company=company)

    # then: two steps each, once; the enrolments are completed
    subjects = sorted((m.to[0], m.subject) for m in mail.outbox)
    assert subjects == [("l0@example.com", "Step 1 for Ada"), ("l0@example.com", "Step 2 for Ada"),
                        ("l1@example.com", "Step 1 for Ada"), ("l1@example.com", "Step 2 for Ada")]
    assert StepSend.objects.filter(company=company, status="sent").count() == 4
    assert set(Enrolment.objects.filter(company=company).values_list("status", flat=True)) == {"completed"}
    leads[0].refresh_from_db()
    assert leads[0].status == Lead.Status.NURTURING


def test_every_marketing_email_has_one_click_unsubscribe_that_works_without_csrf(company):
    # given
    lead = _lead(company, email="ada@example.com")
    sequence_enrol(sequence=_sequence(company, steps=1), lead=lead, now=NOW)
    sequences_dispatch(now=NOW)
    message = mail.outbox[0]

    # then: RFC 8058 headers
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert url in message.body

    # when: the mail client posts the one-click body, with no cookie or CSRF token
    path = url.split("8000", 1)[1]
    response = Client(enforce_csrf_checks=True).post(path, "List-Unsubscribe=One-Click",
                                                     content_type="application/x-www-form-urlencoded")

    # then
    assert response.status_code == 200
    assert Unsubscribe.objects.filter(company=company, email="ada@example.com").exists()
    assert Client().get(path).status_code == 200  # GET only shows the button


def test_unsubscribed_between_schedule_and_send_gets_nothing(company):
    # given: enrolled, then unsubscribed before the step is due
    lead = _lead(company)
    enrolment, _ = sequence_enrol(sequence=_sequence(company), lead=lead, now=NOW)
    Unsubscribe.objects.create(company=company, email=lead.email.upper())

    # when
    outcome = enrolment_send_due(enrolment_id=enrolment.pk, now=NOW)

    # then
    assert outcome == "stopped:unsubscribed" and mail.outbox == []
    enrolment.refresh_from_db()
    assert enrolment.status == "stopped" and not StepSend.objects.exists()


def test_no_consent_stops_marketing_but_not_transactional(company):
    lead = _lead(company, consent=False)
    marketing, _ = sequence_enrol(sequence=_sequence(company), lead=lead, now=NOW)
    transactional, _ = sequence_enrol(sequence=_sequence(company, kind=Sequence.Kind.TRANSACTIONAL), lead=lead,
                                      now=NOW)
    assert enrolment_send_due(enrolment_id=marketing.pk, now=NOW) == "stopped:no_consent"
    assert enrolment_send_due(enrolment_id=transactional.pk, now=NOW) == "sent"
    assert "List-Unsubscribe" not in mail.outbox[0].extra_headers


def test_purchase_and_reply_stop_the_sequence(company):
    buyer = _lead(company, converted_at=NOW - timedelta(hours=1))
    replier = _lead(company)
    sequence = _sequence(company)
    bought, _ = sequence_enrol(sequence=sequence, lead=buyer, now=NOW - timedelta(days=1))
    replied, _ = sequence_enrol(sequence=sequence, lead=replier, now=NOW - timedelta(days=1))
    LeadEvent.objects.create(company=company, lead=replier, type="email_reply", idempotency_key="r1",
                             occurred_at=NOW - timedelta(hours=2))
    assert enrolment_send_due(enrolment_id=bought.pk, now=NOW) == "stopped:purchase"
    assert enrolment_send_due(enrolment_id=replied.pk, now=NOW) == "stopped:reply"
    assert mail.outbox == []


def test_frequency_cap_defers_marketing_until_a_slot_frees(company):
    # given: a cap of 2 a week, and two marketing emails sent 1 and 3 days ago
    GrowthSettings.objects.create(company=company, marketing_cap_per_week=2)
    lead = _lead(company)
    for days in (1, 3):
        EmailDelivery.objects.create(company=company, send_key=f"b{days}-{company.pk}", email=lead.email,
                                     subject="x", status="sent", sent_at=NOW - timedelta(days=days))
    enrolment, _ = sequence_enrol(sequence=_sequence(company), lead=lead, now=NOW)

    # when
    outcome = enrolment_send_due(enrolment_id=enrolment.pk, now=NOW)

    # then: due again when the older one is 7 days old
    enrolment.refresh_from_db()
    assert outcome == "deferred" and mail.outbox == []
    assert enrolment.next_due_at == NOW - timedelta(days=3) + timedelta(days=7)


def test_quiet_hours_across_a_dst_change():
    # given: New York leaves DST at 2026-11-01 02:00 local; quiet 21:00-08:00
    zone, group = ZoneInfo("America/New_York"), GrowthSettings()

    # when: due at 23:00 EDT on Oct 31 (03:00 UTC Nov 1)
    allowed = send_window_next(now=datetime(2026, 11, 1, 3, 0, tzinfo=UTC), zone=zone, group=group)

    # then: 08:00 EST on Nov 1 = 13:00 UTC (not 12:00, as 9 hours later would be)
    assert allowed == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    assert allowed.astimezone(zone).hour == 8
    # spring: 2026-03-08 DST starts; 22:00 EST on Mar 7 (03:00 UTC) -> 08:00 EDT = 12:00 UTC
    assert send_window_next(now=datetime(2026, 3, 8, 3, 0, tzinfo=UTC), zone=zone, group=group) == datetime(
        2026, 3, 8, 12, 0, tzinfo=UTC)
    # inside the window: now
    noon = datetime(2026, 11, 2, 17, 0, tzinfo=UTC)
    assert send_window_next(now=noon, zone=zone, group=group) == noon


def test_weekdays_only_skips_the_weekend():
    group = GrowthSettings(weekdays_only=True)
    # Saturday 12:00 UTC in UTC -> Monday 08:00 (quiet hours end)
    assert send_window_next(now=NOW, zone=ZoneInfo("UTC"), group=group) == datetime(2026, 11, 9, 8, 0, tzinfo=UTC)


def test_a_lead_in_quiet_hours_is_deferred_to_its_morning(company):
    lead = _lead(company, timezone="Asia/Tokyo")  # 12:00 UTC = 21:00 in Tokyo: quiet
    enrolment, _ = sequence_enrol(sequence=_sequence(company), lead=lead, now=NOW)
    assert enrolment_send_due(enrolment_id=enrolment.pk, now=NOW) == "deferred"
    enrolment.refresh_from_db()
    assert enrolment.next_due_at == datetime(2026, 11, 7, 23, 0, tzinfo=UTC)  # 08:00 JST on the 8th


def test_a_rejected_address_is_marked_alone_and_the_batch_goes_on(company, settings):
    # given: the mail server refuses one of three addresses
    settings.EMAIL_BACKEND = "tests.growth.backends.RejectingBackend"
    sequence = _sequence(company, steps=1)
    for email in ("a@example.com", "b@rejected.example", "c@example.com"):
        sequence_enrol(sequence=sequence, lead=_lead(company, email=email), now=NOW)

    # when: dispatched twice
    first = sequences_dispatch(now=NOW)
    second = sequences_dispatch(now=NOW)

    # then
    assert first == {"sent": 2, "failed": 1} and second == {}
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.com", "c@example.com"]
    failed = StepSend.objects.get(status="failed")
    assert failed.lead.email == "b@rejected.example" and "no such user" in failed.reason


def test_capture_trigger_enrols_new_leads(owner_api, company):
    _, api = owner_api
    sequence = _sequence(company, trigger=Sequence.Trigger.CAPTURE)
    api.post("/api/v1/leads/", {"email": "new@example.com"}, format="json")
    assert Enrolment.objects.filter(sequence=sequence, lead__email="new@example.com").exists()


def test_sequences_api_creates_enrols_once_and_reports_performance(owner_api, company):
    # given
    membership, api = owner_api
    GrowthSettings.objects.create(company=company, quiet_hours_start=0, quiet_hours_end=0)
    lead = _lead(company)
    body = {"name": "Onboarding", "trigger": "manual", "steps": [
        {"position": 1, "delay_hours": 0, "subject": "Welcome", "body": "Hi {name}"},
        {"position": 2, "delay_hours": 72, "subject": "Tips", "body": "More"}]}

    # when
    created = api.post("/api/v1/sequences/", body, format="json")
    sequence_id = created.json()["id"]
    first = api.post(f"/api/v1/sequences/{sequence_id}/enrol/", {"lead_id": lead.pk}, format="json")
    again = api.post(f"/api/v1/sequences/{sequence_id}/enrol/", {"lead_id": lead.pk}, format="json")
    other = api.post(f"/api/v1/sequences/{sequence_id}/enrol/", {"lead_id": LeadFactory().pk}, format="json")
    sequences_dispatch(now=timezone.now() + timedelta(minutes=1))

    # then
    assert created.status_code == 201 and [s["subject"] for s in created.json()["steps"]] == ["Welcome", "Tips"]
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 404)
    assert first.json()["id"] == again.json()["id"]
    performance = api.get(f"/api/v1/sequences/{sequence_id}/performance/").json()
    assert [p["sent"] for p in performance] == [1, 0]
    client = Client()
    client.force_login(membership.user)
    assert "Onboarding" in client.get("/leads/sequences/").content.decode()


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "steps": []}, "steps"),
    ({"name": "x", "steps": [{"position": 1, "subject": "s"}]}, "steps"),
    ({"name": "x", "trigger": "segment", "segment": "nope", "steps": [{"position": 1, "subject": "s", "body": "b"}]},
     "segment"),
])
def test_bad_sequences_are_400_and_nothing_stored(owner_api, body, field):
    _, api = owner_api
    response = api.post("/api/v1/sequences/", body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["details"]
    assert not Sequence.objects.exists()
