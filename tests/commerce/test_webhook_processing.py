"""Webhook processing in detail, with a second company's data present: what each handler writes (a checkout we
did not start, a payment, a Shopify refund), how an event's row ends (processed, ignored, parked, failed) and
which parked events a match wakes. Written for the mutants mutmut left alive in commerce/services/webhooks.py."""

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from commerce.models import (
    CustomerConsent,
    Discount,
    DiscountRedemption,
    Order,
    Refund,
    Subscription,
    WebhookEvent,
)
from commerce.services.consent import STRIPE_WORDING
from commerce.services.webhooks import TransientWebhookError, webhook_process, webhook_process_next
from tests.factories import CompanyFactory, OrderFactory, OrderItemFactory

from .factories import (
    ChannelConnectionFactory,
    digital_product,
    post_shopify,
    post_stripe,
    shopify_fixture,
    shopify_sign,
    stripe_event,
)

pytestmark = pytest.mark.django_db

CREATED = 1700000000  # 2023-11-14 22:13:20 UTC


def _process(event_id: str) -> WebhookEvent:
    return webhook_process(event_id=WebhookEvent.objects.get(event_id=event_id).pk)


# --- a checkout we did not start (payment link): the order comes from the session's metadata ---------------------

def _payment_link_checkout(company, *, event_id="evt_link", session="cs_link", **obj) -> dict:
    return stripe_event("checkout.session.completed", event_id=event_id, obj={
        "id": session, "payment_intent": f"pi_{session}", "payment_status": "paid", "created": CREATED,
        "customer_details": {"email": "buyer@example.com", "name": "Bea"},
        "metadata": {"company": company.slug, "product_sku": "LINK-1"}, **obj})


def test_a_payment_link_checkout_creates_a_stripe_order_of_its_amount_currency_and_time(client, company,
                                                                                        other_company):
    # given our product and the other company's product of the same sku
    ours = digital_product(company=company, sku="LINK-1", price=Decimal("19.00"), currency="USD")
    digital_product(company=other_company, sku="LINK-1", price=Decimal("99.00"))
    post_stripe(client, _payment_link_checkout(company, currency="eur", amount_total=2500))

    # when
    event = _process("evt_link")

    # then a Stripe order of ours for the session, in the session's currency and amount, created when it was,
    # with one line of our product at that amount
    order = Order.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED and event.company == company
    assert (order.company, order.channel, order.external_id) == (company, Order.Channel.STRIPE, "cs_link")
    assert (order.currency, order.total) == ("EUR", Decimal("25.00"))
    assert order.created_at == datetime.fromtimestamp(CREATED, tz=UTC)
    assert list(order.items.values_list("product", "title", "quantity", "unit_price")) == [
        (ours.pk, ours.name, 1, Decimal("25.00"))]
    assert order.paid_at is not None and order.payment_intent_id == "pi_cs_link"
    assert (order.customer.company, order.customer.email, order.customer.name, order.customer.stripe_customer_id) == (
        company, "buyer@example.com", "Bea", "cus_00000000000000")
    assert not Subscription.objects.exists()


def test_a_payment_link_checkout_without_amount_or_currency_takes_the_products(client, company, other_company):
    # given
    ours = digital_product(company=company, sku="LINK-1", price=Decimal("19.00"), currency="gbp")
    digital_product(company=other_company, sku="LINK-1", price=Decimal("99.00"), currency="USD")
    post_stripe(client, _payment_link_checkout(company, currency=None, amount_total=None))

    # when
    _process("evt_link")

    # then the product's price and currency (upper case)
    order = Order.objects.get()
    assert (order.currency, order.total) == ("GBP", Decimal("19.00"))
    assert list(order.items.values_list("product", "unit_price")) == [(ours.pk, Decimal("19.00"))]


def _our_checkout_order(company, *, session="cs_ours", **fields) -> Order:
    """An unpaid order of our checkout, with one line of a product."""
    order = OrderFactory(company=company, channel=Order.Channel.STRIPE, external_id=session, paid_at=None,
                         status=Order.Status.PENDING, customer=None, total=Decimal("19.00"), **fields)
    OrderItemFactory(order=order, product=digital_product(company=company), unit_price=Decimal("19.00"))
    return order


