"""Webhook processing with a second company's data present: every look-up is scoped to the event's company,
an unmatched event is parked (never dropped), and the event row is locked while it is processed."""

import json
import threading
import time
from decimal import Decimal

import pytest
from django.db import connection

from commerce.models import Order, Refund, WebhookEvent
from commerce.services import webhooks
from commerce.services.webhooks import webhook_process
from tests.factories import CompanyFactory, OrderFactory, OrderItemFactory

from .factories import ChannelConnectionFactory, digital_product, post_shopify, post_stripe, stripe_event

pytestmark = pytest.mark.django_db


def _stripe_order(company, *, session):
    order = OrderFactory(company=company, status=Order.Status.PENDING, paid_at=None, channel="stripe",
                         external_id=session, customer=None, total=Decimal("19.00"))
    OrderItemFactory(order=order, product=digital_product(company=company))
    return order


def _process(event_id):
    return webhook_process(event_id=WebhookEvent.objects.get(event_id=event_id).pk)


def test_a_metadata_order_id_of_another_company_never_matches(client, company, other_company):
    # given the other company's order, and an event naming its id with OUR company in the metadata
    theirs = _stripe_order(other_company, session="cs_theirs")
    post_stripe(client, stripe_event("checkout.session.completed", event_id="evt_x", obj={
        "id": "cs_unknown", "payment_intent": "pi_x", "metadata": {"order_id": str(theirs.pk), "company": "acme"},
        "customer_details": {"email": "a@example.com"}}))

    # when
    event = _process("evt_x")

    # then it waits for our order; theirs is untouched
    assert event.status == WebhookEvent.Status.PENDING_MATCH and event.match_ref == "cs_unknown"
    assert event.company == company
    theirs.refresh_from_db()
    assert theirs.paid_at is None and theirs.customer_id is None and theirs.payment_intent_id == ""


def test_the_metadata_order_id_finds_our_order(client, company, other_company):
    ours = _stripe_order(company, session="cs_ours")
    _stripe_order(other_company, session="cs_theirs")
    post_stripe(client, stripe_event("checkout.session.completed", event_id="evt_ok", obj={
        "id": "cs_other_session", "payment_intent": "pi_ok",
        "metadata": {"order_id": str(ours.pk), "company": company.slug},
        "customer_details": {"email": "a@example.com"}}))

    event = _process("evt_ok")

    ours.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED and event.company == company
    assert ours.paid_at is not None and ours.payment_intent_id == "pi_ok"


def test_an_unmatched_checkout_is_parked_with_its_session_and_runs_when_the_order_arrives(client, company):
    # given a completed session for an order we do not know yet
    post_stripe(client, stripe_event("checkout.session.completed", event_id="evt_early", obj={
        "id": "cs_later", "payment_intent": "pi_later", "metadata": {"company": company.slug},
        "customer_details": {"email": "a@example.com"}}))

    # when
    event = _process("evt_early")

    # then it is parked, not dropped or ignored, with what it waits for
    assert event.status == WebhookEvent.Status.PENDING_MATCH
    assert (event.match_ref, event.company) == ("cs_later", company)
    assert event.attempts == 1 and event.processed_at is not None

    # when the order exists and the event runs again, it is applied
    order = _stripe_order(company, session="cs_later")
    event = _process("evt_early")
    order.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED and event.match_ref == "" and order.paid_at is not None


def test_a_payment_for_another_companys_intent_is_not_applied_to_ours(client, company, other_company):
    # given only the other company has an order with this payment intent
    theirs = _stripe_order(other_company, session="cs_t")
    Order.objects.filter(pk=theirs.pk).update(payment_intent_id="pi_shared")
    ours = _stripe_order(company, session="cs_o")
    post_stripe(client, stripe_event("payment_intent.succeeded", event_id="evt_pi", obj={
        "id": "pi_shared", "metadata": {"order_id": str(ours.pk), "company": company.slug}}))

    # when
    event = _process("evt_pi")

    # then the metadata's order of the event's company is the one paid
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED and event.company == company
    assert ours.paid_at is not None and theirs.paid_at is None


