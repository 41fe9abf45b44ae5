"""The recovery sweep: webhook events and download emails a dead worker lost are found and sent again, once."""

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core import mail
from django.db import IntegrityError, OperationalError
from django.utils import timezone

from commerce.models import DownloadGrant, Order, WebhookEvent
from commerce.services import webhooks
from commerce.services.recovery import STALE_AFTER, TRANSIENT_STALE_AFTER, recovery_sweep
from commerce.tasks import webhook_process_task
from tests.factories import CustomerFactory, OrderFactory, OrderItemFactory

from .factories import digital_product, post_stripe, stripe_event

pytestmark = pytest.mark.django_db


def _order(company, *, session="cs_lost"):
    product = digital_product(company=company)
    order = OrderFactory(company=company, status=Order.Status.PENDING, paid_at=None, channel="stripe",
                         external_id=session, customer=None, total=Decimal("19.00"))
    OrderItemFactory(order=order, product=product)
    return order


def _checkout(order, *, event_id="evt_cs_lost", intent="pi_lost"):
    return stripe_event("checkout.session.completed", event_id=event_id, obj={
        "id": order.external_id, "payment_intent": intent,
        "metadata": {"order_id": str(order.pk), "company": order.company.slug},
        "customer_details": {"email": "buyer@example.com", "name": "Bea"}})


def _unsent_grant(company):
    """A paid order's download grant whose email to b@example.com has not gone out."""
    product = digital_product(company=company)
    order = OrderFactory(company=company, customer=CustomerFactory(company=company, email="b@example.com"))
    OrderItemFactory(order=order, product=product)
    return product, DownloadGrant.objects.create(company=company, order=order, product=product,
                                                 expires_at=timezone.now() + timedelta(hours=20))


def _age(*, minutes, **filters):
    WebhookEvent.objects.filter(**filters).update(received_at=timezone.now() - timedelta(minutes=minutes))


def test_an_event_whose_task_died_is_processed_by_the_sweep_once_and_its_waiting_payment_follows(
        client, company, other_company, django_capture_on_commit_callbacks, caplog):
    # given a checkout event stored but never processed (its task died with the worker: 0 attempts),
    # and the payment event for it that was processed first and parked waiting for the order
    order = _order(company)
    post_stripe(client, _checkout(order))
    payment = stripe_event("payment_intent.succeeded", event_id="evt_pi_lost", obj={"id": "pi_lost", "metadata": {}})
    post_stripe(client, payment)
    webhooks.webhook_process(event_id=WebhookEvent.objects.get(event_id="evt_pi_lost").pk)
    _age(minutes=10, event_id__in=["evt_cs_lost", "evt_pi_lost"])
    # and another company's event received just now (its task is still on its way): not the sweep's
    other_order = _order(other_company, session="cs_other")
    post_stripe(client, _checkout(other_order, event_id="evt_cs_other", intent="pi_other"))

    # when the sweep runs
    with caplog.at_level(logging.WARNING, logger="commerce.services.recovery"), \
            django_capture_on_commit_callbacks(execute=True):
        report = recovery_sweep()

    # then the lost event was re-enqueued and processed, and the parked payment resolved with it
    lost = WebhookEvent.objects.get(event_id="evt_cs_lost")
    assert report["webhook_events"] == [lost.pk]
    assert lost.status == WebhookEvent.Status.PROCESSED and lost.attempts == 1 and lost.requeued_at is not None
    assert WebhookEvent.objects.get(event_id="evt_pi_lost").status == WebhookEvent.Status.PROCESSED
    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED and order.paid_at is not None
    assert DownloadGrant.objects.filter(order=order).count() == 1
    assert len(mail.outbox) == 1
    assert "re-enqueued 1 webhook event" in caplog.text
    # the other company's fresh event is left to its own task
    assert WebhookEvent.objects.get(event_id="evt_cs_other").status == WebhookEvent.Status.RECEIVED

    # when the sweep runs again: nothing to do, nothing doubled
    with django_capture_on_commit_callbacks(execute=True):
        again = recovery_sweep()
    assert again == {"webhook_events": [], "delivery_emails": [], "order_confirmations": []}
    assert len(mail.outbox) == 1 and DownloadGrant.objects.filter(order=order).count() == 1


