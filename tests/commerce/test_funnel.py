"""Public funnel: landing page, Stripe Checkout, order status, signed downloads."""

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import signing
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from commerce.models import DownloadGrant, Order, Product
from commerce.services.fulfillment import DOWNLOAD_SALT, download_token_make
from tests.factories import CompanyFactory, OrderFactory, OrderItemFactory, ProductFactory

from .factories import digital_product

pytestmark = pytest.mark.django_db


def _grant(**kwargs):
    product = digital_product()
    order = OrderFactory(company=product.company, status=Order.Status.FULFILLED)
    OrderItemFactory(order=order, product=product)
    return DownloadGrant.objects.create(company=order.company, order=order, product=product,
                                        expires_at=timezone.now() + timedelta(hours=24), **kwargs)


def test_landing_page_shows_product_with_seo_meta(client):
    # given
    product = ProductFactory(name="Notion Budget Planner", description="Plan every dollar.", price=Decimal("19.00"))
    # when
    response = client.get(f"/p/{product.slug}/")
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "<title>Notion Budget Planner" in html
    assert '<meta name="description" content="Plan every dollar.">' in html
    assert 'name="viewport"' in html
    assert "19.00 USD" in html
    assert f'action="/p/{product.slug}/buy/"' in html


def test_landing_page_hides_draft_products(client):
    # given
    product = ProductFactory(status=Product.Status.DRAFT)
    # when
    response = client.get(f"/p/{product.slug}/")
    # then
    assert response.status_code == 404


def test_unknown_public_page_gets_a_plain_not_found_page(client):
    # when a shopper follows a dead product or order link
    product_page = client.get("/p/no-such-product/")
    order_page = client.get("/o/not-a-token/")
    # then a readable page, not the framework's bare text
    for response in (product_page, order_page):
        assert response.status_code == 404
        assert "Page not found" in response.content.decode()


def test_opening_the_buy_url_directly_goes_back_to_the_product(client):
    # given
    product = ProductFactory(status=Product.Status.ACTIVE)
    # when the buy URL is reloaded or shared (a GET)
    response = client.get(f"/p/{product.slug}/buy/")
    # then back to the landing page, not a blank 405
    assert response.status_code == 302 and response["Location"] == f"/p/{product.slug}/"
    assert not Order.objects.exists()


def test_landing_page_query_count(client, django_assert_num_queries):
    # given
    product = ProductFactory()
    # when / then: one query for product + company
    with django_assert_num_queries(1):
        client.get(f"/p/{product.slug}/")


def test_buy_creates_pending_order_and_redirects_to_stripe_checkout(client, stripe_server):
    # given
    product = digital_product(price=Decimal("24.00"))
    # when
    response = client.post(f"/p/{product.slug}/buy/", {"email": "ana@example.com"})
    # then
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"https://checkout.stripe.com/c/pay/{order.external_id}"
    assert order.status == Order.Status.PENDING and order.channel == "stripe" and order.total == Decimal("24.00")
    session = stripe_server.sessions[order.external_id]["params"]
    assert session["metadata"] == {"order_id": str(order.pk), "company": product.company.slug,
                                   "product_sku": product.sku}
    assert session["payment_intent_data"]["metadata"]["order_id"] == str(order.pk)
    assert session["line_items"]["0"]["price_data"]["unit_amount"] == "2400"
    assert session["success_url"].endswith(f"/checkout/success/?order={order.access_token}")
    assert stripe_server.requests[-1]["headers"]["Idempotency-Key"] == f"checkout-{order.access_token}"


def test_buy_when_stripe_fails_keeps_nothing_and_says_so(client, stripe_server):
    # given
    product = digital_product()
    stripe_server.fail_next = [(400, {"error": {"type": "invalid_request_error", "message": "Bad currency"}})]
    # when
    response = client.post(f"/p/{product.slug}/buy/", {"email": "ana@example.com"})
    # then
    assert response.status_code == 502
    assert "Bad currency" in response.content.decode()
    assert not Order.objects.exists()


def test_buy_without_stripe_configured_tells_the_shopper_plainly_and_keeps_nothing(client, settings):
    # given a shop whose operator has not set STRIPE_SECRET_KEY
    settings.STRIPE_SECRET_KEY = ""
    product = digital_product()
    # when a shopper presses Buy
    response = client.post(f"/p/{product.slug}/buy/", {"email": "ana@example.com"})
    # then a clear message for a shopper (not the operator's env variable), no order, no fake success
    page = response.content.decode()
    assert response.status_code == 503
    assert "Checkout is not open for this shop yet" in page and "STRIPE_SECRET_KEY" not in page
    assert not Order.objects.exists()


