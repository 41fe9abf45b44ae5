"""Nightly reconciliation fills in what webhooks missed, idempotently."""

from decimal import Decimal

import pytest

from commerce.apps import CommerceConfig  # noqa: F401 - ready() registers the beat entry
from commerce.models import Order, WebhookEvent
from commerce.services.reconciliation import reconcile_shopify, reconcile_stripe
from tests.factories import OrderFactory, OrderItemFactory

from .factories import ChannelConnectionFactory, digital_product, stripe_event

pytestmark = pytest.mark.django_db


def test_missed_stripe_payment_is_filled_in_once(company, stripe_server, django_capture_on_commit_callbacks):
    # given: an order whose checkout.session.completed webhook never arrived
    product = digital_product(company=company)
    order = OrderFactory(company=company, status=Order.Status.PENDING, paid_at=None, channel="stripe",
                         external_id="cs_missed", customer=None)
    OrderItemFactory(order=order, product=product)
    stripe_server.events = [stripe_event(
        "checkout.session.completed", event_id="evt_missed",
        obj={"id": "cs_missed", "payment_intent": "pi_m", "metadata": {"order_id": str(order.pk),
                                                                       "company": company.slug}})]
    # when: run twice
    with django_capture_on_commit_callbacks(execute=True):
        first = reconcile_stripe()
        second = reconcile_stripe()
    # then
    assert first == {"seen": 1, "added": 1} and second == {"seen": 1, "added": 0}
    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    assert WebhookEvent.objects.get().headers == {"X-Source": "reconciliation"}
    listed = [r for r in stripe_server.requests if r["path"].startswith("/v1/events")]
    assert "types" in listed[0]["path"] and "created" in listed[0]["path"]


def test_missed_shopify_order_is_filled_in_once(company, shopify_server, django_capture_on_commit_callbacks):
    # given
    ChannelConnectionFactory(company=company)
    shopify_server.orders = [{
        "id": "gid://shopify/Order/820982911946154508", "legacyResourceId": "820982911946154508",
        "email": "jon@example.com", "createdAt": "2026-11-20T10:00:00Z", "processedAt": "2026-11-20T10:00:00Z",
        "cancelledAt": None, "displayFinancialStatus": "PAID", "currencyCode": "USD",
        "totalPriceSet": {"shopMoney": {"amount": "89.99"}},
        "lineItems": {"nodes": [{"sku": "NOPE", "title": "Aviator sunglasses", "quantity": 1,
                                 "originalUnitPriceSet": {"shopMoney": {"amount": "89.99"}}}]},
    }]
    # when
    with django_capture_on_commit_callbacks(execute=True):
        reconcile_shopify()
        reconcile_shopify()
    # then
    order = Order.objects.get(channel="shopify")
    assert order.external_id == "820982911946154508" and order.total == Decimal("89.99")
    assert order.paid_at is not None and order.customer.email == "jon@example.com"


def test_nightly_task_is_in_the_beat_schedule(settings):
    # then
    entry = settings.CELERY_BEAT_SCHEDULE["commerce-reconcile-nightly"]
    assert entry["task"] == "commerce.tasks.reconcile_nightly_task"
