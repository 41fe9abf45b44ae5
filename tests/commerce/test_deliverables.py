"""Deliverables: the catalog brain renders the file of a digital product itself; without it, no sale."""

from decimal import Decimal

import pytest

from autonomax.models import Event
from commerce.admin import ProductAdminForm
from commerce.models import Listing, Order, Product
from commerce.services.drafts import draft_promote
from tests.factories import ProductFactory

from .factories import ChannelConnectionFactory, ProductDraftFactory

pytestmark = pytest.mark.django_db


def test_promoting_a_draft_renders_its_pdf_into_media_storage_and_records_asset_created(company):
    # given a draft whose assets are labels
    draft = ProductDraftFactory(company=company, title="Notion study planner for students",
                                assets=[{"label": "Weekly planner page"}, "Exam countdown"],
                                correlation_id="corr-pdf")

    # when
    product = draft_promote(draft=draft)

    # then the product has a real PDF file
    product.refresh_from_db()
    assert product.asset.name.startswith("products/") and product.asset.name.endswith(".pdf")
    data = product.asset.open("rb").read()
    assert data.startswith(b"%PDF-") and b"Notion study planner for students" in data  # the title metadata
    event = Event.objects.get(company=company, name="asset.created")
    assert event.payload["product_id"] == product.pk and event.payload["size"] == len(data)
    assert event.payload["content_type"] == "application/pdf" and event.correlation_id == "corr-pdf"


def test_a_digital_product_without_its_file_cannot_be_published(owner_api, company, shopify_server):
    # given
    _, api = owner_api
    ChannelConnectionFactory(company=company)
    product = ProductFactory(company=company, kind=Product.Kind.DIGITAL)

    # when
    response = api.post("/api/v1/products/publish", {"channel": "shopify", "product_id": product.pk},
                        format="json")

    # then
    assert response.status_code == 422 and response.json()["error"]["code"] == "deliverable_missing"
    assert not Listing.objects.exists() and shopify_server.products == {}


def test_a_digital_product_without_its_file_cannot_be_sold(client, company, stripe_server):
    product = ProductFactory(company=company, kind=Product.Kind.DIGITAL)
    response = client.post(f"/p/{product.slug}/buy/", {"email": "ana@example.com"})
    assert response.status_code == 422 and "no deliverable" in response.content.decode()
    assert not Order.objects.exists() and stripe_server.sessions == {}


def test_a_service_needs_no_file_to_be_sold(client, company, stripe_server):
    product = ProductFactory(company=company, kind=Product.Kind.SERVICE, price=Decimal("90.00"))
    assert client.post(f"/p/{product.slug}/buy/", {"email": "ana@example.com"}).status_code == 302


def test_the_admin_refuses_to_make_a_digital_product_active_without_its_file(company):
    form = ProductAdminForm(data={"company": company.pk, "sku": "X-1", "slug": "x-1", "name": "X",
                                  "kind": "digital", "price": "5.00", "currency": "USD", "status": "active"})
    assert not form.is_valid() and "deliverable" in str(form.errors)
