"""Discount codes: created and published to Stripe/Shopify, checked per buyer, applied at Stripe Checkout,
redeemed from the webhooks; the API, company-scoped."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from autonomax.errors import AppError
from autonomax.models import Role
from commerce.models import Discount, DiscountRedemption, Order
from commerce.services.discounts import discount_check, discount_create, discount_mention_problem
from tests.factories import CompanyFactory, CustomerFactory, member_with_token

from .conftest import SHOPIFY_TOKEN
from .factories import (
    ChannelConnectionFactory,
    digital_product,
    post_shopify,
    post_stripe,
    shopify_fixture,
    stripe_event,
)

pytestmark = pytest.mark.django_db
QUERIES_LIST = 4  # token with its membership, count, page, products (prefetch)


def _api(company, role=Role.OWNER):
    from tests.conftest import _api_client

    _, key = member_with_token(company=company, role=role)
    return _api_client(key)


def _pay(client, order, *, event_id="evt_paid_1", email="ana@example.com", **extra):
    """Stripe's completion webhook for the session our checkout created, as the local server priced it."""
    session = extra.pop("session")
    event = stripe_event("checkout.session.completed", event_id=event_id, obj={
        "id": session["id"], "metadata": session["metadata"], "payment_intent": f"pi_{event_id}",
        "amount_total": session["amount_total"], "total_details": session["total_details"],
        "payment_status": "paid", "customer_details": {"email": email}, **extra})
    return post_stripe(client, event)


# --- creating -------------------------------------------------------------------------------------------------

def test_a_new_discount_exists_in_stripe_as_coupon_and_promotion_code(company, stripe_server):
    # given another company with the same code (codes are per company)
    discount_create(company=CompanyFactory(), code="SPRING15", percent_off="15")

    # when
    discount, created = discount_create(company=company, code="spring15", percent_off="15",
                                        valid_until=timezone.now() + timedelta(days=7), max_redemptions=50)

    # then
    assert created and discount.code == "SPRING15" and discount.label == "15% off"
    promo = stripe_server.promotion_codes[discount.stripe_promotion_code_id]
    assert promo["metadata"]["code"] == "SPRING15" and promo["max_redemptions"] == "50"
    assert promo["promotion"]["coupon"]["percent_off"] == 15.0
    assert promo["promotion"]["coupon"]["id"] == discount.stripe_coupon_id
    assert int(promo["expires_at"]) == int(discount.valid_until.timestamp())


def test_an_idempotency_key_makes_a_repeat_return_the_first_discount(company, stripe_server):
    first, created = discount_create(company=company, code="ONCE-1", percent_off="10", idempotency_key="job:1")
    again, created_again = discount_create(company=company, code="ONCE-1", percent_off="10",
                                           idempotency_key="job:1")
    assert created and not created_again and first.pk == again.pk
    assert len(stripe_server.promotion_codes) == 1


def test_when_stripe_refuses_nothing_is_kept(company, stripe_server):
    stripe_server.fail_next = [(400, {"error": {"type": "invalid_request_error", "message": "Bad coupon"}})]
    with pytest.raises(AppError) as caught:
        discount_create(company=company, code="NOPE10", percent_off="10")
    assert caught.value.status == 502 and not Discount.objects.exists()


def test_a_discount_is_synced_to_shopify_when_connected_and_only_once(company, stripe_server, shopify_server):
    # given a connected shop
    ChannelConnectionFactory(company=company)

    # when
    discount, _ = discount_create(company=company, code="SHOP5", kind="amount", amount_off="5.00",
                                  valid_until=timezone.now() + timedelta(days=3))

    # then Shopify has the code, with the amount and the dates
    [remote] = shopify_server.discounts.values()
    assert discount.shopify_discount_id == remote["id"]
    assert remote["code"] == "SHOP5" and remote["customerGets"]["value"] == {
        "discountAmount": {"amount": "5.00", "appliesOnEachItem": False}}
    assert remote["appliesOncePerCustomer"] is True and remote["endsAt"] == discount.valid_until.isoformat()
    assert shopify_server.requests[-1]["headers"]["X-Shopify-Access-Token"] == SHOPIFY_TOKEN
    # and a retry after a lost answer finds it by code instead of creating a second one
    Discount.objects.filter(pk=discount.pk).update(shopify_discount_id="")
    from commerce.services.discounts import discount_publish

    discount_publish(discount=Discount.objects.get(pk=discount.pk))
    assert len(shopify_server.discounts) == 1


