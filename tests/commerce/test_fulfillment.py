"""Fulfillment by product kind: service -> a scheduling task and confirmation; subscription -> activation."""

from decimal import Decimal

import pytest
from django.core import mail

from autonomax.models import Event
from commerce.models import IncomeStream, Order, Product, ServiceTask, Subscription
from tests.factories import OrderFactory, OrderItemFactory, ProductFactory

from .factories import post_stripe, stripe_event

pytestmark = pytest.mark.django_db


def _checkout(client, company, product, *, subscription=None, event_id="evt_f1"):
    order = OrderFactory(company=company, status=Order.Status.PENDING, paid_at=None, channel="stripe",
                         external_id=f"cs_{event_id}", customer=None, total=product.price)
    OrderItemFactory(order=order, product=product)
    event = stripe_event("checkout.session.completed", event_id=event_id, obj={
        "id": order.external_id, "payment_intent": f"pi_{event_id}", "subscription": subscription,
        "mode": "subscription" if subscription else "payment",
        "metadata": {"order_id": str(order.pk), "company": company.slug},
        "customer_details": {"email": "client@example.com"}})
    post_stripe(client, event)
    return order


def test_service_order_creates_scheduling_task_and_confirmation(client, company,
                                                                django_capture_on_commit_callbacks):
    # given
    product = ProductFactory(company=company, kind=Product.Kind.SERVICE, name="Shop Audit Call",
                             price=Decimal("120.00"))
    # when
    with django_capture_on_commit_callbacks(execute=True):
        order = _checkout(client, company, product)
    # then
    order.refresh_from_db()
    task = ServiceTask.objects.get(order=order)
    assert task.status == ServiceTask.Status.TO_SCHEDULE and task.confirmed_at is not None
    assert order.status == Order.Status.FULFILLED
    assert order.confirmation_due_at is not None and order.confirmation_emailed_at is not None
    assert order.income_stream.kind == IncomeStream.Kind.SERVICES
    assert len(mail.outbox) == 1 and "schedule" in mail.outbox[0].body
    paid = Event.objects.get(name="order.paid")
    assert paid.payload["total"] == "120.00" and paid.payload["income_stream"] == "services"


def test_subscription_order_activates_then_cancel_deactivates(client, company, django_capture_on_commit_callbacks):
    # given
    product = ProductFactory(company=company, kind=Product.Kind.SUBSCRIPTION, price=Decimal("9.00"))
    # when
    with django_capture_on_commit_callbacks(execute=True):
        order = _checkout(client, company, product, subscription="sub_live_1")
    # then
    order.refresh_from_db()
    subscription = Subscription.objects.get()
    assert subscription.external_id == "sub_live_1" and subscription.order == order
    assert subscription.status == Subscription.Status.ACTIVE and subscription.customer.email == "client@example.com"
    assert order.income_stream.kind == IncomeStream.Kind.SUBSCRIPTIONS
    # when: Stripe says it ended
    deleted = stripe_event("customer.subscription.deleted", event_id="evt_del",
                           obj={"id": "sub_live_1", "metadata": {}, "customer": "cus_x"})
    with django_capture_on_commit_callbacks(execute=True):
        post_stripe(client, deleted)
    # then
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.CANCELLED


def test_delivery_email_is_sent_once_even_when_the_task_runs_twice(company):
    # given
    from django.utils import timezone

    from commerce.models import DownloadGrant
    from commerce.services.fulfillment import digital_delivery_send

    from .factories import digital_product

    product = digital_product(company=company)
    order = OrderFactory(company=company)
    DownloadGrant.objects.create(company=company, order=order, product=product, expires_at=timezone.now())
    grant = DownloadGrant.objects.get()
    # when
    first = digital_delivery_send(grant_id=grant.pk)
    second = digital_delivery_send(grant_id=grant.pk)
    # then
    assert (first, second) == (True, False)
    assert len(mail.outbox) == 1


def test_a_failed_delivery_send_releases_its_lease_so_the_retry_sends(company, monkeypatch):
    # given a grant whose first send fails at the mail server
    import smtplib

    from django.core.mail.backends.locmem import EmailBackend
    from django.utils import timezone

    from commerce.models import DownloadGrant
    from commerce.services.fulfillment import digital_delivery_send

    from .factories import digital_product

    product = digital_product(company=company)
    grant = DownloadGrant.objects.create(company=company, order=OrderFactory(company=company), product=product,
                                         expires_at=timezone.now())
    real_send = EmailBackend.send_messages
    monkeypatch.setattr(EmailBackend, "send_messages", lambda self, messages: (_ for _ in ()).throw(
        smtplib.SMTPServerDisconnected("gone")))

    # when it fails, then the task's retry runs
    with pytest.raises(smtplib.SMTPServerDisconnected):
        digital_delivery_send(grant_id=grant.pk)
    failed = DownloadGrant.objects.get(pk=grant.pk)
    monkeypatch.setattr(EmailBackend, "send_messages", real_send)
    retried = digital_delivery_send(grant_id=grant.pk)

    # then the failure left it unsent and unheld, and the retry sent it
    assert (failed.emailed_at, failed.email_claimed_at) == (None, None)
    assert retried is True and len(mail.outbox) == 1
    assert DownloadGrant.objects.get(pk=grant.pk).emailed_at is not None