def test_order_status_page_by_token_only(client):
    # given
    grant = _grant()
    # when
    ok = client.get(f"/o/{grant.order.access_token}/")
    missing = client.get("/o/not-a-real-token/")
    # then
    assert ok.status_code == 200
    assert "Download" in ok.content.decode()
    assert missing.status_code == 404


def test_download_link_serves_the_file_and_counts(client):
    # given
    grant = _grant()
    token = download_token_make(grant=grant)
    # when
    response = client.get(f"/d/{token}/")
    # then
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"THE FILE: ")
    grant.refresh_from_db()
    assert grant.download_count == 1


def test_download_over_the_limit_gets_a_friendly_page(client):
    # given
    grant = _grant(max_downloads=2, download_count=2)
    # when
    response = client.get(f"/d/{download_token_make(grant=grant)}/")
    # then
    assert response.status_code == 410
    assert "maximum number of times" in response.content.decode()
    grant.refresh_from_db()
    assert grant.download_count == 2


def test_expired_download_token_gets_a_friendly_page(client, monkeypatch):
    # given: a token signed 25 hours ago
    grant = _grant()
    past = timezone.now().timestamp() - 25 * 3600
    monkeypatch.setattr(signing.time, "time", lambda: past)
    token = signing.dumps({"g": grant.pk}, salt=DOWNLOAD_SALT, compress=True)
    monkeypatch.undo()
    # when
    response = client.get(f"/d/{token}/")
    # then
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    grant.refresh_from_db()
    assert grant.download_count == 0


def test_revoked_or_forged_download_gets_no_file(client):
    # given
    grant = _grant(revoked_at=timezone.now())
    # when
    revoked = client.get(f"/d/{download_token_make(grant=grant)}/")
    forged = client.get(f"/d/{re.sub('.$', 'x', download_token_make(grant=grant))}/")
    # then
    assert revoked.status_code == 410 and "refunded" in revoked.content.decode()
    assert forged.status_code == 410 and "not valid" in forged.content.decode()


def test_demo_products_are_live_on_landing_pages(demo_clock, client):
    # given
    from django.core.management import call_command

    call_command("seed_demo")
    company = CompanyFactory(slug="demo")
    # when
    digital = Product.objects.filter(company=company, kind="digital", status="active")
    pages = [client.get(f"/p/{p.slug}/") for p in digital]
    # then
    assert len(pages) >= 5
    assert all(page.status_code == 200 for page in pages)
    assert all(p.asset for p in digital)


def test_success_and_cancel_pages(client, stripe_server):
    # given
    product = digital_product()
    client.post(f"/p/{product.slug}/buy/", {"email": "ana@example.com"})
    order = Order.objects.get()
    # when
    success = client.get(f"/checkout/success/?order={order.access_token}")
    cancel = client.get(f"/checkout/cancel/?order={order.access_token}")
    # then
    assert success.status_code == 200 and f"/o/{order.access_token}/" in success.content.decode()
    assert cancel.status_code == 200 and f"/p/{product.slug}/" in cancel.content.decode()
    assert "No payment was taken" in cancel.content.decode()


def test_subscription_product_checks_out_in_subscription_mode(client, stripe_server):
    # given
    product = ProductFactory(kind=Product.Kind.SUBSCRIPTION, price=Decimal("9.00"))
    # when
    client.post(f"/p/{product.slug}/buy/", {"email": "sub@example.com"})
    # then
    order = Order.objects.get()
    params = stripe_server.sessions[order.external_id]["params"]
    assert params["mode"] == "subscription"
    assert params["line_items"]["0"]["price_data"]["recurring"] == {"interval": "month"}
    assert params["subscription_data"]["metadata"]["order_id"] == str(order.pk)
    assert order.customer.email == "sub@example.com"


def test_landing_page_looks_like_the_shop_with_the_products_image(client):
    # given: a product with a picture (a real PNG made by Pillow)
    picture = io.BytesIO()
    Image.new("RGB", (8, 6), "#1f6feb").save(picture, format="PNG")
    product = ProductFactory(company=CompanyFactory(name="Budget Corner"), name="Planner")
    product.image.save("planner.png", ContentFile(picture.getvalue()))
    # when
    page = client.get(f"/p/{product.slug}/")
    image = client.get(f"/p/{product.slug}/image/")
    # then: the shop's name heads the page, the image is shown and served publicly
    html = page.content.decode()
    assert '<div class="shop-name">Budget Corner</div>' in html
    assert f'src="http://testserver/p/{product.slug}/image/"' in html and 'property="og:image"' in html
    assert image.status_code == 200 and b"".join(image.streaming_content) == picture.getvalue()


def test_a_product_without_an_image_has_no_image_tag_and_no_image_url(client):
    # given
    product = ProductFactory()
    # when
    page = client.get(f"/p/{product.slug}/")
    image = client.get(f"/p/{product.slug}/image/")
    # then
    assert "<img" not in page.content.decode() and image.status_code == 404
