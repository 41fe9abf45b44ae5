"""The embeddable form /f/<slug>/lead/, the double opt-in link, the pixel and tracked links."""

import re

import pytest
from django.core import mail
from django.test import Client

from growth.events import open_pixel_url, page_pixel_url, tracked_link
from growth.models import GrowthSettings, Lead, LeadEvent, LeadTouch
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db

FORM = "/f/acme/lead/"


def _form_post(client, data, **extra):
    page = client.get(FORM + "?utm_source=ads&utm_campaign=winter&page=https://acme.example/pricing")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    fields = {"csrfmiddlewaretoken": token, "utm_source": "ads", "utm_campaign": "winter",
              "page_url": "https://acme.example/pricing", **data}
    return client.post(FORM, fields, **extra)


def test_form_page_carries_utm_consent_wording_and_is_embeddable(company):
    response = Client().get(FORM + "?utm_source=ads&utm_medium=cpc")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="utm_source" value="ads"' in html and 'name="utm_medium" value="cpc"' in html
    assert GrowthSettings().consent_wording in html
    assert 'name="website"' in html  # the honeypot
    assert "X-Frame-Options" not in response.headers


def test_a_sign_up_stores_utm_and_the_wording_and_the_emailed_link_confirms(company,
                                                                            django_capture_on_commit_callbacks):
    # given
    client = Client(enforce_csrf_checks=True)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = _form_post(client, {"email": "Ada@Example.com", "name": "Ada", "consent": "yes"})

    # then: stored with the UTM of the page and the exact wording, consent pending
    assert response.status_code == 200 and "confirm" in response.content.decode()
    lead = Lead.objects.get(company=company)
    assert (lead.email, lead.utm_source, lead.utm_campaign, lead.source) == ("ada@example.com", "ads", "winter",
                                                                            "form")
    touch = LeadTouch.objects.get(lead=lead)
    assert touch.consent_text == GrowthSettings().consent_wording and touch.page_url.endswith("/pricing")
    assert not lead.consent
    link = re.search(r"http://\S+/f/acme/confirm/\S+/", mail.outbox[0].body).group(0)
    path = link.split("127.0.0.1:8000", 1)[1]

    # when: the link is opened (a scanner) and then the button pressed
    assert client.get(path).status_code == 200
    lead.refresh_from_db()
    assert not lead.consent
    confirm_page = client.get(path).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', confirm_page).group(1)
    assert client.post(path, {"csrfmiddlewaretoken": token}).status_code == 200

    # then
    lead.refresh_from_db()
    assert lead.consent and lead.confirmed_at is not None


def test_a_post_without_the_csrf_token_is_refused(company):
    response = Client(enforce_csrf_checks=True).post(FORM, {"email": "x@example.com"})
    assert response.status_code == 403 and not Lead.objects.exists()


def test_the_honeypot_stores_nothing_and_looks_like_success(company):
    response = _form_post(Client(), {"email": "bot@example.com", "website": "http://spam.example"})
    assert response.status_code == 200 and "Thank you" in response.content.decode()
    assert not Lead.objects.exists()


def test_posts_are_rate_limited_per_ip(company):
    # given: 2 posts per IP per hour
    GrowthSettings.objects.create(company=company, form_rate_limit=2)
    client = Client()

    # when
    codes = [_form_post(client, {"email": f"p{i}@example.com"}, REMOTE_ADDR="10.0.0.1").status_code
             for i in range(3)]
    other_ip = _form_post(client, {"email": "q@example.com"}, REMOTE_ADDR="10.0.0.2").status_code

    # then
    assert codes == [200, 200, 429] and other_ip == 200
    assert Lead.objects.count() == 3


def test_invalid_input_rerenders_the_form_with_the_field_named(company):
    response = _form_post(Client(), {"email": "ada@mailinator.com"})
    assert response.status_code == 400 and "email" in response.content.decode()
    assert not Lead.objects.exists()


def test_unknown_company_is_404(db):
    assert Client().get("/f/nobody/lead/").status_code == 404


def test_pixel_and_tracked_link_record_events_once(company):
    # given
    lead = LeadFactory(company=company, score=0)
    client = Client()

    # when: the page pixel fires twice within a minute, the email is opened twice, a link clicked twice
    page = page_pixel_url(lead=lead).split("8000", 1)[1]
    for _ in range(2):
        assert client.get(page, {"path": "/pricing"})["Content-Type"] == "image/gif"
        client.get(open_pixel_url(lead=lead, message="seq1:step1").split("8000", 1)[1])
        response = client.get(tracked_link(lead=lead, message="seq1:step1",
                                           url="https://acme.example/offer").split("8000", 1)[1])

    # then
    assert response.status_code == 302 and response["Location"] == "https://acme.example/offer"
    assert sorted(LeadEvent.objects.filter(lead=lead).values_list("type", flat=True)) == [
        "email_click", "email_open", "page_view"]
    lead.refresh_from_db()
    assert lead.score == 25 + 3 + 8


def test_a_forged_tracking_token_records_nothing(company):
    LeadFactory(company=company)
    client = Client()
    assert client.get("/t/p/forged.gif").status_code == 200  # the pixel always answers
    assert client.get("/t/c/forged/").status_code == 404
    assert not LeadEvent.objects.exists()


def test_leads_page_shows_the_funnel_handoffs_and_the_snippet(owner_api, company):
    membership, _ = owner_api
    LeadFactory(company=company, status=Lead.Status.CONVERTED)
    LeadFactory(company=company, status=Lead.Status.NEW)
    LeadFactory(company=CompanyFactory(), email="secret@example.com")
    client = Client()
    client.force_login(membership.user)
    html = client.get("/leads/").content.decode()
    assert 'data-stage="customer"' in html and "/f/acme/lead/" in html and "secret@example.com" not in html
