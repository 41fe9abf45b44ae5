"""Bounces and complaints: Postmark's tracking webhook through django-anymail suppresses the address and
pauses a campaign whose bounce or complaint rate passes the company's threshold. Payloads are Postmark's
documented shapes; anymail parses them."""

import base64
import json
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.core import mail

from autonomax.models import ConfigChange
from growth.campaigns import campaign_distribute, campaigns_due
from growth.models import (
    Campaign,
    CampaignContent,
    EmailDelivery,
    EmailEvent,
    Enrolment,
    GrowthSettings,
    Lead,
    Sequence,
    SequenceStep,
    StepSend,
    Unsubscribe,
)
from growth.sequences import enrolment_send_due, sequence_enrol
from growth.services import email_segment_send
from tests.commerce.servers import _Server
from tests.factories import LeadFactory
from tests.growth.backends import BouncingBackend

pytestmark = pytest.mark.django_db

URL = "/webhooks/email/postmark/tracking/"
NOW = datetime(2026, 11, 7, 12, 0, tzinfo=UTC)  # a Saturday noon: outside quiet hours in UTC


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "postmark:s3cret"}


def _auth(user_pass: str = "postmark:s3cret") -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(user_pass.encode()).decode()}


def _post(client, payload, **auth):
    return client.post(URL, json.dumps(payload), content_type="application/json", **(auth or _auth()))


def _bounce(message, *, event_id: int, kind: str = "HardBounce", metadata=True, message_id: str = "") -> dict:
    """Postmark's Bounce webhook body (as documented), for a message we sent."""
    names = {"HardBounce": ("Hard bounce", 1), "SoftBounce": ("Soft bounce", 4096)}
    return {
        "RecordType": "Bounce", "MessageStream": "outbound", "ID": event_id, "Type": kind,
        "TypeCode": names[kind][1], "Name": names[kind][0], "Tag": "",
        "MessageID": message_id or str(uuid.uuid4()), "Metadata": message.metadata if metadata else {},
        "ServerID": 23, "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": message.to[0], "From": "hello@acme.test", "BouncedAt": "2026-11-07T12:05:54.9070259Z",
        "DumpAvailable": True, "Inactive": True, "CanActivate": True, "Subject": message.subject,
    }


def _complaint(message, *, event_id: int) -> dict:
    return {
        "RecordType": "SpamComplaint", "MessageStream": "outbound", "ID": event_id, "Type": "SpamComplaint",
        "TypeCode": 512, "Name": "Spam complaint", "Tag": "", "MessageID": str(uuid.uuid4()),
        "Metadata": message.metadata, "ServerID": 23, "Description": "", "Details": "Test spam complaint details",
        "Email": message.to[0], "From": "hello@acme.test", "BouncedAt": "2026-11-07T12:10:00.0000000Z",
        "DumpAvailable": True, "Inactive": True, "CanActivate": False, "Subject": message.subject,
    }


def _subscription_change(message, *, reason: str = "ManualSuppression") -> dict:
    return {
        "RecordType": "SubscriptionChange", "MessageID": str(uuid.uuid4()), "ServerID": 23,
        "MessageStream": "outbound", "ChangedAt": "2026-11-07T12:20:00.000000Z", "Recipient": message.to[0],
        "Origin": "Recipient", "SuppressSending": True, "SuppressionReason": reason, "Tag": "",
        "Metadata": message.metadata,
    }


def _campaign(company, *, utm: str = "spring") -> Campaign:
    campaign = Campaign.objects.create(company=company, name=f"Spring {utm}", brief="Spring offer",
                                       audience="warm_leads", channels=["email"], utm_campaign=utm,
                                       stage=Campaign.Stage.APPROVED)
    for variant in ("a", "b"):
        CampaignContent.objects.create(company=company, campaign=campaign, channel="email", variant=variant,
                                       title=f"Spring offer {variant}", body="Hi there, our spring offer.")
    return campaign


def _warm(company, count: int, prefix: str = "w", domain: str = "example.com"):
    return [LeadFactory(company=company, email=f"{prefix}{i}@{domain}", score=70, consent=True)
            for i in range(count)]


def _sent_to(email: str):
    return [m for m in mail.outbox if m.to == [email]]