def test_a_requeued_event_is_not_requeued_again_before_it_is_stale_again(client, company,
                                                                         django_capture_on_commit_callbacks):
    # given a lost event the sweep re-enqueued, whose new task is lost as well
    post_stripe(client, _checkout(_order(company)))
    _age(minutes=10, event_id="evt_cs_lost")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert len(recovery_sweep()["webhook_events"]) == 1
    assert len(callbacks) == 1

    # then a sweep at once leaves it alone; one after STALE_AFTER sends it again
    assert recovery_sweep()["webhook_events"] == []
    later = timezone.now() + STALE_AFTER + timedelta(seconds=1)
    assert len(recovery_sweep(now=later)["webhook_events"]) == 1


def test_a_transiently_failed_event_whose_retries_died_is_swept_after_the_backoff(
        client, company, monkeypatch, django_capture_on_commit_callbacks):
    # given an event that failed with a transient database error; its retry chain died with the worker
    order = _order(company)
    post_stripe(client, _checkout(order))
    event = WebhookEvent.objects.get(event_id="evt_cs_lost")
    WebhookEvent.objects.filter(pk=event.pk).update(
        status=WebhookEvent.Status.FAILED, attempts=1, last_error="transient: server closed the connection",
        received_at=timezone.now() - TRANSIENT_STALE_AFTER - timedelta(minutes=1))
    # and a terminal failure (not transient) of the same age: a person looks at that one
    post_stripe(client, _checkout(order, event_id="evt_cs_bad"))
    WebhookEvent.objects.filter(event_id="evt_cs_bad").update(
        status=WebhookEvent.Status.FAILED, attempts=1, last_error="Traceback ... KeyError",
        received_at=timezone.now() - TRANSIENT_STALE_AFTER - timedelta(minutes=1))

    # when
    with django_capture_on_commit_callbacks(execute=True):
        report = recovery_sweep()

    # then
    assert report["webhook_events"] == [event.pk]
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED and event.attempts == 2
    assert WebhookEvent.objects.get(event_id="evt_cs_bad").status == WebhookEvent.Status.FAILED


def test_a_download_email_never_sent_is_sent_by_the_sweep_exactly_once(company, other_company):
    # given a paid order whose grant's email task was lost (grant unsent for a while)
    product, grant = _unsent_grant(company)
    now = timezone.now()
    # and grants the sweep must leave alone: revoked, expired, no buyer yet, just created, another company's sent
    revoked = DownloadGrant.objects.create(
        company=company, product=product, expires_at=now + timedelta(hours=20), revoked_at=now,
        order=OrderItemFactory(order__company=company, product=product).order)
    expired = DownloadGrant.objects.create(
        company=company, product=product, expires_at=now - timedelta(minutes=1),
        order=OrderItemFactory(order__company=company, order__customer=CustomerFactory(company=company),
                               product=product).order)
    anonymous = DownloadGrant.objects.create(
        company=company, product=product, expires_at=now + timedelta(hours=20),
        order=OrderItemFactory(order__company=company, order__customer=None, product=product).order)
    other_product = digital_product(company=other_company)
    other = DownloadGrant.objects.create(
        company=other_company, product=other_product, expires_at=now + timedelta(hours=20), emailed_at=now,
        order=OrderItemFactory(order__company=other_company, product=other_product,
                               order__customer=CustomerFactory(company=other_company)).order)
    DownloadGrant.objects.filter(pk__in=[grant.pk, revoked.pk, expired.pk, anonymous.pk, other.pk]).update(
        created_at=now - timedelta(minutes=10))
    fresh = DownloadGrant.objects.create(
        company=company, product=product, expires_at=now + timedelta(hours=20),
        order=OrderItemFactory(order__company=company, order__customer=CustomerFactory(company=company),
                               product=product).order)

    # when the sweep runs twice (tasks run inline)
    first = recovery_sweep()
    second = recovery_sweep()

    # then exactly the lost one was sent, once
    assert first["delivery_emails"] == [grant.pk] and second["delivery_emails"] == []
    assert [m.to for m in mail.outbox] == [["b@example.com"]]
    grant.refresh_from_db()
    assert grant.emailed_at is not None
    assert DownloadGrant.objects.get(pk=fresh.pk).emailed_at is None


