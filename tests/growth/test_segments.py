"""Email segments read the customers' orders through the commerce selectors."""

from datetime import timedelta

import pytest
from django.utils import timezone

from commerce.models import CustomerConsent, Order
from growth.services import email_segment_recipients
from tests.factories import CustomerConsentFactory, CustomerFactory, OrderFactory, consenting_customer

pytestmark = pytest.mark.django_db


def test_pending_checkouts_are_recent_unpaid_orders_not_since_paid(company):
    # given: a recent pending checkout; one later paid; one too old; another company's
    now = timezone.now()
    waiting = consenting_customer(company=company, email="waiting@example.com")
    OrderFactory(company=company, customer=waiting, status=Order.Status.PENDING, created_at=now - timedelta(days=2))
    paid = consenting_customer(company=company, email="paid@example.com")
    OrderFactory(company=company, customer=paid, status=Order.Status.PENDING, created_at=now - timedelta(days=2))
    OrderFactory(company=company, customer=paid, created_at=now - timedelta(days=1))
    old = consenting_customer(company=company, email="old@example.com")
    OrderFactory(company=company, customer=old, status=Order.Status.PENDING, created_at=now - timedelta(days=10))
    OrderFactory(status=Order.Status.PENDING, created_at=now - timedelta(days=2))

    # when
    people = email_segment_recipients(company=company, segment="pending_checkouts", now=now)

    # then
    assert [p["email"] for p in people] == ["waiting@example.com"]


def test_lapsed_customers_last_bought_30_to_180_days_ago(company):
    # given: last purchase 60 days ago; 10 days ago; 200 days ago; 60 days ago then again 5 days ago
    now = timezone.now()
    for email, ages in [("lapsed@example.com", [60]), ("recent@example.com", [10]), ("gone@example.com", [200]),
                        ("back@example.com", [60, 5])]:
        customer = consenting_customer(company=company, email=email)
        for days in ages:
            OrderFactory(company=company, customer=customer, created_at=now - timedelta(days=days))

    # when
    people = email_segment_recipients(company=company, segment="lapsed_customers", now=now)

    # then
    assert [p["email"] for p in people] == ["lapsed@example.com"]


def test_customer_segments_hold_only_customers_who_consented_and_did_not_withdraw(company):
    # given four lapsed customers: consented; never asked; consented then withdrew; withdrew then consented again
    now = timezone.now()
    people = {}
    for email in ("yes@example.com", "never@example.com", "withdrew@example.com", "again@example.com"):
        people[email] = CustomerFactory(company=company, email=email)
        OrderFactory(company=company, customer=people[email], created_at=now - timedelta(days=60))
    CustomerConsentFactory(customer=people["yes@example.com"])
    CustomerConsentFactory(customer=people["withdrew@example.com"], recorded_at=now - timedelta(days=9))
    CustomerConsentFactory(customer=people["withdrew@example.com"], status=CustomerConsent.Status.WITHDRAWN,
                           source="unsubscribe_link", recorded_at=now - timedelta(days=3))
    CustomerConsentFactory(customer=people["again@example.com"], status=CustomerConsent.Status.WITHDRAWN,
                           recorded_at=now - timedelta(days=9))
    CustomerConsentFactory(customer=people["again@example.com"], recorded_at=now - timedelta(days=3))
    # and another company's consenting customer with the same history
    other = consenting_customer(email="yes@example.com")
    OrderFactory(company=other.company, customer=other, created_at=now - timedelta(days=60))

    # when
    lapsed = email_segment_recipients(company=company, segment="lapsed_customers", now=now)

    # then
    assert [p["email"] for p in lapsed] == ["again@example.com", "yes@example.com"]