def test_a_subscription_checkout_activates_the_subscription_and_records_no_payment_intent(
        client, company, other_company, django_capture_on_commit_callbacks):
    # given our order, the other company's, and a completed subscription checkout (no payment intent)
    ours = _our_checkout_order(company)
    _our_checkout_order(other_company, session="cs_theirs")
    checkout = stripe_event("checkout.session.completed", event_id="evt_sub_cs", created=CREATED, obj={
        "id": "cs_ours", "mode": "subscription", "payment_intent": None, "subscription": "sub_ours",
        "payment_status": "no_payment_required",
        "metadata": {"order_id": str(ours.pk), "company": company.slug},
        "customer_details": {"email": "buyer@example.com", "name": "Bea"}})
    post_stripe(client, checkout)
    # and events waiting for what it makes known: an earlier delivery of the session, parked before its order
    # existed, and the subscription's creation, which named no customer (parked under the subscription's id)
    WebhookEvent.objects.create(provider="stripe", event_id="evt_sub_cs_earlier", event_type=checkout["type"],
                                payload=checkout, status=WebhookEvent.Status.PENDING_MATCH, match_ref="cs_ours",
                                attempts=1)
    post_stripe(client, stripe_event("customer.subscription.created", event_id="evt_sub_created", obj={
        "id": "sub_ours", "customer": None, "metadata": {}}))
    assert _process("evt_sub_created").match_ref == "sub_ours"

    # when
    with django_capture_on_commit_callbacks(execute=True):
        event = _process("evt_sub_cs")

    # then the order is paid (a trial: nothing to pay) with no payment intent, and its subscription runs for our
    # product
    ours.refresh_from_db()
    assert (event.status, event.company) == (WebhookEvent.Status.PROCESSED, company)
    assert (ours.paid_at, ours.payment_intent_id) == (datetime.fromtimestamp(CREATED, tz=UTC), "")
    product = ours.items.get().product
    assert list(Subscription.objects.values_list("company", "external_id", "order", "product", "status")) == [
        (company.pk, "sub_ours", ours.pk, product.pk, Subscription.Status.ACTIVE)]
    # and both waiting events ran
    assert set(WebhookEvent.objects.filter(event_id__in=["evt_sub_cs_earlier", "evt_sub_created"])
               .values_list("status", "attempts")) == {(WebhookEvent.Status.PROCESSED, 2)}


def _discounted_checkout(company, other_company, *, payment_status, promotions) -> tuple[Order, dict]:
    """Our order with our SAVE15 code (the other company has a code of that name too) and its completed session."""
    ours = _our_checkout_order(company, discount=Discount.objects.create(company=company, code="SAVE15",
                                                                         percent_off="15"))
    Discount.objects.create(company=other_company, code="SAVE15", percent_off="15")
    return ours, stripe_event("checkout.session.completed", event_id="evt_cs_discount", created=CREATED, obj={
        "id": "cs_ours", "payment_intent": "pi_ours", "payment_status": payment_status,
        "metadata": {"order_id": str(ours.pk), "company": company.slug},
        "customer_details": {"email": "buyer@example.com", "name": "Bea"}, "consent": {"promotions": promotions},
        "total_details": {"amount_discount": 360, "amount_shipping": 0, "amount_tax": 0}})


