"""Celery tasks: fetch by id, call a service. Webhooks on the `webhooks` queue, mail on `email`."""

import logging
import smtplib

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.db import InterfaceError, OperationalError, connection

from .models import WebhookEvent
from .services.fulfillment import digital_delivery_send, order_confirmation_send
from .services.outbox import DRAIN_BATCH, outbox_wakes_by_notify, webhook_outbox_drain, webhook_outbox_listener_start
from .services.webhooks import TransientWebhookError, webhook_process

logger = logging.getLogger(__name__)
# An event waiting for its order/customer is retried a few times in case that arrives in a concurrent
# delivery; after that the next match or the nightly reconciliation picks it up.
PENDING_RETRIES = 4


# A transient database error is retried with exponential backoff (and jitter); also when it hit outside the
# handler (taking the event's row lock, saving its state), where it surfaces as the database error itself.
# Celery's Django fix-up replaces a broken connection before the next attempt.
@shared_task(acks_late=True, autoretry_for=(TransientWebhookError, OperationalError, InterfaceError),
             retry_backoff=True, retry_backoff_max=600, max_retries=6)
def webhook_process_task(event_id: int, force: bool = False) -> None:
    """One event by id: the admin's reprocess, a parked event whose order arrived, the recovery sweep."""
    event = webhook_process(event_id=event_id, force=force)
    if event is not None:
        _retry_while_pending(event)


def _retry_while_pending(event: WebhookEvent) -> None:
    if event.status == WebhookEvent.Status.PENDING_MATCH and event.attempts < PENDING_RETRIES:
        webhook_process_task.apply_async((event.pk,), countdown=30 * event.attempts)


# Losing the database while claiming retries the drain; the rows it had not committed stay `received`.
@shared_task(acks_late=True, ignore_result=True, autoretry_for=(OperationalError, InterfaceError),
             retry_backoff=True, retry_backoff_max=60, max_retries=6)
def webhook_outbox_drain_task() -> int:
    """The outbox's drain (services.outbox): process the stored events still `received`, oldest first."""
    events = []
    try:
        webhook_outbox_drain(done=events)
    except TransientWebhookError as exc:
        # That event is marked failed ("transient: ..."): retried alone with backoff; a fresh drain goes on.
        webhook_process_task.apply_async((exc.event_id,), countdown=5)
        webhook_outbox_drain_task.delay()
    else:
        if len(events) >= DRAIN_BATCH:  # more may be waiting: a fresh task goes on
            webhook_outbox_drain_task.delay()
    for event in events:
        _retry_while_pending(event)
    return len(events)


_listener_stops = []


@worker_ready.connect
def _outbox_listener_start(sender=None, **kwargs) -> None:
    """A worker that consumes the `webhooks` queue listens for stored events (PostgreSQL's NOTIFY)."""
    if sender is None:
        return
    queues = sender.app.amqp.queues
    if "webhooks" in (queues.consume_from or queues) and outbox_wakes_by_notify():
        _listener_stops.append(webhook_outbox_listener_start())
        logger.info("webhook outbox: listening on %s", connection.settings_dict["NAME"])


@worker_shutdown.connect
def _outbox_listener_stop(**kwargs) -> None:
    for stop in _listener_stops:
        stop.set()


@shared_task(acks_late=True, autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=True, max_retries=6)
def email_digital_delivery_task(grant_id: int) -> None:
    digital_delivery_send(grant_id=grant_id)


@shared_task(acks_late=True, autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=True, max_retries=6)
def email_order_confirmation_task(order_id: int) -> None:
    order_confirmation_send(order_id=order_id)


@shared_task(acks_late=True)
def reconcile_nightly_task() -> None:
    from .services.reconciliation import reconcile_all

    reconcile_all()


@shared_task(acks_late=True, ignore_result=True)
def recovery_sweep_task() -> dict:
    """Every two minutes (celery-beat): re-enqueue webhook events and download emails a dead worker lost."""
    from .services.recovery import recovery_sweep

    report = recovery_sweep()
    return {name: len(ids) for name, ids in report.items()}