def test_not_connected_to_shopify_makes_no_shopify_call(company, stripe_server, shopify_server):
    discount_create(company=company, code="LOCAL10", percent_off="10")
    assert shopify_server.requests == []


# --- the API --------------------------------------------------------------------------------------------------

def test_api_lists_only_the_callers_discounts(company, stripe_server, django_assert_num_queries):
    # given
    discount_create(company=company, code="MINE10", percent_off="10")
    discount_create(company=CompanyFactory(), code="THEIRS10", percent_off="10")
    api = _api(company)

    api.get("/api/v1/discounts/")  # authentication caches warm up

    # when
    with django_assert_num_queries(QUERIES_LIST):
        response = api.get("/api/v1/discounts/")

    # then
    assert response.status_code == 200
    assert [d["code"] for d in response.json()["results"]] == ["MINE10"]
    assert response.json()["results"][0]["redemption_count"] == 0


def test_api_creates_a_discount_for_some_products(company, stripe_server):
    # given
    product = digital_product(company=company)
    api = _api(company)

    # when
    response = api.post("/api/v1/discounts/", {"code": "tpl20", "kind": "percent", "percent_off": "20",
                                               "products": [product.pk], "per_customer_limit": 2}, format="json")

    # then
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["code"] == "TPL20" and body["products"] == [product.pk] and body["per_customer_limit"] == 2
    assert body["stripe_promotion_code_id"] in stripe_server.promotion_codes
    assert Discount.objects.get().source == "api"


@pytest.mark.parametrize("payload, status", [
    ({"code": "X", "percent_off": "10"}, 422),  # too short
    ({"code": "HALF", "percent_off": "150"}, 422),
    ({"code": "BOTH", "kind": "amount", "amount_off": "5", "percent_off": "5"}, 422),
    ({"code": "NONE", "kind": "amount"}, 422),
    ({"code": "DATES", "percent_off": "10", "valid_from": "2026-12-10T00:00:00Z",
      "valid_until": "2026-12-01T00:00:00Z"}, 422),
    ({"code": "TYPO", "percent_off": "ten"}, 400),
    ({"percent_off": "10"}, 400),
])
def test_api_refuses_bad_discounts_and_writes_nothing(company, stripe_server, payload, status):
    response = _api(company).post("/api/v1/discounts/", payload, format="json")
    assert response.status_code == status and "error" in response.json()
    assert not Discount.objects.exists() and stripe_server.requests == []


def test_api_refuses_a_taken_code_and_another_companys_product(company, stripe_server):
    api = _api(company)
    discount_create(company=company, code="TAKEN10", percent_off="10")
    other_product = digital_product()
    taken = api.post("/api/v1/discounts/", {"code": "taken10", "percent_off": "5"}, format="json")
    foreign = api.post("/api/v1/discounts/", {"code": "FOREIGN", "percent_off": "5",
                                              "products": [other_product.pk]}, format="json")
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "discount_code_taken"
    assert foreign.status_code == 404
    assert Discount.objects.count() == 1


def test_viewers_may_list_but_not_create(company, stripe_server):
    api = _api(company, role=Role.VIEWER)
    assert api.get("/api/v1/discounts/").status_code == 200
    assert api.post("/api/v1/discounts/", {"code": "VIEW10", "percent_off": "10"}, format="json").status_code == 403
    assert not Discount.objects.exists()


# --- checkout -------------------------------------------------------------------------------------------------

