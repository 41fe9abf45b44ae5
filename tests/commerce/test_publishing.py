"""Publishing to Shopify through the ShopifyAPI package against a local Admin GraphQL server."""

from decimal import Decimal

import pytest

from autonomax.models import Event
from commerce.channels.base import ChannelNotConnected
from commerce.models import Listing, Product, ProductDraft
from commerce.services.publishing import product_sync_to_channel
from tests.factories import ProductFactory

from .conftest import SHOPIFY_TOKEN
from .factories import ChannelConnectionFactory, ProductDraftFactory, digital_product

pytestmark = pytest.mark.django_db


def test_publish_draft_creates_verified_listing(owner_api, company, shopify_server):
    # given
    _, api = owner_api
    ChannelConnectionFactory(company=company, shop_domain="acme.myshopify.com")
    draft = ProductDraftFactory(company=company)
    # when
    response = api.post("/api/v1/products/publish", {"channel": "shopify", "draft_id": draft.pk,
                                                      "pricing": {"price": "17.00"}}, format="json")
    # then
    assert response.status_code == 201, response.content
    listing = Listing.objects.get()
    remote = shopify_server.products[listing.external_id]
    assert remote["title"] == draft.title and remote["variants"]["nodes"][0]["price"] == "17.00"
    assert listing.url == f"https://acme.myshopify.com/products/{remote['handle']}"
    assert listing.status == "active" and listing.published_at is not None
    assert listing.product.price == Decimal("17.00") and listing.product.status == Product.Status.ACTIVE
    draft.refresh_from_db()
    assert draft.status == ProductDraft.Status.PROMOTED
    sent = shopify_server.requests[0]
    assert sent["path"] == "/admin/api/2025-07/graphql.json"
    assert sent["headers"]["X-Shopify-Access-Token"] == SHOPIFY_TOKEN
    assert Event.objects.filter(name="listing.published", company=company).count() == 1


def test_publishing_twice_updates_never_duplicates(company, shopify_server):
    # given
    ChannelConnectionFactory(company=company)
    product = ProductFactory(company=company, name="Budget Planner")
    first = product_sync_to_channel(product=product)
    # when
    product.name = "Budget Planner Pro"
    product.save()
    second = product_sync_to_channel(product=product)
    # then
    assert first.pk == second.pk and first.external_id == second.external_id
    assert len(shopify_server.products) == 1
    assert shopify_server.products[second.external_id]["title"] == "Budget Planner Pro"


def test_retry_after_lost_listing_finds_product_by_handle(company, shopify_server):
    # given: published, then our listing row is lost (e.g. crash before commit)
    ChannelConnectionFactory(company=company)
    product = ProductFactory(company=company)
    product_sync_to_channel(product=product)
    Listing.objects.all().delete()
    # when
    product_sync_to_channel(product=product)
    # then
    assert len(shopify_server.products) == 1
    assert Listing.objects.count() == 1


def test_not_connected_is_a_clear_409(owner_api, company, shopify_server):
    # given
    _, api = owner_api
    product = ProductFactory(company=company)
    # when
    response = api.post("/api/v1/products/publish", {"channel": "shopify", "product_id": product.pk}, format="json")
    # then
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "channel_not_connected"
    assert shopify_server.requests == [] and not Listing.objects.exists()
    with pytest.raises(ChannelNotConnected):
        product_sync_to_channel(product=product)


def test_etsy_is_not_supported_422(owner_api, company):
    # given
    _, api = owner_api
    draft = ProductDraftFactory(company=company)
    # when
    response = api.post("/api/v1/products/publish", {"channel": "etsy", "draft_id": draft.pk}, format="json")
    # then
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "channel_not_supported"
    draft.refresh_from_db()
    assert draft.status == ProductDraft.Status.DRAFT


def test_draft_below_gate_cannot_publish_until_overridden(owner_api, company, shopify_server):
    # given
    _, api = owner_api
    ChannelConnectionFactory(company=company)
    draft = ProductDraftFactory(company=company, rubric={"readability": 3, "intent_match": 3, "uniqueness": 4,
                                                         "seo": 3, "brand_fit": 4})
    # when
    refused = api.post("/api/v1/products/publish", {"channel": "shopify", "draft_id": draft.pk}, format="json")
    override = api.post(f"/api/v1/product-drafts/{draft.pk}/override-gate/")
    accepted = api.post("/api/v1/products/publish", {"channel": "shopify", "draft_id": draft.pk}, format="json")
    # then
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "below_quality_gate"
    assert override.status_code == 200
    assert accepted.status_code == 201


def test_shopify_api_error_leaves_no_listing_and_is_safe_to_retry(company, shopify_server):
    # given
    ChannelConnectionFactory(company=company)
    product = ProductFactory(company=company)
    shopify_server.fail_next = [(503, {"errors": "Service unavailable"})]
    # when
    with pytest.raises(Exception) as failure:
        product_sync_to_channel(product=product)
    # then
    assert getattr(failure.value, "status", None) == 502
    assert not Listing.objects.exists()
    # and a retry succeeds
    assert product_sync_to_channel(product=product).external_id


def test_missing_token_env_is_not_connected(company, shopify_server, monkeypatch):
    # given
    monkeypatch.delenv("TEST_SHOPIFY_TOKEN")
    ChannelConnectionFactory(company=company)
    # when / then
    with pytest.raises(ChannelNotConnected, match="TEST_SHOPIFY_TOKEN"):
        product_sync_to_channel(product=ProductFactory(company=company))


def test_publish_bad_input_is_400(owner_api, company):
    # given
    _, api = owner_api
    # when
    response = api.post("/api/v1/products/publish", {"channel": "ebay"}, format="json")
    # then
    assert response.status_code == 400
    assert "error" in response.json()


def test_failed_publish_keeps_the_old_price(owner_api, company, shopify_server):
    # given
    _, api = owner_api
    ChannelConnectionFactory(company=company)
    product = digital_product(company=company, price=Decimal("19.00"))
    shopify_server.fail_next = [(500, {"errors": "Internal error"})]
    # when
    response = api.post("/api/v1/products/publish", {"channel": "shopify", "product_id": product.pk,
                                                      "pricing": {"price": "29.00"}}, format="json")
    # then
    assert response.status_code == 502
    product.refresh_from_db()
    assert product.price == Decimal("19.00") and not Listing.objects.exists()