def test_a_download_email_whose_sender_died_while_sending_is_sent_again_after_its_lease(company, other_company):
    # given a grant whose sender took the lease and was killed before the email left (no emailed_at)
    from commerce.services.fulfillment import DELIVERY_EMAIL_LEASE

    product, grant = _unsent_grant(company)
    now = timezone.now()
    # and another company's grant, held by a live sender
    other_product = digital_product(company=other_company)
    other = DownloadGrant.objects.create(
        company=other_company, product=other_product, expires_at=now + timedelta(hours=20),
        order=OrderItemFactory(order__company=other_company, product=other_product,
                               order__customer=CustomerFactory(company=other_company)).order)
    DownloadGrant.objects.update(created_at=now - timedelta(minutes=10), email_claimed_at=now - timedelta(seconds=5))

    # when the sweep runs while the lease holds, then after it expired for the dead sender only
    during = recovery_sweep()
    DownloadGrant.objects.filter(pk=grant.pk).update(
        email_claimed_at=now - DELIVERY_EMAIL_LEASE - timedelta(seconds=1))
    after = recovery_sweep()

    # then nothing is sent while a sender may still be sending; after the lease the email goes out once
    assert during["delivery_emails"] == [] and after["delivery_emails"] == [grant.pk]
    assert [m.to for m in mail.outbox] == [["b@example.com"]]
    assert DownloadGrant.objects.get(pk=grant.pk).emailed_at is not None
    assert DownloadGrant.objects.get(pk=other.pk).emailed_at is None


def test_a_transient_database_error_is_retried_with_backoff_until_it_succeeds(client, company, monkeypatch,
                                                                             django_capture_on_commit_callbacks):
    # given a handler that hits a lost connection twice, then works
    order = _order(company)
    post_stripe(client, _checkout(order))
    event = WebhookEvent.objects.get(event_id="evt_cs_lost")
    real = webhooks.HANDLERS[("stripe", "checkout.session.completed")]
    calls = []

    def flaky(evt):
        calls.append(evt.pk)
        if len(calls) <= 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real(evt)

    monkeypatch.setitem(webhooks.HANDLERS, ("stripe", "checkout.session.completed"), flaky)
    countdowns = []
    original_retry = webhook_process_task.retry

    def retry(*args, **kwargs):
        countdowns.append(kwargs.get("countdown"))
        return original_retry(*args, **kwargs)

    monkeypatch.setattr(webhook_process_task, "retry", retry)

    # when its task runs
    with django_capture_on_commit_callbacks(execute=True):
        webhook_process_task.apply(args=[event.pk])

    # then it was retried (with a backoff countdown) and processed on the third attempt
    event.refresh_from_db()
    assert len(calls) == 3 and event.status == WebhookEvent.Status.PROCESSED and event.attempts == 3
    assert len(countdowns) == 2 and all(c is not None and c >= 0 for c in countdowns)
    order.refresh_from_db()
    assert order.paid_at is not None


def test_a_database_error_no_retry_can_fix_fails_the_event_at_once(client, company, monkeypatch):
    # given a handler hitting an integrity error (a bug or bad data, not a hiccup)
    post_stripe(client, _checkout(_order(company)))
    event = WebhookEvent.objects.get(event_id="evt_cs_lost")

    def broken(evt):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setitem(webhooks.HANDLERS, ("stripe", "checkout.session.completed"), broken)

    # when
    webhook_process_task.apply(args=[event.pk])

    # then it is failed with its traceback, tried once, and not swept as transient
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.FAILED and event.attempts == 1
    assert "IntegrityError" in event.last_error and not event.last_error.startswith("transient:")