def test_checkout_with_a_code_gets_the_discount_and_the_webhook_records_the_redemption(
        client, company, stripe_server, django_capture_on_commit_callbacks):
    # given a 24.00 product and a 15% code
    product = digital_product(company=company, price=Decimal("24.00"))
    discount, _ = discount_create(company=company, code="SAVE15", percent_off="15", correlation_id="corr-1")

    # when the buyer enters the code on the landing page
    response = client.post(f"/p/{product.slug}/buy/", {"email": "ana@example.com", "discount_code": "save15"})

    # then Stripe Checkout applies the promotion code and charges 20.40
    assert response.status_code == 302
    order = Order.objects.get()
    session = stripe_server.sessions[order.external_id]
    assert session["params"]["discounts"]["0"]["promotion_code"] == discount.stripe_promotion_code_id
    assert session["amount_total"] == 2040 and session["total_details"]["amount_discount"] == 360
    assert order.total == Decimal("20.40") and order.discount_id == discount.pk
    assert session["metadata"]["discount_code"] == "SAVE15"
    assert not DiscountRedemption.objects.exists()  # not redeemed until it is paid

    # when Stripe reports the payment (twice: a retried delivery)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            assert _pay(client, order, session=session).status_code == 200

    # then one redemption, the discount amount from Stripe, tied to the discount's correlation id
    redemption = DiscountRedemption.objects.get()
    assert redemption.order == order and redemption.email == "ana@example.com"
    assert redemption.amount == Decimal("3.60") and redemption.channel == "stripe"
    assert redemption.discount.correlation_id == "corr-1"

    # and the same buyer cannot use it a second time (per-customer limit 1)
    again = client.post(f"/p/{product.slug}/buy/", {"email": "ANA@example.com", "discount_code": "SAVE15"})
    assert again.status_code == 422 and "already used" in again.content.decode()
    assert Order.objects.count() == 1


@pytest.mark.parametrize("setup, error", [
    (lambda c, p: None, "discount_unknown"),
    (lambda c, p: discount_create(company=c, code="CODE10", percent_off="10",
                                  valid_from=timezone.now() - timedelta(days=10),
                                  valid_until=timezone.now() - timedelta(days=1)), "discount_expired"),
    (lambda c, p: discount_create(company=c, code="CODE10", percent_off="10",
                                  valid_from=timezone.now() + timedelta(days=1)), "discount_not_started"),
    (lambda c, p: discount_create(company=c, code="CODE10", percent_off="10",
                                  products=[digital_product(company=c)]), "discount_not_for_product"),
    (lambda c, p: discount_create(company=c, code="CODE10", kind="amount", amount_off="5", currency="EUR"),
     "discount_currency_mismatch"),
])
def test_a_code_that_cannot_be_used_is_refused_before_any_order(client, company, stripe_server, setup, error):
    # given
    product = digital_product(company=company)
    setup(company, product)
    Discount.objects.filter(code="CODE10").update(is_active=True)
    sessions_before = len(stripe_server.sessions)

    # when / then
    with pytest.raises(AppError) as caught:
        discount_check(company=company, code="CODE10", email="ana@example.com", product=product)
    assert caught.value.code == error and caught.value.status == 422
    response = client.post(f"/p/{product.slug}/buy/", {"email": "ana@example.com", "discount_code": "CODE10"})
    assert response.status_code == 422
    assert not Order.objects.exists() and len(stripe_server.sessions) == sessions_before


def test_a_used_up_code_is_refused(client, company, stripe_server):
    # given a code with one redemption allowed, already used by someone else
    product = digital_product(company=company)
    discount, _ = discount_create(company=company, code="ONLY1", percent_off="50", max_redemptions=1)
    other = CustomerFactory(company=company, email="first@example.com")
    paid = Order.objects.create(company=company, customer=other, total=Decimal("9.50"), created_at=timezone.now())
    DiscountRedemption.objects.create(company=company, discount=discount, order=paid, email=other.email,
                                      amount=Decimal("9.50"), channel="stripe", redeemed_at=timezone.now())

    # when
    response = client.post(f"/p/{product.slug}/buy/", {"email": "ana@example.com", "discount_code": "ONLY1"})

    # then
    assert response.status_code == 422 and "used up" in response.content.decode()


