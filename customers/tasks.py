"""Celery tasks: fetch by id, call a service."""

import logging

from celery import shared_task
from django.db import transaction

from autonomax.models import Company

from .services.lifetime import lifetime_refit
from .services.privacy import retention_purge
from .services.segments import profiles_refresh

logger = logging.getLogger(__name__)


def profiles_refresh_on_order(event) -> None:
    """Subscriber of order.paid / refund.issued: refresh the company's segments in the background."""
    transaction.on_commit(lambda: customer_profiles_refresh_task.delay(event.company_id))


@shared_task(acks_late=True)
def customer_profiles_refresh_task(company_id: int) -> dict:
    return profiles_refresh(company=Company.objects.get(pk=company_id))


@shared_task(acks_late=True)
def customers_nightly_task() -> None:
    for company in Company.objects.filter(is_active=True):
        profiles_refresh(company=company)
        model = lifetime_refit(company=company)
        purged = retention_purge(company=company)
        logger.info("customers nightly %s: model v%s %s, purged %s", company.slug, model.version, model.status,
                    purged)