def test_a_paid_checkout_records_its_discount_and_promotions_consent_at_the_events_time(client, company,
                                                                                       other_company):
    # given
    ours, event = _discounted_checkout(company, other_company, payment_status="paid", promotions="opt_in")
    post_stripe(client, event)

    # when
    _process("evt_cs_discount")

    # then the redemption (the discount amount Stripe reports) and the buyer's consent, both when the event was
    at = datetime.fromtimestamp(CREATED, tz=UTC)
    ours.refresh_from_db()
    assert ours.paid_at == at
    assert list(DiscountRedemption.objects.values_list("company", "discount", "order", "email", "amount", "channel",
                                                       "redeemed_at")) == [
        (company.pk, ours.discount_id, ours.pk, "buyer@example.com", Decimal("3.60"), "stripe", at)]
    assert list(CustomerConsent.objects.values_list("company", "customer", "status", "source", "wording",
                                                    "recorded_at")) == [
        (company.pk, ours.customer_id, CustomerConsent.Status.GRANTED, "stripe_checkout", STRIPE_WORDING, at)]


def test_an_unpaid_checkout_learns_the_buyer_and_intent_but_records_no_payment_discount_or_consent(
        client, company, other_company):
    # given a completed session whose payment is still pending (a bank debit), the buyer declining promotions
    ours, event = _discounted_checkout(company, other_company, payment_status="unpaid", promotions="opt_out")
    post_stripe(client, event)

    # when
    event = _process("evt_cs_discount")

    # then
    ours.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert (ours.paid_at, ours.payment_intent_id, ours.customer.email) == (None, "pi_ours", "buyer@example.com")
    assert not DiscountRedemption.objects.exists() and not CustomerConsent.objects.exists()


def test_a_completed_session_linked_to_our_order_by_its_payment_intent_only_is_applied_to_it(client, company,
                                                                                            other_company):
    # given our order known by its payment intent only (another session id, no metadata), and the other
    # company's order of another intent
    ours = _our_checkout_order(company, session="cs_first_try", payment_intent_id="pi_ours")
    _our_checkout_order(other_company, session="cs_theirs", payment_intent_id="pi_theirs")
    post_stripe(client, stripe_event("checkout.session.completed", event_id="evt_cs_pi", obj={
        "id": "cs_second_try", "payment_intent": "pi_ours", "metadata": {}, "customer_details": None,
        "customer_email": "Buyer@Example.com", "customer": None}))

    # when
    event = _process("evt_cs_pi")

    # then (the buyer from the session's customer_email: there are no customer details)
    ours.refresh_from_db()
    assert (event.status, event.company) == (WebhookEvent.Status.PROCESSED, company)
    assert ours.paid_at is not None
    assert (ours.customer.email, ours.customer.name, ours.customer.stripe_customer_id) == ("buyer@example.com", "",
                                                                                           "")
    assert Order.objects.count() == 2


def test_an_unmatched_session_without_an_id_waits_for_nothing(client, company, other_company):
    # given a completed session without an id that no order matches (the other company has orders)
    _our_checkout_order(other_company, session="cs_theirs")
    post_stripe(client, stripe_event("checkout.session.completed", event_id="evt_cs_anon", obj={
        "id": None, "payment_intent": None, "metadata": {"company": company.slug}}))

    # when
    event = _process("evt_cs_anon")

    # then
    assert (event.status, event.match_ref, event.company) == (WebhookEvent.Status.PENDING_MATCH, "", company)


# --- Shopify refunds -------------------------------------------------------------------------------------------

def test_a_shopify_refund_never_lands_on_our_order_of_another_channel_with_the_same_id(client, company,
                                                                                      other_company):
    # given our shop, and an order of ours with that id on Stripe (not Shopify)
    shop = ChannelConnectionFactory(company=company, shop_domain="ours.myshopify.com")
    ChannelConnectionFactory(company=other_company, shop_domain="theirs.myshopify.com")
    stripe_order = OrderFactory(company=company, channel=Order.Channel.STRIPE, external_id="5551",
                                total=Decimal("20.00"))
    body = b'{"id": 9001, "order_id": 5551, "transactions": [{"kind": "refund", "status": "success", "amount": "5"}]}'
    post_shopify(client, body, topic="refunds/create", shop=shop.shop_domain, event_id="r1")

    # when
    event = _process("refunds/create:r1")

    # then it waits for the Shopify order 5551
    assert (event.status, event.match_ref) == (WebhookEvent.Status.PENDING_MATCH, "shopify-order:5551")
    stripe_order.refresh_from_db()
    assert stripe_order.amount_refunded == 0 and not Refund.objects.exists()