def _shopify_refund(client, *, shop, order_external_id, event_id="r1"):
    body = json.dumps({"id": 9001, "order_id": int(order_external_id), "note": "damaged",
                       "transactions": [{"kind": "refund", "status": "success", "amount": "5.00"}]}).encode()
    assert post_shopify(client, body, topic="refunds/create", shop=shop, event_id=event_id).status_code == 200


def test_a_shopify_refund_never_touches_another_companys_order_with_the_same_id(client, company, other_company):
    # given both companies connect a shop; only the other one has Shopify order 5551
    ours = ChannelConnectionFactory(company=company, shop_domain="ours.myshopify.com")
    ChannelConnectionFactory(company=other_company, shop_domain="theirs.myshopify.com")
    theirs = OrderFactory(company=other_company, channel=Order.Channel.SHOPIFY, external_id="5551",
                          total=Decimal("20.00"))

    # when our shop reports a refund of its order 5551
    _shopify_refund(client, shop=ours.shop_domain, order_external_id="5551")
    event = _process("refunds/create:r1")

    # then it waits for our order 5551; the other company's order is not refunded
    assert event.status == WebhookEvent.Status.PENDING_MATCH and event.company == company
    assert event.match_ref == "shopify-order:5551"
    theirs.refresh_from_db()
    assert theirs.amount_refunded == 0 and not Refund.objects.exists()


def test_a_shopify_refund_is_recorded_on_the_shops_own_order(client, company, other_company):
    ours = ChannelConnectionFactory(company=company, shop_domain="ours.myshopify.com")
    ChannelConnectionFactory(company=other_company, shop_domain="theirs.myshopify.com")
    theirs = OrderFactory(company=other_company, channel=Order.Channel.SHOPIFY, external_id="5551",
                          total=Decimal("20.00"))
    mine = OrderFactory(company=company, channel=Order.Channel.SHOPIFY, external_id="5551", total=Decimal("20.00"))

    _shopify_refund(client, shop=ours.shop_domain, order_external_id="5551")
    event = _process("refunds/create:r1")

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert mine.amount_refunded == Decimal("5.00") and theirs.amount_refunded == 0
    assert list(Refund.objects.values_list("order_id", "company_id")) == [(mine.pk, company.pk)]


@pytest.mark.django_db(transaction=True)
def test_two_workers_processing_one_event_run_its_handler_once(monkeypatch):
    # given a stored event, and a handler slow enough that two deliveries overlap
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    company = CompanyFactory(slug="lock-co")
    order = _stripe_order(company, session="cs_lock")
    pk = WebhookEvent.objects.create(  # stored without enqueueing (tasks would run inline here)
        provider="stripe", event_id="evt_lock", event_type="checkout.session.completed",
        payload=stripe_event("checkout.session.completed", event_id="evt_lock", obj={
            "id": "cs_lock", "metadata": {"order_id": str(order.pk), "company": company.slug}})).pk
    real = webhooks.HANDLERS[("stripe", "checkout.session.completed")]
    calls = []

    def slow(event):
        calls.append(event.pk)
        time.sleep(0.5)
        return real(event)

    monkeypatch.setitem(webhooks.HANDLERS, ("stripe", "checkout.session.completed"), slow)
    barrier = threading.Barrier(2)

    def deliver():
        try:
            barrier.wait()
            webhook_process(event_id=pk)
        finally:
            connection.close()

    # when two workers get the same event at once
    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    # then the second waited for the first's row lock, saw it processed and did nothing
    event = WebhookEvent.objects.get(pk=pk)
    assert len(calls) == 1 and event.attempts == 1 and event.status == WebhookEvent.Status.PROCESSED
