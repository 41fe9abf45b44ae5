"""POST /api/v1/leads/: the contract, the same email twice, bad input named and nothing stored."""

import pytest
from django.core import mail

from growth.models import GrowthSettings, Lead, LeadEvent, LeadTouch
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"
CONSENT = {"marketing": True, "text": "Yes, email me about new products."}


def test_capture_creates_the_lead_with_score_and_breakdown(owner_api, company, django_capture_on_commit_callbacks):
    # given: another company already has this address
    _, api = owner_api
    LeadFactory(company=CompanyFactory(), email="ada@example.com")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(URL, {
            "email": "  Ada@Example.COM ", "name": "Ada", "source": "landing",
            "utm": {"source": "newsletter", "medium": "email", "campaign": "launch", "term": "ai", "content": "a"},
            "consent": CONSENT, "fields": {"company_size": "50+"}}, format="json")

    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= {"id", "score", "score_breakdown"}
    lead = Lead.objects.get(pk=body["id"])
    assert lead.company == company and lead.email == "ada@example.com"
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign, lead.utm_term, lead.utm_content) == (
        "newsletter", "email", "launch", "ai", "a")
    assert body["score"] == lead.score == 25  # form submit 15 + company size 10
    assert [b["text"] for b in body["score_breakdown"]] == ["+15 form submit just now",
                                                            "+10 company size 50+ (company_size: 50+)"]
    # double opt-in (the default): consent waits for the emailed link
    assert body["consent_status"] == "pending_confirmation" and lead.consent is False
    assert lead.consent_text == CONSENT["text"]
    assert len(mail.outbox) == 1 and "/f/acme/confirm/" in mail.outbox[0].body


def test_same_email_again_is_200_same_lead_and_a_touch(owner_api, company):
    # given
    _, api = owner_api
    first = api.post(URL, {"email": "bob@example.com", "source": "landing"}, format="json").json()

    # when
    response = api.post(URL, {"email": "BOB@example.com", "name": "Bob", "source": "fiverr",
                              "utm": {"campaign": "x"}}, format="json")

    # then
    assert response.status_code == 200
    assert response.json()["id"] == first["id"]
    lead = Lead.objects.get(pk=first["id"])
    assert lead.touches == 2 and lead.name == "Bob"
    assert lead.source == "landing"  # the first touch's source is kept
    assert LeadTouch.objects.filter(lead=lead).count() == 2
    assert LeadEvent.objects.filter(lead=lead, type="form_submit").count() == 2


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "not-an-email"}, "email"),
    ({}, "email"),
    ({"email": "x@mailinator.com"}, "email"),
    ({"email": "a@example.com", "name": "n" * 201}, "name"),
    ({"email": "a@example.com", "utm": {"source": "s" * 101}}, "utm.source"),
    ({"email": "a@example.com", "utm": {"color": "red"}}, "utm"),
    ({"email": "a@example.com", "fields": {"note": "x" * 501}}, "fields.note"),
    ({"email": "a@example.com", "fields": {f"f{i}": 1 for i in range(21)}}, "fields"),
    ({"email": "a@example.com", "fields": {"nested": {"a": 1}}}, "fields.nested"),
    ({"email": "a@example.com", "consent": {"marketing": True}}, "consent.text"),
    ({"email": "a@example.com", "consent": {"marketing": "yes", "text": "t"}}, "consent.marketing"),
    ({"email": "a@example.com", "consent": "yes"}, "consent"),
])
def test_bad_input_is_400_with_the_field_named_and_nothing_stored(owner_api, body, field):
    _, api = owner_api
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["details"], error
    assert Lead.objects.count() == 0 and LeadTouch.objects.count() == 0


def test_company_that_requires_consent_refuses_a_lead_without_it(owner_api, company):
    # given
    _, api = owner_api
    GrowthSettings.objects.create(company=company, require_consent=True)

    # when
    refused = api.post(URL, {"email": "c@example.com"}, format="json")
    accepted = api.post(URL, {"email": "c@example.com", "consent": CONSENT}, format="json")

    # then
    assert refused.status_code == 400 and "consent" in refused.json()["error"]["details"]
    assert accepted.status_code == 201


def test_blocked_domain_of_the_company_is_refused(owner_api, company):
    _, api = owner_api
    GrowthSettings.objects.create(company=company, blocked_domains="competitor.example\n")
    response = api.post(URL, {"email": "spy@Competitor.example"}, format="json")
    assert response.status_code == 400 and not Lead.objects.exists()


def test_without_double_opt_in_consent_counts_at_once(owner_api, company):
    _, api = owner_api
    GrowthSettings.objects.create(company=company, double_opt_in=False)
    body = api.post(URL, {"email": "d@example.com", "consent": CONSENT}, format="json").json()
    lead = Lead.objects.get(pk=body["id"])
    assert body["consent_status"] == "confirmed" and lead.consent and lead.consent_at is not None


def test_viewer_cannot_capture(viewer_api):
    _, api = viewer_api
    assert api.post(URL, {"email": "e@example.com"}, format="json").status_code == 403
    assert not Lead.objects.exists()


def test_lead_detail_shows_the_breakdown_and_other_companies_are_not_found(owner_api):
    _, api = owner_api
    other = LeadFactory(company=CompanyFactory())
    mine = api.post(URL, {"email": "f@example.com"}, format="json").json()
    assert api.get(f"{URL}{mine['id']}/").json()["score_breakdown"][0]["text"] == "+15 form submit just now"
    assert api.get(f"{URL}{other.pk}/").status_code == 404