def _shopify_refund_of_5551(client, company, other_company, **refund) -> Order:
    """Our shop and the other company's each have a Shopify order 5551; our shop reports a refund of it."""
    shop = ChannelConnectionFactory(company=company, shop_domain="ours.myshopify.com")
    ChannelConnectionFactory(company=other_company, shop_domain="theirs.myshopify.com")
    OrderFactory(company=other_company, channel=Order.Channel.SHOPIFY, external_id="5551", total=Decimal("200.00"))
    ours = OrderFactory(company=company, channel=Order.Channel.SHOPIFY, external_id="5551", total=Decimal("200.00"))
    body = json.dumps({"id": 9001, "order_id": 5551, "note": "damaged", "created_at": "2026-11-02T10:00:00-05:00",
                       **refund}).encode()
    assert post_shopify(client, body, topic="refunds/create", shop=shop.shop_domain, event_id="r1").status_code == 200
    return ours


def test_a_shopify_refund_is_the_sum_of_its_successful_refund_transactions(client, company, other_company):
    # given a refund whose transactions are: refunds that succeeded or carry no status (counted), a failed refund,
    # a sale and a refund without an amount
    ours = _shopify_refund_of_5551(client, company, other_company, transactions=[
        {"kind": "refund", "status": "success", "amount": "5.00"},
        {"kind": "refund", "amount": "2.50"},
        {"kind": "refund", "status": "failure", "amount": "100.00"},
        {"kind": "sale", "status": "success", "amount": "50.00"},
        {"kind": "refund", "status": "success"},
    ], refund_line_items=[{"subtotal": 89.99}])

    # when
    event = _process("refunds/create:r1")

    # then one refund of 7.50 on our order, under the refund's id, note and time
    assert event.status == WebhookEvent.Status.PROCESSED and event.company == company
    assert list(Refund.objects.values_list("company", "order", "external_id", "amount", "reason", "created_at")) == [
        (company.pk, ours.pk, "shopify:9001", Decimal("7.50"), "damaged", datetime(2026, 11, 2, 15, 0, tzinfo=UTC))]
    ours.refresh_from_db()
    assert ours.amount_refunded == Decimal("7.50")


def test_a_shopify_refund_without_refund_transactions_is_the_sum_of_its_line_items(client, company, other_company):
    # given a refund whose only transaction failed; its line items' subtotals (one missing) make the amount
    ours = _shopify_refund_of_5551(client, company, other_company, transactions=[
        {"kind": "refund", "status": "failure", "amount": "100.00"}],
        refund_line_items=[{"subtotal": 10.5}, {"subtotal": "4.00"}, {"quantity": 1}])

    # when
    _process("refunds/create:r1")

    # then
    assert list(Refund.objects.values_list("order", "amount")) == [(ours.pk, Decimal("14.50"))]
    ours.refresh_from_db()
    assert ours.amount_refunded == Decimal("14.50")


# --- which company a Shopify event belongs to ------------------------------------------------------------------

def test_a_shopify_event_belongs_to_the_shopify_connection_of_its_domain_only(client, company, other_company):
    # given our Shopify shop, the other company's Shopify shop, and the other company's Etsy connection that
    # happens to carry a domain no Shopify connection has
    ChannelConnectionFactory(company=company, shop_domain="ours.myshopify.com")
    ChannelConnectionFactory(company=other_company, shop_domain="theirs.myshopify.com")
    ChannelConnectionFactory(company=other_company, channel="etsy", shop_domain="stranger.myshopify.com")
    body = shopify_fixture("orders_create")
    post_shopify(client, body, topic="orders/create", shop="Ours.MyShopify.com", event_id="e-ours")
    post_shopify(client, body, topic="orders/create", shop="Stranger.MyShopify.com", event_id="e-stranger")

    # when
    ours, stranger = _process("orders/create:e-ours"), _process("orders/create:e-stranger")

    # then our shop's event (its domain in any case) is ours; the other one waits for its shop, nobody's order
    assert (ours.status, ours.company) == (WebhookEvent.Status.PROCESSED, company)
    assert (stranger.status, stranger.match_ref, stranger.company) == (
        WebhookEvent.Status.PENDING_MATCH, "shop:stranger.myshopify.com", None)
    assert list(Order.objects.values_list("company", flat=True)) == [company.pk]