def test_a_code_needs_the_buyers_email(client, company, stripe_server):
    product = digital_product(company=company)
    discount_create(company=company, code="MAIL10", percent_off="10")
    response = client.post(f"/p/{product.slug}/buy/", {"discount_code": "MAIL10"})
    assert response.status_code == 422 and not Order.objects.exists()


def test_shopify_paid_order_with_our_code_records_a_redemption(client, company, stripe_server, shopify_server,
                                                               django_capture_on_commit_callbacks):
    # given our code, and a Shopify order that used it (and one the shop made itself)
    connection = ChannelConnectionFactory(company=company)
    discount, _ = discount_create(company=company, code="SHOPWIN", percent_off="10")
    body = json.loads(shopify_fixture("orders_paid"))
    body["discount_codes"] = [{"code": "shopwin", "amount": "40.50", "type": "percentage"},
                              {"code": "MADE-IN-SHOPIFY", "amount": "1.00", "type": "fixed_amount"}]
    raw = json.dumps(body).encode()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        post_shopify(client, raw, topic="orders/paid", shop=connection.shop_domain, event_id="ev-paid-1")

    # then
    redemption = DiscountRedemption.objects.get()
    assert redemption.discount == discount and redemption.channel == "shopify"
    assert redemption.amount == Decimal("40.50") and redemption.order.channel == "shopify"


# --- emails ---------------------------------------------------------------------------------------------------

def test_an_email_may_only_mention_a_code_that_exists_and_is_valid_for_its_reader(company, stripe_server):
    discount, _ = discount_create(company=company, code="BACK-1", percent_off="10")
    order = Order.objects.create(company=company, total=Decimal("9"), created_at=timezone.now())
    DiscountRedemption.objects.create(company=company, discount=discount, order=order, email="used@example.com",
                                      amount=Decimal("1"), channel="stripe", redeemed_at=timezone.now())
    assert discount_mention_problem(company=company, text="10% off with code BACK-1.", email="new@example.com") \
        is None
    assert "already used" in discount_mention_problem(company=company, text="with code BACK-1",
                                                      email="used@example.com")
    assert "does not exist" in discount_mention_problem(company=company, text="with code WELCOMEBACK",
                                                        email="new@example.com")
    # another company's code of the same name is not this company's
    assert "does not exist" in discount_mention_problem(company=CompanyFactory(), text="code BACK-1",
                                                        email="new@example.com")


# --- the admin ------------------------------------------------------------------------------------------------

def test_admin_creates_a_discount_through_the_service_and_keeps_it_unchanged_after(admin_client, company,
                                                                                  stripe_server):
    # given
    assert admin_client.get("/admin/commerce/discount/add/").status_code == 200

    # when a person adds a code, then tries to change its percentage
    response = admin_client.post("/admin/commerce/discount/add/", {
        "company": company.pk, "code": "admin20", "kind": "percent", "percent_off": "20",
        "valid_from_0": "2026-12-01", "valid_from_1": "00:00:00", "per_customer_limit": "1", "is_active": "on",
        "redemptions-TOTAL_FORMS": "0", "redemptions-INITIAL_FORMS": "0"})

    # then it was published to Stripe like any other
    assert response.status_code == 302, response.content.decode()[:2000]
    discount = Discount.objects.get()
    assert discount.code == "ADMIN20" and discount.source == "admin"
    assert discount.stripe_promotion_code_id in stripe_server.promotion_codes
    change = admin_client.get(f"/admin/commerce/discount/{discount.pk}/change/").content.decode()
    assert 'name="percent_off"' not in change and 'name="is_active"' in change


def test_admin_refuses_a_bad_discount_with_the_reason(admin_client, company, stripe_server):
    response = admin_client.post("/admin/commerce/discount/add/", {
        "company": company.pk, "code": "BAD", "kind": "percent", "percent_off": "150",
        "valid_from_0": "2026-12-01", "valid_from_1": "00:00:00", "per_customer_limit": "1",
        "redemptions-TOTAL_FORMS": "0", "redemptions-INITIAL_FORMS": "0"})
    assert response.status_code == 200 and "between 0 and 100" in response.content.decode()
    assert not Discount.objects.exists() and stripe_server.requests == []
