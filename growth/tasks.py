"""Celery tasks for growth: thin, fetch by id, call a service; every one safe to run twice."""

import logging
import smtplib
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from autonomax.models import Company

from . import capture, events, scoring
from .models import Lead

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=True, max_retries=6)
def email_lead_confirmation_task(lead_id: int) -> None:
    """The double opt-in email; a lead who confirmed meanwhile gets nothing."""
    capture.lead_confirmation_send(lead_id=lead_id)


@shared_task(acks_late=True)
def leads_daily_task() -> None:
    """Nightly: attribute purchases the order.paid hook missed, and rescore leads whose points decay."""
    now = timezone.now()
    for company in Company.objects.filter(is_active=True):
        converted = events.leads_convert_from_orders(company=company, since=now - timedelta(days=3), now=now)
        ids = list(Lead.objects.filter(company=company, score__gt=0).values_list("pk", flat=True))
        result = {"rescored": 0}
        for start in range(0, len(ids), 500):
            result = scoring.leads_rescore(company=company, lead_ids=ids[start:start + 500], now=now,
                                           reason="decay")
        logger.info("growth daily %s: %s converted from orders, %s rescored", company.slug, converted,
                    result["rescored"])


@shared_task(acks_late=True, autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=True, max_retries=5)
def email_sequences_dispatch_task() -> dict:
    """Every minute: send the due sequence steps. Duplicates and concurrent runs are harmless (one row per step)."""
    from .sequences import sequences_dispatch  # noqa: PLC0415

    return sequences_dispatch()


@shared_task(acks_late=True)
def sequences_enrol_segments_task() -> None:
    from .sequences import sequences_enrol_segments  # noqa: PLC0415

    for company in Company.objects.filter(is_active=True, execution_halted=False):
        sequences_enrol_segments(company=company)


@shared_task(acks_late=True, autoretry_for=(smtplib.SMTPException, OSError), retry_backoff=True, max_retries=5)
def email_campaign_distribute_task(campaign_id: int) -> dict:
    """Distribute one approved campaign; a repeat sends nothing new (one delivery row per recipient)."""
    from .campaigns import campaign_distribute  # noqa: PLC0415

    return campaign_distribute(campaign_id=campaign_id)


@shared_task(acks_late=True)
def campaigns_due_task() -> None:
    """Every minute: queue approved campaigns whose schedule has come."""
    from .campaigns import campaigns_due  # noqa: PLC0415

    for campaign_id in campaigns_due():
        email_campaign_distribute_task.delay(campaign_id)


@shared_task(acks_late=True)
def lead_model_train_task() -> None:
    """Nightly: retrain each company's lead-scoring model (used only if it beats the rules on held-out leads)."""
    from .learned import lead_model_train  # noqa: PLC0415 - scikit-learn loads only here

    for company in Company.objects.filter(is_active=True):
        result = lead_model_train(company=company)
        logger.info("growth lead model %s: %s", company.slug, result.get("decision") or result.get("reason"))
