"""Celery tasks: fetch by id, call a service. Webhooks on the `webhooks` queue, mail on `email`."""

import logging
import smtplib

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .models import WebhookEvent
from .services.fulfillment import digital_delivery_send, order_confirmation_send
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
    event = webhook_process(event_id=event_id, force=force)
    if event is not None and event.status == WebhookEvent.Status.PENDING_MATCH and event.attempts < PENDING_RETRIES:
        webhook_process_task.apply_async((event_id,), countdown=30 * event.attempts)


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
