"""Refunds through the Stripe Refund API (local server), admin action and API."""

from decimal import Decimal

import pytest
from django.utils import timezone

from autonomax.models import Event
from commerce.models import DownloadGrant, Order, Refund
from tests.factories import OrderFactory, OrderItemFactory

from .factories import digital_product

pytestmark = pytest.mark.django_db


def _paid_order(company):
    product = digital_product(company=company)
    order = OrderFactory(company=company, status=Order.Status.FULFILLED, channel="stripe", external_id="cs_1",
                         payment_intent_id="pi_1", total=Decimal("19.00"), fulfilled_at=timezone.now())
    OrderItemFactory(order=order, product=product)
    DownloadGrant.objects.create(company=company, order=order, product=product, expires_at=timezone.now())
    return order


def test_api_refund_calls_stripe_with_idempotency_key_and_revokes_the_grant(owner_api, company, stripe_server,
                                                                           django_capture_on_commit_callbacks):
    # given
    _, api = owner_api
    order = _paid_order(company)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/orders/{order.pk}/refund/", {"reason": "asked nicely"}, format="json")
    # then
    assert response.status_code == 201, response.content
    refund = Refund.objects.get()
    assert refund.status == Refund.Status.SUCCEEDED and refund.external_id.startswith("re_test_")
    call = [r for r in stripe_server.requests if r["path"] == "/v1/refunds"][0]
    assert call["headers"]["Idempotency-Key"] == str(refund.idempotency_key)
    assert b"payment_intent=pi_1" in call["body"] and b"amount=1900" in call["body"]
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert DownloadGrant.objects.get(order=order).revoked_at is not None
    assert Event.objects.filter(name="refund.issued", company=company).count() == 1


def test_refund_network_error_leaves_order_unchanged_and_retry_reuses_the_key(owner_api, company, stripe_server):
    # given
    _, api = owner_api
    order = _paid_order(company)
    stripe_server.fail_next = [(500, {"error": {"type": "api_error", "message": "boom"}})] * 3
    # when
    failed = api.post(f"/api/v1/orders/{order.pk}/refund/", {}, format="json")
    # then
    assert failed.status_code == 502
    assert failed.json()["error"]["code"] == "stripe_error"
    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED and order.amount_refunded == 0
    pending = Refund.objects.get()
    assert pending.status == Refund.Status.PENDING
    # when: retried
    retried = api.post(f"/api/v1/orders/{order.pk}/refund/", {}, format="json")
    # then: same refund row, same key, one refund at Stripe
    assert retried.status_code == 201
    keys = {r["headers"]["Idempotency-Key"] for r in stripe_server.requests if r["path"] == "/v1/refunds"}
    assert keys == {str(pending.idempotency_key)}
    assert len(stripe_server.refunds) == 1
    assert Refund.objects.get().status == Refund.Status.SUCCEEDED


def test_refund_rejected_by_stripe_is_closed_as_failed(owner_api, company, stripe_server):
    # given
    _, api = owner_api
    order = _paid_order(company)
    stripe_server.fail_next = [(400, {"error": {"type": "invalid_request_error",
                                                 "message": "Charge ch_1 has already been refunded."}})]
    # when
    response = api.post(f"/api/v1/orders/{order.pk}/refund/", {}, format="json")
    # then
    assert response.status_code == 502
    assert "already been refunded" in response.json()["error"]["message"]
    assert Refund.objects.get().status == Refund.Status.FAILED
    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED


def test_refund_more_than_paid_is_a_422(owner_api, company, stripe_server):
    # given
    _, api = owner_api
    order = _paid_order(company)
    # when
    response = api.post(f"/api/v1/orders/{order.pk}/refund/", {"amount": "25.00"}, format="json")
    # then
    assert response.status_code == 422
    assert not Refund.objects.exists()
    assert stripe_server.requests == []


def test_viewer_cannot_refund(viewer_api, company, stripe_server):
    # given
    _, api = viewer_api
    order = _paid_order(company)
    # when
    response = api.post(f"/api/v1/orders/{order.pk}/refund/", {}, format="json")
    # then
    assert response.status_code == 403
    assert not Refund.objects.exists()


def test_other_companys_order_is_not_found(owner_api, stripe_server):
    # given
    _, api = owner_api
    order = _paid_order(OrderFactory().company)
    # when
    response = api.post(f"/api/v1/orders/{order.pk}/refund/", {}, format="json")
    # then
    assert response.status_code == 404


def test_admin_refund_action(admin_client, company, stripe_server, django_capture_on_commit_callbacks):
    # given
    order = _paid_order(company)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/commerce/order/", {"action": "refund_in_full",
                                                                "_selected_action": [order.pk]}, follow=True)
    # then
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
