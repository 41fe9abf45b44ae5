"""`/commerce/drafts/<id>/`: a draft's content, rubric and deliverable; edit, override the gate with a reason,
promote and publish through the commerce services; only the company's own drafts, viewers change nothing."""

from decimal import Decimal

import pytest
from django.test import Client

from autonomax.models import Role
from commerce.models import Listing, ProductDraft
from tests.factories import MembershipFactory

from .factories import ChannelConnectionFactory, ProductDraftFactory

pytestmark = pytest.mark.django_db

BELOW_GATE = {"readability": 3.0, "intent_match": 3.5, "uniqueness": 2.5, "seo": 3.0, "brand_fit": 3.0}


def _client(company, role=Role.OPERATOR) -> Client:
    client = Client()
    client.force_login(MembershipFactory(company=company, role=role).user)
    return client


def test_detail_shows_the_generated_content_and_rubric(company):
    # given
    draft = ProductDraftFactory(company=company, description="Track habits in Notion.\nWeekly review included.",
                                assets=["Habit dashboard", "Weekly review page"])
    # when
    page = _client(company).get(f"/commerce/drafts/{draft.pk}/")
    # then
    html = page.content.decode()
    assert page.status_code == 200
    assert draft.title in html and "Weekly review included." in html and "Habit dashboard" in html
    assert "Intent match" in html and "4.3" in html and "passes" in html


def test_another_companys_draft_is_404(company, other_company):
    draft = ProductDraftFactory(company=other_company)
    assert _client(company).get(f"/commerce/drafts/{draft.pk}/").status_code == 404
    assert _client(company).post(f"/commerce/drafts/{draft.pk}/", {"action": "reject"}).status_code == 404
    assert ProductDraft.objects.get(pk=draft.pk).status == ProductDraft.Status.DRAFT


def test_edit_saves_the_content_and_who_edited(company):
    # given
    draft = ProductDraftFactory(company=company)
    client = _client(company)
    # when
    response = client.post(f"/commerce/drafts/{draft.pk}/", {
        "action": "edit", "title": "Notion habit tracker  for nurses", "description": "New text.",
        "price": "19.5", "tags": "notion, nurses, ,habits"})
    # then
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.title, draft.description, draft.price, draft.tags) == (
        "Notion habit tracker for nurses", "New text.", Decimal("19.50"), ["notion", "nurses", "habits"])
    assert draft.edited_by is not None and draft.edited_at is not None


@pytest.mark.parametrize("field, value", [("title", ""), ("title", "x" * 71), ("price", "-1"), ("price", "abc"),
                                          ("price", "NaN")])
def test_bad_edits_are_refused_and_change_nothing(company, field, value):
    draft = ProductDraftFactory(company=company)
    data = {"action": "edit", "title": "A title", "description": "d", "price": "10", "tags": "", field: value}
    response = _client(company).post(f"/commerce/drafts/{draft.pk}/", data)
    assert response.status_code == 400
    assert ProductDraft.objects.get(pk=draft.pk).title == draft.title


def test_below_the_gate_an_override_needs_a_reason_then_promote_renders_the_file(company, settings, tmp_path):
    # given a draft below the quality gate
    draft = ProductDraftFactory(company=company, rubric=BELOW_GATE)
    client = _client(company)
    # when promoted at once, or overridden without a reason
    refused = client.post(f"/commerce/drafts/{draft.pk}/", {"action": "promote"})
    no_reason = client.post(f"/commerce/drafts/{draft.pk}/", {"action": "override", "reason": "  "})
    # then both are refused
    assert refused.status_code == 422 and "below the quality gate" in refused.content.decode()
    assert no_reason.status_code == 400
    # when overridden with a reason and promoted
    client.post(f"/commerce/drafts/{draft.pk}/", {"action": "override", "reason": "Checked by hand"})
    response = client.post(f"/commerce/drafts/{draft.pk}/", {"action": "promote"})
    # then the product exists with its file, and the page says who overrode and why
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == ProductDraft.Status.PROMOTED and draft.product.asset
    assert draft.gate_override_reason == "Checked by hand"
    html = client.get(f"/commerce/drafts/{draft.pk}/").content.decode()
    assert "Checked by hand" in html and "Download the file" in html


def test_publish_on_shopify_from_the_page(company, shopify_server):
    # given a connected shop and a draft that passes the gate
    ChannelConnectionFactory(company=company)
    draft = ProductDraftFactory(company=company)
    # when
    response = _client(company).post(f"/commerce/drafts/{draft.pk}/", {"action": "publish", "price": "21.00"})
    # then the product was promoted and published, verified by reading it back
    assert response.status_code == 302
    listing = Listing.objects.get(company=company)
    assert listing.channel == "shopify" and listing.product.price == Decimal("21.00")


def test_publish_without_a_connected_shop_says_so(company):
    draft = ProductDraftFactory(company=company)
    response = _client(company).post(f"/commerce/drafts/{draft.pk}/", {"action": "publish"})
    assert response.status_code == 409 and "/settings/connections/" in response.content.decode()
    assert not Listing.objects.exists()


def test_viewers_change_nothing(company):
    draft = ProductDraftFactory(company=company)
    client = _client(company, Role.VIEWER)
    assert "Save changes" not in client.get(f"/commerce/drafts/{draft.pk}/").content.decode()
    response = client.post(f"/commerce/drafts/{draft.pk}/", {"action": "reject"})
    assert response.status_code == 403
    assert ProductDraft.objects.get(pk=draft.pk).status == ProductDraft.Status.DRAFT


def test_the_buyers_order_page_offers_the_download_only_while_it_works(client):
    from datetime import timedelta

    from django.utils import timezone

    from .test_funnel import _grant

    # given a fulfilled digital order with its download grant
    grant = _grant()
    page = client.get(f"/o/{grant.order.access_token}/").content.decode()
    assert "/d/" in page and f"Download {grant.product.name}" in page
    # when the link is used up, then when it expired
    grant.download_count = grant.max_downloads
    grant.save(update_fields=["download_count"])
    used_up = client.get(f"/o/{grant.order.access_token}/").content.decode()
    grant.download_count, grant.expires_at = 0, timezone.now() - timedelta(minutes=1)
    grant.save(update_fields=["download_count", "expires_at"])
    expired = client.get(f"/o/{grant.order.access_token}/").content.decode()
    # then the page says so instead of a button that would fail
    assert "has been used 5 times" in used_up and "/d/" not in used_up
    assert "has expired" in expired and "/d/" not in expired