def test_a_hard_bounce_suppresses_the_address_for_every_marketing_path_but_not_transactional(
        client, company, other_company):
    # given: a campaign sent to two warm leads; the other company has a lead with the same address
    _warm(company, 2)
    LeadFactory(company=other_company, email="w0@example.com", score=70, consent=True)
    campaign_distribute(campaign_id=_campaign(company).pk, now=NOW)
    bounced = _sent_to("w0@example.com")[0]

    # when: Postmark reports the hard bounce
    response = _post(client, _bounce(bounced, event_id=4323372036854775807))

    # then: the address is suppressed in this company only, and the delivery is marked
    assert response.status_code == 200, response.content
    assert list(Unsubscribe.objects.values_list("company__slug", "email", "reason")) == [
        ("acme", "w0@example.com", "bounced")]
    delivery = EmailDelivery.objects.get(email="w0@example.com")
    assert delivery.bounced_at == datetime(2026, 11, 7, 12, 5, 54, 907025, tzinfo=UTC)
    event = EmailEvent.objects.get()
    assert (event.company, event.type, event.esp, event.event_key, event.delivery) == (
        company, "bounced", "Postmark", "4323372036854775807", delivery)

    # then: a segment broadcast and a marketing sequence skip it; a transactional sequence still sends
    mail.outbox.clear()
    email_segment_send(company=company, segment="warm_leads", subject="News", body="Hi {name}", send_key="job:1")
    assert [m.to for m in mail.outbox] == [["w1@example.com"]]
    lead = Lead.objects.get(company=company, email="w0@example.com")
    lead.timezone = "UTC"
    lead.save(update_fields=["timezone"])
    results = {}
    for kind in (Sequence.Kind.MARKETING, Sequence.Kind.TRANSACTIONAL):
        sequence = Sequence.objects.create(company=company, name=kind, kind=kind)
        SequenceStep.objects.create(company=company, sequence=sequence, position=1, delay_hours=0,
                                    subject="Your account", body="Hello {name}")
        enrolment, _ = sequence_enrol(sequence=sequence, lead=lead, now=NOW)
        results[kind] = enrolment_send_due(enrolment_id=enrolment.pk, now=NOW)
    assert results == {"marketing": "stopped:bounced", "transactional": "sent"}
    # the other company still mails its own lead
    mail.outbox.clear()
    campaign_distribute(campaign_id=_campaign(other_company).pk, now=NOW)
    assert [m.to for m in mail.outbox] == [["w0@example.com"]]


def test_a_redelivered_event_changes_nothing(client, company):
    # given
    _warm(company, 1)
    campaign_distribute(campaign_id=_campaign(company).pk, now=NOW)
    payload = _bounce(mail.outbox[0], event_id=77)
    assert _post(client, payload).status_code == 200
    first = EmailDelivery.objects.get().bounced_at

    # when: Postmark delivers the same event again
    response = _post(client, payload)

    # then
    assert response.status_code == 200
    assert EmailEvent.objects.count() == 1 and Unsubscribe.objects.count() == 1
    assert EmailDelivery.objects.get().bounced_at == first


def test_a_campaign_pauses_mid_send_when_its_bounce_rate_passes_the_threshold_and_a_person_resumes_it(
        client, company, owner_api, settings):
    # given: threshold 20% judged from 2 sends; two of six recipients bounce, reported while the next one goes out
    settings.EMAIL_BACKEND = "tests.growth.backends.BouncingBackend"
    BouncingBackend.reports = []
    BouncingBackend.report = lambda message: _post(client, _bounce(message, event_id=len(mail.outbox)))
    GrowthSettings.objects.create(company=company, campaign_bounce_rate_max=0.2, campaign_pause_min_sent=2)
    _warm(company, 2, prefix="b", domain="bounce.example")
    _warm(company, 4)
    campaign = _campaign(company)

    # when
    counts = campaign_distribute(campaign_id=campaign.pk, now=NOW)

    # then: the second bounce (2 of 2 sent) paused it; the send stopped after the message in flight
    campaign.refresh_from_db()
    assert counts["paused"] is True and counts["sent"] == 3
    assert [m.to[0] for m in mail.outbox] == ["b0@bounce.example", "b1@bounce.example", "w0@example.com"]
    assert campaign.pause_reason == "bounce rate 100.0% (2 of 2) above 20.0%"
    assert campaign.stage == Campaign.Stage.APPROVED
    assert ConfigChange.objects.filter(company=company, object_type="growth.campaign",
                                       reason=campaign.pause_reason).exists()

    # then: nothing more goes out while paused, by the API or the schedule
    _, api = owner_api
    refused = api.post(f"/api/v1/campaigns/{campaign.pk}/distribute/")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "paused"
    Campaign.objects.filter(pk=campaign.pk).update(schedule_at=NOW)
    assert campaign.pk not in campaigns_due(now=NOW)

    # when: a person resumes it
    resumed = api.post(f"/api/v1/campaigns/{campaign.pk}/resume/")

    # then: the pause is lifted and the next distribution reaches only those not sent yet (bounced ones never)
    assert resumed.status_code == 200 and resumed.json()["paused_at"] is None
    counts = campaign_distribute(campaign_id=campaign.pk, now=NOW)
    assert counts["sent"] == 3 and counts["already_sent"] == 1
    assert sorted(m.to[0] for m in mail.outbox[3:]) == ["w1@example.com", "w2@example.com", "w3@example.com"]
    assert api.post(f"/api/v1/campaigns/{campaign.pk}/resume/").status_code == 409


