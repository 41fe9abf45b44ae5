"""Campaigns: ideation → creation → optimisation → review → distribution → measurement."""

import pytest
from django.core import mail

from growth.campaigns import campaign_distribute, readability, seo_check
from growth.models import Campaign, CampaignContent, EmailDelivery, Unsubscribe
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/campaigns/"
BODY = {"name": "Winter planner launch", "brief": "Launch the winter planner to warm leads.",
        "keywords": ["planner", "winter"], "audience": "warm_leads", "channels": ["email", "x"],
        "landing_url": "https://acme.example/p/planner/"}


def _through_review(api):
    campaign = api.post(URL, BODY, format="json").json()
    api.post(f"{URL}{campaign['id']}/ideate/", {"trends": ["new year goals"]}, format="json")
    return api.post(f"{URL}{campaign['id']}/create-content/", format="json").json()


def test_pipeline_creates_ab_content_with_seo_checks_and_waits_for_review(owner_api, company):
    # given
    _, api = owner_api

    # when
    campaign = _through_review(api)

    # then
    assert campaign["stage"] == "review"
    assert sorted((c["channel"], c["variant"]) for c in campaign["contents"]) == [
        ("email", "a"), ("email", "b"), ("x", "a"), ("x", "b")]
    x_post = next(c for c in campaign["contents"] if c["channel"] == "x")
    assert len(x_post["body"]) <= 280 and "utm_campaign=winter-planner-launch" in x_post["body"]
    assert {c["check"] for c in x_post["seo"]["checks"]} >= {"body length", "keyword in title", "readability"}
    # nothing goes out before approval
    assert api.post(f"{URL}{campaign['id']}/distribute/", format="json").status_code == 409


def test_preview_and_test_email_then_distribution_once_per_recipient(owner_api, company,
                                                                     django_capture_on_commit_callbacks):
    # given: three warm consenting leads (one unsubscribed), one cold, another company's warm lead
    membership, api = owner_api
    for i in range(3):
        LeadFactory(company=company, email=f"w{i}@example.com", score=60, consent=True, name=f"W{i}")
    Unsubscribe.objects.create(company=company, email="w2@example.com")
    LeadFactory(company=company, email="cold@example.com", score=10, consent=True)
    LeadFactory(company=CompanyFactory(), email="theirs@example.com", score=90, consent=True)
    campaign = _through_review(api)

    # when: preview and a test email
    preview = api.get(f"{URL}{campaign['id']}/preview/").json()
    test = api.post(f"{URL}{campaign['id']}/test-email/", {"email": "me@acme.example"}, format="json")

    # then
    assert preview["audience_count"] == 2 and set(preview["email"]) == {"a", "b"}
    assert test.json() == {"sent": 2} and all(m.subject.startswith("[TEST") for m in mail.outbox)
    assert not EmailDelivery.objects.exists()

    # when: approved and distributed, twice
    mail.outbox.clear()
    assert api.post(f"{URL}{campaign['id']}/approve/", format="json").json()["approved_by"] == membership.user.pk
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"{URL}{campaign['id']}/distribute/", format="json").status_code == 202
    again = campaign_distribute(campaign_id=campaign["id"])

    # then: each recipient once, with one-click unsubscribe and tracked links; social only recorded
    assert sorted(m.to[0] for m in mail.outbox) == ["w0@example.com", "w1@example.com"]
    assert again["sent"] == 0 and again["already_sent"] == 2
    message = mail.outbox[0]
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/t/c/" in message.body
    social = CampaignContent.objects.filter(campaign_id=campaign["id"], channel="x")
    assert set(social.values_list("status", flat=True)) == {"ready"}
    results = api.get(f"{URL}{campaign['id']}/results/").json()
    assert results["sent"] == 2 and results["experiment_id"] is not None
    assert all("no social API" in s["note"] for s in results["social"])
    assert Campaign.objects.get(pk=campaign["id"]).stage == "distributed"


def test_auto_campaign_skips_review(owner_api):
    _, api = owner_api
    campaign = api.post(URL, {**BODY, "auto_approve": True, "utm_campaign": "auto"}, format="json").json()
    api.post(f"{URL}{campaign['id']}/ideate/", format="json")
    assert api.post(f"{URL}{campaign['id']}/create-content/", format="json").json()["stage"] == "approved"


@pytest.mark.parametrize(("body", "field"), [
    ({**BODY, "channels": ["tiktok"]}, "channels"),
    ({**BODY, "audience": "everyone"}, "audience"),
    ({**BODY, "brief": " "}, "brief"),
])
def test_bad_campaigns_are_400(owner_api, body, field):
    _, api = owner_api
    response = api.post(URL, body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["details"]
    assert not Campaign.objects.exists()


def test_seo_checks_explain_themselves():
    result = seo_check(channel="email", title="Your winter planner is here", keyword="planner",
                       body="The planner helps you plan the week. It is simple to use.")
    assert result["score"] == 1.0
    bad = seo_check(channel="x", title="Hello", keyword="planner", body="x" * 300)
    failed = {c["check"] for c in bad["checks"] if not c["ok"]}
    assert {"body length", "keyword in title", "keyword early in the text"} <= failed
    assert readability("The cat sat on the mat.") > readability(
        "Comprehensive organisational restructuring necessitates considerable deliberation.")


def test_campaign_and_experiment_pages_show_preview_and_readout(owner_api, company):
    from django.test import Client

    from growth.experiments import experiment_create

    membership, api = owner_api
    LeadFactory(company=company, score=60, consent=True)
    _through_review(api)
    experiment_create(company=company, key="e1", name="Subject test",
                      variants=[{"key": "a", "is_control": True}, {"key": "b"}])
    client = Client()
    client.force_login(membership.user)
    campaigns = client.get("/leads/campaigns/").content.decode()
    assert "Winter planner launch" in campaigns and "<strong data-audience>1</strong>" in campaigns
    experiments = client.get("/leads/experiments/").content.decode()
    assert "Subject test" in experiments and "data-verdict>insufficient_data" in experiments