def test_a_shopify_event_without_a_shop_domain_waits_for_the_empty_shop(client, company, other_company):
    # given both companies connect a shop; an event arrives without the shop domain header
    ChannelConnectionFactory(company=company, shop_domain="ours.myshopify.com")
    ChannelConnectionFactory(company=other_company, shop_domain="theirs.myshopify.com")
    body = shopify_fixture("orders_create")
    response = client.post("/webhooks/shopify/", data=body, content_type="application/json",
                           HTTP_X_SHOPIFY_TOPIC="orders/create", HTTP_X_SHOPIFY_EVENT_ID="e-none",
                           HTTP_X_SHOPIFY_HMAC_SHA256=shopify_sign(body))
    assert response.status_code == 200

    # when
    event = _process("orders/create:e-none")

    # then
    assert (event.status, event.match_ref, event.company) == (WebhookEvent.Status.PENDING_MATCH, "shop:", None)
    assert not Order.objects.exists()


# --- a payment no order knows yet ------------------------------------------------------------------------------

def test_an_unmatched_payment_waits_for_its_intent_under_the_company_its_metadata_names(client, company,
                                                                                       other_company):
    # given the other company's order paid by another intent, and a Stripe order of theirs whose external id
    # happens to be our intent's id (only a checkout session's id is looked up as one)
    OrderFactory(company=other_company, channel=Order.Channel.STRIPE, external_id="cs_theirs",
                 payment_intent_id="pi_theirs")
    OrderFactory(company=other_company, channel=Order.Channel.STRIPE, external_id="pi_wait")
    post_stripe(client, stripe_event("payment_intent.succeeded", event_id="evt_pi_wait", obj={
        "id": "pi_wait", "metadata": {"company": company.slug}}))
    post_stripe(client, stripe_event("payment_intent.succeeded", event_id="evt_pi_no_id", obj={
        "id": None, "metadata": {}}))

    # when
    waiting, without_id = _process("evt_pi_wait"), _process("evt_pi_no_id")

    # then the first waits for its intent, under our company; one without an id waits for nothing, under no company
    assert (waiting.status, waiting.match_ref, waiting.company) == (WebhookEvent.Status.PENDING_MATCH, "pi_wait",
                                                                   company)
    assert (without_id.status, without_id.match_ref, without_id.company) == (WebhookEvent.Status.PENDING_MATCH, "",
                                                                            None)
    assert not Order.objects.filter(company=company).exists()
    assert Order.objects.get(external_id="cs_theirs").payment_intent_id == "pi_theirs"


def test_a_payment_marks_our_order_paid_at_the_events_time_with_its_intent(client, company, other_company):
    # given our order from our checkout (found by its metadata), and the other company's unpaid order
    ours = OrderFactory(company=company, channel=Order.Channel.STRIPE, external_id="cs_ours", paid_at=None,
                        status=Order.Status.PENDING)
    theirs = OrderFactory(company=other_company, channel=Order.Channel.STRIPE, external_id="cs_theirs",
                          paid_at=None, status=Order.Status.PENDING)
    post_stripe(client, stripe_event("payment_intent.succeeded", event_id="evt_pi_paid", created=CREATED, obj={
        "id": "pi_paid", "metadata": {"order_id": str(ours.pk), "company": company.slug}}))

    # when
    event = _process("evt_pi_paid")

    # then
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert (event.status, event.company) == (WebhookEvent.Status.PROCESSED, company)
    assert (ours.paid_at, ours.payment_intent_id) == (datetime.fromtimestamp(CREATED, tz=UTC), "pi_paid")
    assert (theirs.paid_at, theirs.payment_intent_id) == (None, "")


