"""Celery tasks: fetch by id, call a service. The copilot runs on the `ai` queue, replies on `email`."""

import logging
import smtplib

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def ticket_pipeline_task(ticket_id: int) -> None:
    from .copilot import ticket_process  # noqa: PLC0415

    ticket_process(ticket_id=ticket_id)


@shared_task(acks_late=True, autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=True, max_retries=6)
def email_ticket_message_task(message_id: int) -> None:
    from .tickets import message_deliver  # noqa: PLC0415

    message_deliver(message_id=message_id)


@shared_task(acks_late=True)
def sla_sweep_task() -> None:
    from .sla_watch import sla_sweep  # noqa: PLC0415

    counts = sla_sweep()
    if any(counts.values()):
        logger.info("SLA sweep: %s", counts)


@shared_task(acks_late=True, autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=True, max_retries=6)
def email_csat_survey_task(ticket_id: int) -> None:
    from .sla_watch import csat_survey_send  # noqa: PLC0415

    csat_survey_send(ticket_id=ticket_id)


@shared_task(acks_late=True)
def intent_models_train_task() -> None:
    from .intents import intent_models_train_all  # noqa: PLC0415

    logger.info("intent models: %s", intent_models_train_all())


def csat_survey_enqueue(ticket_id: int) -> None:
    email_csat_survey_task.delay(ticket_id)


def ticket_pipeline_enqueue(ticket_id: int) -> None:
    ticket_pipeline_task.apply_async((ticket_id,), queue="ai")


def message_deliver_enqueue(message_id: int) -> None:
    email_ticket_message_task.delay(message_id)
