"""End to end on real parts: draft -> publish (local Shopify) -> checkout (local Stripe) -> signed
checkout.session.completed -> a real Celery worker fulfils -> the delivery email's link downloads the file."""

import json
import re
import time
from email import message_from_bytes
from urllib.parse import urlparse

import pytest

from commerce.models import Listing, Order, ProductDraft, WebhookEvent
from tests.conftest import wait_for

from .factories import ChannelConnectionFactory, post_stripe, stripe_event

pytestmark = [pytest.mark.integration]


def test_draft_to_delivered_download(celery_worker_process, owner_api, company, client, stripe_server,
                                     shopify_server):
    # given: a connected shop and a draft from the catalog brain that passes the gate
    _, api = owner_api
    ChannelConnectionFactory(company=company, shop_domain="acme.myshopify.com")
    company.support_email = "help@acme.example"
    company.save(update_fields=["support_email"])
    draft = api.post("/api/v1/products/draft", {"category": "notion templates", "audience": "students",
                                                "keywords": ["notion study planner"]}, format="json").json()
    if not draft["gate_passed"]:
        api.post(f"/api/v1/product-drafts/{draft['id']}/override-gate/")
    published = api.post("/api/v1/products/publish", {"channel": "shopify", "draft_id": draft["id"],
                                                      "pricing": {"price": "12.00"}}, format="json")
    assert published.status_code == 201, published.content
    product = ProductDraft.objects.get(pk=draft["id"]).product
    assert product.asset.name.endswith(".pdf")  # the catalog brain rendered the deliverable itself
    assert Listing.objects.get(product=product).external_id in shopify_server.products

    # when: the buyer checks out on the landing page ...
    assert client.get(f"/p/{product.slug}/").status_code == 200
    assert client.post(f"/p/{product.slug}/buy/", {"email": "student@example.com"}).status_code == 302
    order = Order.objects.get(company=company)
    session = stripe_server.sessions[order.external_id]
    # ... and Stripe sends the signed completion webhook
    event = stripe_event("checkout.session.completed", event_id="evt_e2e_1", obj={
        "id": session["id"], "metadata": session["metadata"], "payment_intent": "pi_e2e",
        "amount_total": session["amount_total"], "customer_details": {"email": "student@example.com"}})
    started = time.monotonic()
    response = post_stripe(client, event)
    assert response.status_code == 200
    mail_dir = celery_worker_process["email_dir"]
    # The file backend creates the file before writing to it: wait for a whole message (ends with its rule).
    files = wait_for(lambda: [f for f in mail_dir.glob("*.log") if b"-" * 79 in f.read_bytes()], timeout=60,
                     message="the delivery email")
    elapsed = time.monotonic() - started
    print(f"\nwebhook -> delivery email: {elapsed * 1000:.0f} ms")

    # then: the email names the product, the support address and a link that downloads the file
    message = message_from_bytes(files[0].read_bytes().split(b"\n" + b"-" * 79)[0])
    body = message.get_payload(decode=True).decode()
    assert message["To"] == "student@example.com"
    assert product.name in body and "help@acme.example" in body
    link = re.search(r"https?://\S+/d/\S+/", body).group(0)
    download = client.get(urlparse(link).path)
    assert download.status_code == 200
    pdf = b"".join(download.streaming_content)
    assert pdf.startswith(b"%PDF-") and pdf == product.asset.open("rb").read()
    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED and order.customer.email == "student@example.com"
    assert WebhookEvent.objects.get(event_id="evt_e2e_1").status == WebhookEvent.Status.PROCESSED
    assert json.loads(WebhookEvent.objects.get().raw_body)["id"] == "evt_e2e_1"