def test_one_complaint_in_twenty_passes_the_default_complaint_rate(client, company, other_company):
    # given: the defaults (0.3% complaints, judged from 20 sends); the other company's campaign too
    _warm(company, 20)
    campaign = _campaign(company)
    campaign_distribute(campaign_id=campaign.pk, now=NOW)
    _warm(other_company, 20)
    theirs = _campaign(other_company)
    campaign_distribute(campaign_id=theirs.pk, now=NOW)
    message = next(m for m in mail.outbox if m.metadata["autonomax_send"] ==
                   f"delivery:{EmailDelivery.objects.get(company=company, email='w3@example.com').pk}")

    # when
    response = _post(client, _complaint(message, event_id=42))

    # then
    assert response.status_code == 200
    campaign.refresh_from_db()
    theirs.refresh_from_db()
    assert campaign.pause_reason == "complaint rate 5.0% (1 of 20) above 0.3%"
    assert theirs.paused_at is None
    assert Unsubscribe.objects.get().reason == "complained"
    assert EmailDelivery.objects.get(company=company, email="w3@example.com").complained_at is not None


def test_below_the_minimum_sent_a_bounce_suppresses_but_does_not_pause(client, company):
    _warm(company, 3)
    campaign = _campaign(company)
    campaign_distribute(campaign_id=campaign.pk, now=NOW)

    _post(client, _bounce(mail.outbox[0], event_id=9))

    campaign.refresh_from_db()
    assert campaign.paused_at is None and Unsubscribe.objects.count() == 1


def test_soft_bounces_and_engagement_events_suppress_nothing(client, company):
    # given
    _warm(company, 1)
    campaign_distribute(campaign_id=_campaign(company).pk, now=NOW)
    message = mail.outbox[0]
    delivered = {"RecordType": "Delivery", "ServerID": 23, "MessageStream": "outbound",
                 "MessageID": str(uuid.uuid4()), "Recipient": message.to[0], "Tag": "",
                 "DeliveredAt": "2026-11-07T12:01:00Z", "Details": "Test delivery webhook details",
                 "Metadata": message.metadata}

    # when
    responses = [_post(client, _bounce(message, event_id=5, kind="SoftBounce")), _post(client, delivered)]

    # then
    assert [r.status_code for r in responses] == [200, 200]
    assert not EmailEvent.objects.exists() and not Unsubscribe.objects.exists()


def test_an_unsubscribe_at_the_provider_unsubscribes_the_lead(client, company):
    # given
    _warm(company, 1)
    campaign_distribute(campaign_id=_campaign(company).pk, now=NOW)
    payload = _subscription_change(mail.outbox[0])

    # when: twice (Postmark gives these no ID: the event's own fields make the key)
    responses = [_post(client, payload), _post(client, payload)]

    # then
    assert [r.status_code for r in responses] == [200, 200]
    assert EmailEvent.objects.get().type == "unsubscribed"
    lead = Lead.objects.get()
    assert lead.status == Lead.Status.UNSUBSCRIBED and not lead.consent
    assert Unsubscribe.objects.get().reason == "unsubscribed"


def test_a_bounced_sequence_step_stops_the_enrolment(client, company):
    # given: a two-step marketing sequence; the first step bounces
    lead = LeadFactory(company=company, email="seq@example.com", consent=True, timezone="UTC")
    sequence = Sequence.objects.create(company=company, name="Welcome")
    for position in (1, 2):
        SequenceStep.objects.create(company=company, sequence=sequence, position=position, delay_hours=0,
                                    subject=f"Step {position}", body="Hello")
    enrolment, _ = sequence_enrol(sequence=sequence, lead=lead, now=NOW)
    enrolment_send_due(enrolment_id=enrolment.pk, now=NOW)
    send = StepSend.objects.get()
    assert mail.outbox[0].metadata == {"autonomax_send": f"step:{send.pk}"}

    # when
    _post(client, _bounce(mail.outbox[0], event_id=11))

    # then
    assert EmailEvent.objects.get().step_send == send
    assert enrolment_send_due(enrolment_id=enrolment.pk, now=NOW) == "stopped:bounced"
    assert Enrolment.objects.get().stop_reason == "bounced" and len(mail.outbox) == 1


