"""Celery tasks of the KPI engine: thin, fetch by id, call a service."""

from celery import shared_task

from .services.alerts import MAX_ATTEMPTS, DeliveryTransientError, alert_delivery_send


@shared_task(bind=True, acks_late=True, autoretry_for=(DeliveryTransientError,), retry_backoff=True,
             retry_backoff_max=600, max_retries=MAX_ATTEMPTS - 1)
def alert_delivery_send_task(self, delivery_id: int) -> None:
    alert_delivery_send(delivery_id=delivery_id)