def test_a_payment_without_an_intent_id_pays_our_order_and_records_no_intent(client, company, other_company):
    # given our order, and a payment event naming it whose object has no id
    ours = OrderFactory(company=company, channel=Order.Channel.STRIPE, external_id="cs_ours", paid_at=None,
                        status=Order.Status.PENDING)
    OrderFactory(company=other_company, channel=Order.Channel.STRIPE, external_id="cs_theirs")
    event = stripe_event("payment_intent.succeeded", event_id="evt_pi_anon", obj={
        "metadata": {"order_id": str(ours.pk), "company": company.slug}})
    del event["data"]["object"]["id"]
    post_stripe(client, event)

    # when
    event = _process("evt_pi_anon")

    # then
    ours.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert ours.paid_at is not None and ours.payment_intent_id == ""


def test_a_payment_runs_the_refund_that_waited_for_its_intent_and_no_other(client, company, other_company,
                                                                           django_capture_on_commit_callbacks):
    # given our order, a refund of its intent that arrived first (parked: no order knew the intent), and the
    # other company's refund waiting for another intent
    ours = OrderFactory(company=company, channel=Order.Channel.STRIPE, external_id="cs_ours", paid_at=None,
                        status=Order.Status.PENDING, total=Decimal("19.00"))
    OrderFactory(company=other_company, channel=Order.Channel.STRIPE, external_id="cs_theirs",
                 payment_intent_id="pi_theirs_later")
    for event_id, intent in (("evt_ch_ours", "pi_ours"), ("evt_ch_theirs", "pi_theirs")):
        post_stripe(client, stripe_event("charge.refunded", event_id=event_id, obj={
            "payment_intent": intent, "metadata": {}, "amount": 1900, "amount_refunded": 500,
            "refunds": {"object": "list", "data": []}}))
        assert _process(event_id).status == WebhookEvent.Status.PENDING_MATCH
    post_stripe(client, stripe_event("payment_intent.succeeded", event_id="evt_pi_ours", obj={
        "id": "pi_ours", "metadata": {"order_id": str(ours.pk), "company": company.slug}}))

    # when the payment links the intent to our order
    with django_capture_on_commit_callbacks(execute=True):
        _process("evt_pi_ours")

    # then the waiting refund ran and refunded our order; the other one still waits
    ours.refresh_from_db()
    assert WebhookEvent.objects.get(event_id="evt_ch_ours").status == WebhookEvent.Status.PROCESSED
    assert ours.amount_refunded == Decimal("5.00")
    theirs = WebhookEvent.objects.get(event_id="evt_ch_theirs")
    assert (theirs.status, theirs.match_ref, theirs.attempts) == (WebhookEvent.Status.PENDING_MATCH, "pi_theirs", 1)


def test_a_match_never_reruns_an_event_that_failed_for_good(client, company, other_company,
                                                            django_capture_on_commit_callbacks):
    # given a refund that waited for our intent and then failed for good (kept for a person to look at)
    ours = _our_checkout_order(company)
    post_stripe(client, stripe_event("charge.refunded", event_id="evt_ch_failed", obj={
        "payment_intent": "pi_ours", "metadata": {}, "amount": 1900, "amount_refunded": 500,
        "refunds": {"object": "list", "data": []}}))
    WebhookEvent.objects.filter(event_id="evt_ch_failed").update(status=WebhookEvent.Status.FAILED, attempts=2,
                                                                 match_ref="pi_ours", last_error="Traceback ...")
    post_stripe(client, stripe_event("payment_intent.succeeded", event_id="evt_pi_ours", obj={
        "id": "pi_ours", "metadata": {"order_id": str(ours.pk), "company": company.slug}}))

    # when the payment links the intent to our order
    with django_capture_on_commit_callbacks(execute=True):
        _process("evt_pi_ours")

    # then the failed refund is left as it was
    failed = WebhookEvent.objects.get(event_id="evt_ch_failed")
    assert (failed.status, failed.attempts) == (WebhookEvent.Status.FAILED, 2)
    ours.refresh_from_db()
    assert ours.paid_at is not None and ours.amount_refunded == 0