def test_an_event_matching_no_email_we_sent_changes_nothing(client, company, other_company):
    # given: a message to w0; the event names no row (no metadata, an unknown message id), or another address
    _warm(company, 1)
    campaign_distribute(campaign_id=_campaign(company).pk, now=NOW)
    message = mail.outbox[0]
    unknown = _bounce(message, event_id=1, metadata=False)
    forged = {**_bounce(message, event_id=2), "Email": "someone-else@example.com"}

    # when
    responses = [_post(client, unknown), _post(client, forged)]

    # then
    assert [r.status_code for r in responses] == [200, 200]
    assert not EmailEvent.objects.exists() and not Unsubscribe.objects.exists()


@pytest.mark.parametrize("case", ["wrong_auth", "no_auth", "not_json", "a_list", "inbound_payload"])
def test_bad_requests_are_4xx_and_nothing_is_stored(client, company, case):
    # given
    _warm(company, 1)
    campaign_distribute(campaign_id=_campaign(company).pk, now=NOW)
    good = json.dumps(_bounce(mail.outbox[0], event_id=3))
    body, auth = {
        "wrong_auth": (good, _auth("postmark:wrong")),
        "no_auth": (good, {}),
        "not_json": ("{not json", _auth()),
        "a_list": ("[1, 2]", _auth()),
        "inbound_payload": (json.dumps({"FromFull": {"Email": "a@b.test"}, "Subject": "hi"}), _auth()),
    }[case]

    # when
    response = client.post(URL, body, content_type="application/json", **auth)

    # then
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in {"bad_signature", "invalid"}
    assert not EmailEvent.objects.exists() and not Unsubscribe.objects.exists()


def test_the_webhook_is_closed_until_a_secret_is_set(client, company, settings):
    settings.ANYMAIL = {}

    response = client.post(URL, "{}", content_type="application/json")

    assert response.status_code == 503 and response.json()["error"]["code"] == "not_configured"


# --- Sending through Postmark's API (the real anymail backend against a local server) ---------------


class FakePostmark(_Server):
    """Postmark's POST /email: answers with a MessageID, as the real API does."""

    def route(self, method, path, headers, body):
        sent = json.loads(body)
        return 200, {"To": sent["To"], "SubmittedAt": "2026-11-07T12:00:01Z", "MessageID": str(uuid.uuid4()),
                     "ErrorCode": 0, "Message": "OK"}


@pytest.fixture
def postmark(settings):
    server = FakePostmark()
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {"WEBHOOK_SECRET": "postmark:s3cret", "POSTMARK_SERVER_TOKEN": "server-token",
                        "POSTMARK_API_URL": server.url + "/"}
    yield server
    server.close()


def test_through_postmarks_api_the_message_id_alone_finds_the_campaign(client, company, postmark):
    # given: the campaign sent through Postmark's API by anymail (metadata travels with it)
    _warm(company, 1)
    campaign_distribute(campaign_id=_campaign(company).pk, now=NOW)
    sent = json.loads(postmark.requests[0]["body"])
    delivery = EmailDelivery.objects.get()
    assert sent["Metadata"] == {"autonomax_send": f"delivery:{delivery.pk}"}
    assert delivery.provider_message_id

    # when: the bounce names the message only by Postmark's MessageID
    as_sent = SimpleNamespace(to=[sent["To"]], subject=sent["Subject"], metadata={})
    bounce = _bounce(as_sent, event_id=12, message_id=delivery.provider_message_id)
    response = _post(client, bounce)

    # then
    assert response.status_code == 200
    assert EmailEvent.objects.get().delivery == delivery
    assert Unsubscribe.objects.get().email == "w0@example.com"


def test_two_companies_may_use_the_same_send_key_for_the_same_address(company, other_company):
    # given: the same person is a warm lead of both companies
    for owner in (company, other_company):
        LeadFactory(company=owner, email="both@example.com", score=70, consent=True)

    # when: each company sends with the same key (e.g. a job key), twice
    for _ in range(2):
        for owner in (company, other_company):
            email_segment_send(company=owner, segment="warm_leads", subject="News", body="Hi", send_key="job:7")

    # then: one email per company, each recorded in its own company
    assert len(mail.outbox) == 2
    assert sorted(EmailDelivery.objects.values_list("company__slug", flat=True)) == ["acme", "globex"]