def test_the_sweep_is_on_the_beat_schedule_every_two_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["commerce-recovery-sweep"]
    assert entry["task"] == "commerce.tasks.recovery_sweep_task" and entry["schedule"] == 120


def _owed_confirmation(company, *, email, due_minutes_ago=10, **fields):
    """A fulfilled service order whose confirmation to `email` is owed and was never sent."""
    order = OrderFactory(company=company, customer=CustomerFactory(company=company, email=email) if email else None,
                         status=Order.Status.FULFILLED, fulfilled_at=timezone.now(), **fields)
    Order.objects.filter(pk=order.pk).update(confirmation_due_at=timezone.now() - timedelta(minutes=due_minutes_ago))
    return order


def test_an_order_confirmation_never_sent_is_sent_by_the_sweep_exactly_once(company, other_company):
    # given a service order whose confirmation task was lost
    lost = _owed_confirmation(company, email="c@example.com")
    # and confirmations the sweep must leave alone: just owed, no buyer yet, already sent, another company's
    # held by a live sender, and an order that owes none
    fresh = _owed_confirmation(company, email="fresh@example.com", due_minutes_ago=0)
    anonymous = _owed_confirmation(company, email=None)
    sent = _owed_confirmation(company, email="sent@example.com", confirmation_emailed_at=timezone.now())
    held = _owed_confirmation(other_company, email="held@example.com",
                              confirmation_claimed_at=timezone.now() - timedelta(seconds=5))
    OrderFactory(company=company, customer=CustomerFactory(company=company, email="none@example.com"))

    # when the sweep runs twice (tasks run inline)
    first = recovery_sweep()
    second = recovery_sweep()

    # then exactly the lost one was sent, once, and recorded
    assert first["order_confirmations"] == [lost.pk] and second["order_confirmations"] == []
    assert [m.to for m in mail.outbox] == [["c@example.com"]]
    assert mail.outbox[0].subject.startswith("Order confirmed")
    assert Order.objects.get(pk=lost.pk).confirmation_emailed_at is not None
    assert not Order.objects.filter(pk__in=[fresh.pk, anonymous.pk, held.pk], confirmation_emailed_at__isnull=False)
    assert Order.objects.get(pk=sent.pk).confirmation_emailed_at is not None


def test_an_order_confirmation_whose_sender_died_is_sent_again_after_its_lease_and_a_failed_send_releases_it(
        company, other_company, monkeypatch):
    from commerce.services.fulfillment import DELIVERY_EMAIL_LEASE, order_confirmation_send

    # given a confirmation whose sender took the lease and died, and another company's owed one
    order = _owed_confirmation(company, email="c@example.com",
                               confirmation_claimed_at=timezone.now() - timedelta(seconds=5))
    other = _owed_confirmation(other_company, email="o@example.com")

    # when a send is tried while the lease holds
    during = order_confirmation_send(order_id=order.pk)
    # and after it expired, with a mail server that fails once
    Order.objects.filter(pk=order.pk).update(confirmation_claimed_at=timezone.now() - DELIVERY_EMAIL_LEASE
                                             - timedelta(seconds=1))
    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages",
                        lambda self, messages: (_ for _ in ()).throw(OSError("connection refused")))
    with pytest.raises(OSError):
        order_confirmation_send(order_id=order.pk)
    monkeypatch.undo()
    released = Order.objects.get(pk=order.pk).confirmation_claimed_at
    retried = order_confirmation_send(order_id=order.pk)

    # then nothing went out during the lease; the failed send released it, so the retry sent it once
    assert during is False and released is None and retried is True
    assert [m.to for m in mail.outbox] == [["c@example.com"]]
    assert Order.objects.get(pk=other.pk).confirmation_emailed_at is None