def test_a_metadata_order_id_that_is_not_ours_never_matches_another_order_of_ours(client, company, other_company):
    # given an order of ours, and a payment naming our company with an order id that is not one of our orders
    ours = _our_checkout_order(company)
    theirs = _our_checkout_order(other_company, session="cs_theirs")
    post_stripe(client, stripe_event("payment_intent.succeeded", event_id="evt_pi_other_id", obj={
        "id": "pi_other_id", "metadata": {"order_id": str(theirs.pk), "company": company.slug}}))

    # when
    event = _process("evt_pi_other_id")

    # then it waits for its intent; our order is not paid
    assert (event.status, event.match_ref) == (WebhookEvent.Status.PENDING_MATCH, "pi_other_id")
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.paid_at is None and theirs.paid_at is None


# --- a transient database error: the event fails as transient, naming itself, and nothing is half-written -----

@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("entry", ["webhook_process", "webhook_process_next"])
def test_a_lock_timeout_in_the_handler_fails_the_event_as_transient_and_names_it(entry):
    # given our unpaid order, the other company's, and a payment event for ours; another transaction holds our
    # order's row lock longer than this connection's lock timeout (a real PostgreSQL lock timeout)
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    company, other_company = CompanyFactory(slug="acme"), CompanyFactory(slug="globex")
    ours = OrderFactory(company=company, channel=Order.Channel.STRIPE, external_id="cs_ours", paid_at=None,
                        status=Order.Status.PENDING)
    OrderFactory(company=other_company, channel=Order.Channel.STRIPE, external_id="cs_theirs")
    body = stripe_event("payment_intent.succeeded", event_id="evt_locked", obj={
        "id": "pi_locked", "metadata": {"order_id": str(ours.pk), "company": company.slug}})
    pk = WebhookEvent.objects.create(provider="stripe", event_id=body["id"], event_type=body["type"],
                                     payload=body).pk
    s = connection.settings_dict
    holder = psycopg.connect(dbname=s["NAME"], user=s["USER"], password=s["PASSWORD"] or None,
                             host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432)
    try:
        holder.execute("SELECT id FROM commerce_order WHERE id = %s FOR UPDATE", [ours.pk])
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        # when
        try:
            with pytest.raises(TransientWebhookError) as raised:
                webhook_process(event_id=pk) if entry == "webhook_process" else webhook_process_next()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    finally:
        holder.rollback()
        holder.close()

    # then the error names the event and says what happened; the event is failed as transient (to be retried),
    # with no processing time, and the order is untouched
    event = WebhookEvent.objects.get(pk=pk)
    assert raised.value.event_id == pk and "lock timeout" in str(raised.value)
    assert (event.status, event.attempts, event.processed_at) == (WebhookEvent.Status.FAILED, 1, None)
    assert event.last_error == f"transient: {raised.value}"
    ours.refresh_from_db()
    assert (ours.paid_at, ours.payment_intent_id) == (None, "")

    # when it is retried with the lock released
    event = webhook_process(event_id=pk)

    # then it is processed and its error cleared
    assert (event.status, event.attempts, event.last_error, event.match_ref) == (WebhookEvent.Status.PROCESSED, 2,
                                                                                 "", "")
    assert event.processed_at is not None
    ours.refresh_from_db()
    assert ours.paid_at is not None and ours.payment_intent_id == "pi_locked"


# --- the event's row: as stored, ignored, parked with a long reference, failed for good ---------------------------

