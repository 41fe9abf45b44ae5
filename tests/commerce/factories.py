"""Commerce test factories and event builders over the shared fixtures."""

import base64
import copy
import hashlib
import hmac
import json
import time
from pathlib import Path

import factory
import stripe
from django.core.files.base import ContentFile

from commerce.models import ChannelConnection, ProductDraft
from tests.factories import CompanyFactory, ProductFactory

FIXTURES = Path(__file__).resolve().parent / "fixtures"
STRIPE_SECRET = "whsec_test_secret"
SHOPIFY_SECRET = "shpss_test_secret"


class ChannelConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelConnection

    company = factory.SubFactory(CompanyFactory)
    channel = "shopify"
    shop_domain = factory.Sequence(lambda n: f"shop-{n}.myshopify.com")
    access_token_env = "TEST_SHOPIFY_TOKEN"


class ProductDraftFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductDraft

    company = factory.SubFactory(CompanyFactory)
    title = factory.Sequence(lambda n: f"Notion habit tracker {n} for busy students")
    description = "Track habits in Notion."
    tags = ["notion", "habits"]
    price = "14.00"
    rubric = {"readability": 4.5, "intent_match": 4.5, "uniqueness": 4.0, "seo": 4.0, "brand_fit": 4.5}


def digital_product(**kwargs):
    product = ProductFactory(**kwargs)
    product.asset.save(f"{product.sku.lower()}.txt", ContentFile(b"THE FILE: " + product.name.encode()), save=True)
    return product


def stripe_fixture(name: str) -> dict:
    return json.loads((FIXTURES / "stripe" / "stripe-ruby-mock" / f"{name}.json").read_text())


def stripe_event(name: str, *, event_id: str, obj: dict | None = None, created: int | None = None) -> dict:
    """A real Stripe event envelope from the fixtures with a unique id and our object fields merged in."""
    event = stripe_fixture(name)
    event["id"] = event_id
    if created:
        event["created"] = created
    event["data"]["object"].update(copy.deepcopy(obj or {}))
    return event


def stripe_sign(payload: str, *, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header, computed with the stripe library's own scheme."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return f"t={timestamp},v1={signature}"


def post_stripe(client, event: dict, **kwargs):
    body = json.dumps(event)
    return client.post("/webhooks/stripe/", data=body, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=stripe_sign(body, **kwargs))


def shopify_fixture(name: str) -> bytes:
    return (FIXTURES / "shopify" / "shopify-dev-samples" / f"{name}.json").read_bytes()


def shopify_sign(body: bytes, secret: str = SHOPIFY_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def post_shopify(client, body: bytes, *, topic: str, shop: str, event_id: str, webhook_id: str | None = None,
                 signature: str | None = None):
    return client.post(
        "/webhooks/shopify/", data=body, content_type="application/json",
        HTTP_X_SHOPIFY_TOPIC=topic, HTTP_X_SHOPIFY_SHOP_DOMAIN=shop, HTTP_X_SHOPIFY_EVENT_ID=event_id,
        HTTP_X_SHOPIFY_WEBHOOK_ID=webhook_id or f"wh-{event_id}",
        HTTP_X_SHOPIFY_HMAC_SHA256=signature if signature is not None else shopify_sign(body),
    )
