"""Customers' marketing consent: recorded with source, time and wording; marketing email only to consenting
customers; transactional email unaffected; RFC 8058 one-click unsubscribe headers."""

import json
from decimal import Decimal

import pytest
from django.core import mail

from commerce.models import Customer, CustomerConsent, Order
from commerce.services.consent import CHECKOUT_WORDING, customer_consent_record
from growth.models import Unsubscribe
from growth.services import email_segment_send
from tests.factories import CustomerConsentFactory, CustomerFactory, OrderFactory, OrderItemFactory

from .factories import (
    ChannelConnectionFactory,
    digital_product,
    post_shopify,
    post_stripe,
    shopify_fixture,
    stripe_event,
)

pytestmark = pytest.mark.django_db


def test_ticking_the_box_at_checkout_records_consent_with_the_words_shown(client, company, stripe_server):
    # given
    product = digital_product(company=company)
    page = client.get(f"/p/{product.slug}/").content.decode()
    assert CHECKOUT_WORDING in page and 'name="marketing_consent"' in page

    # when one buyer ticks the box and another does not
    client.post(f"/p/{product.slug}/buy/", {"email": "yes@example.com", "marketing_consent": "1"})
    client.post(f"/p/{product.slug}/buy/", {"email": "no@example.com"})

    # then only the first has a consent record: source, time and the exact wording
    consent = CustomerConsent.objects.get()
    assert consent.customer.email == "yes@example.com" and consent.status == CustomerConsent.Status.GRANTED
    assert consent.source == "checkout_form" and consent.wording == CHECKOUT_WORDING and consent.recorded_at
    assert not CustomerConsent.objects.filter(customer__email="no@example.com").exists()


def test_stripe_checkout_promotions_opt_in_is_recorded(client, company, django_capture_on_commit_callbacks):
    product = digital_product(company=company)
    order = OrderFactory(company=company, status=Order.Status.PENDING, paid_at=None, channel="stripe",
                         external_id="cs_test_consent", customer=None, total=Decimal("19.00"))
    OrderItemFactory(order=order, product=product)
    event = stripe_event("checkout.session.completed", event_id="evt_consent", obj={
        "id": order.external_id, "metadata": {"order_id": str(order.pk), "company": company.slug},
        "payment_intent": "pi_consent", "customer_details": {"email": "opt@example.com"},
        "consent": {"promotions": "opt_in"}})
    with django_capture_on_commit_callbacks(execute=True):
        post_stripe(client, event)
    consent = CustomerConsent.objects.get()
    assert consent.customer.email == "opt@example.com" and consent.source == "stripe_checkout"


@pytest.mark.parametrize("state, expected", [("subscribed", CustomerConsent.Status.GRANTED),
                                             ("unsubscribed", CustomerConsent.Status.WITHDRAWN)])
def test_shopify_email_marketing_consent_is_recorded(client, company, django_capture_on_commit_callbacks, state,
                                                     expected):
    connection = ChannelConnectionFactory(company=company)
    body = json.loads(shopify_fixture("orders_paid"))
    body["customer"] = {**(body.get("customer") or {}), "email_marketing_consent": {
        "state": state, "opt_in_level": "single_opt_in", "consent_updated_at": "2026-11-01T10:00:00Z"}}
    with django_capture_on_commit_callbacks(execute=True):
        post_shopify(client, json.dumps(body).encode(), topic="orders/paid", shop=connection.shop_domain,
                     event_id="ev-consent")
    consent = CustomerConsent.objects.get()
    assert consent.status == expected and consent.source == "shopify"
    assert consent.recorded_at.isoformat().startswith("2026-11-01T10:00")


def test_recording_needs_a_source_and_wording_and_a_repeat_records_nothing(company):
    customer = CustomerFactory(company=company)
    assert customer_consent_record(customer=customer, granted=True, source="admin", wording="Newsletter: yes")
    assert customer_consent_record(customer=customer, granted=True, source="admin", wording="Newsletter: yes") \
        is None
    from autonomax.errors import AppError

    with pytest.raises(AppError):
        customer_consent_record(customer=customer, granted=True, source="admin", wording="")
    assert CustomerConsent.objects.count() == 1


def test_every_marketing_email_carries_one_click_unsubscribe_headers(company):
    # given a consenting customer with a pending checkout
    customer = CustomerFactory(company=company, email="wait@example.com")
    CustomerConsentFactory(customer=customer)
    OrderFactory(company=company, customer=customer, status=Order.Status.PENDING, paid_at=None)

    # when
    email_segment_send(company=company, segment="pending_checkouts", subject="Still there?", body="Hi {name}",
                       send_key="k1")

    # then
    [message] = mail.outbox
    assert message.extra_headers["List-Unsubscribe"].startswith("<https://shop.example.com/u/")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_transactional_email_ignores_consent(client, company, django_capture_on_commit_callbacks):
    # given a buyer who never consented and is on the unsubscribe list
    Unsubscribe.objects.create(company=company, email="quiet@example.com")
    product = digital_product(company=company)
    order = OrderFactory(company=company, status=Order.Status.PENDING, paid_at=None, channel="stripe",
                         external_id="cs_test_quiet", customer=None, total=Decimal("19.00"))
    OrderItemFactory(order=order, product=product)
    event = stripe_event("checkout.session.completed", event_id="evt_quiet", obj={
        "id": order.external_id, "metadata": {"order_id": str(order.pk), "company": company.slug},
        "payment_intent": "pi_quiet", "customer_details": {"email": "quiet@example.com"}})

    # when they pay
    with django_capture_on_commit_callbacks(execute=True):
        post_stripe(client, event)

    # then the download still goes out: it is what they bought, not marketing
    assert [m.to for m in mail.outbox] == [["quiet@example.com"]]
    assert "List-Unsubscribe" not in mail.outbox[0].extra_headers
    assert not Customer.objects.get(email="quiet@example.com").consents.exists()