def test_a_received_event_is_stored_waiting_with_nothing_done_yet(client, company):
    # given
    before = timezone.now()

    # when an event is received (its processing waits for the commit, which never comes in this test)
    post_stripe(client, stripe_event("payment_intent.succeeded", event_id="evt_stored"))
    post_shopify(client, shopify_fixture("orders_create"), topic="orders/create", shop="acme.myshopify.com",
                 event_id="e-stored", webhook_id="wh-1")

    # then both rows wait, untouched
    rows = WebhookEvent.objects.order_by("provider").values_list(
        "provider", "event_type", "webhook_id", "status", "attempts", "last_error", "match_ref", "company",
        "processed_at")
    assert list(rows) == [
        ("shopify", "orders/create", "wh-1", WebhookEvent.Status.RECEIVED, 0, "", "", None, None),
        ("stripe", "payment_intent.succeeded", "", WebhookEvent.Status.RECEIVED, 0, "", "", None, None)]
    assert all(before <= at <= timezone.now() for at in WebhookEvent.objects.values_list("received_at", flat=True))


def test_an_event_of_a_type_we_do_not_handle_is_ignored_once(client, company):
    # given
    post_stripe(client, stripe_event("charge.refund.updated", event_id="evt_ignored"))

    # when it is processed, then delivered to a worker again
    first = _process("evt_ignored")
    processed_at = first.processed_at
    again = _process("evt_ignored")

    # then it is ignored once: the second run leaves it as it was
    assert (again.status, again.attempts, again.last_error, again.match_ref, again.company) == (
        WebhookEvent.Status.IGNORED, 1, "", "", None)
    assert processed_at is not None and again.processed_at == processed_at


def test_a_reference_longer_than_the_column_is_kept_cut(client, company, other_company):
    # given a payment whose intent id is longer than the 128 characters a reference keeps
    intent = "pi_" + "x" * 197
    post_stripe(client, stripe_event("payment_intent.succeeded", event_id="evt_long_ref", obj={
        "id": intent, "metadata": {"company": company.slug}}))

    # when
    event = _process("evt_long_ref")

    # then
    assert (event.status, event.match_ref, event.company) == (WebhookEvent.Status.PENDING_MATCH, intent[:128],
                                                              company)


def test_an_event_that_fails_for_good_keeps_the_end_of_its_traceback_and_is_logged(client, company, other_company,
                                                                                  caplog):
    # given a payment-link checkout whose session id does not fit the order's column (a database error no retry
    # fixes; its traceback, through the ORM's get_or_create, is long)
    digital_product(company=company, sku="LINK-1")
    digital_product(company=other_company, sku="LINK-1")
    post_stripe(client, _payment_link_checkout(company, event_id="evt_too_long", session="cs_" + "x" * 197))

    # when
    with caplog.at_level(logging.ERROR, logger="commerce.services.webhooks"):
        event = _process("evt_too_long")

    # then it failed, with (at most the last 5000 characters of) its traceback, and the failure is logged
    assert (event.status, event.attempts, event.processed_at) == (WebhookEvent.Status.FAILED, 1, None)
    assert event.last_error.rstrip().endswith("DataError: value too long for type character varying(128)")
    assert 0 < len(event.last_error) <= 5000
    assert [r.getMessage() for r in caplog.records if r.name == "commerce.services.webhooks"] == [
        f"webhook {event.pk} (checkout.session.completed) failed"]
    assert not Order.objects.exists()


def test_the_drain_takes_the_event_received_first_then_the_lower_id(company, other_company):
    # given three waiting events: the newest row was received first; the two others at the same moment, the
    # lower id's row updated last (so the table holds it after the other)
    rows = [WebhookEvent.objects.create(provider="stripe", event_id=f"evt_order_{n}",
                                        event_type="charge.refund.updated", payload={}) for n in range(3)]
    at = timezone.now()
    WebhookEvent.objects.filter(pk=rows[2].pk).update(received_at=at - timedelta(minutes=5))
    WebhookEvent.objects.filter(pk=rows[1].pk).update(received_at=at)
    WebhookEvent.objects.filter(pk=rows[0].pk).update(received_at=at)

    # when the drain claims them one by one
    taken = [webhook_process_next().pk for _ in range(3)]

    # then
    assert taken == [rows[2].pk, rows[0].pk, rows[1].pk]
    assert webhook_process_next() is None
