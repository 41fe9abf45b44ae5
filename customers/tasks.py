"""Celery tasks: fetch by id, call a service."""

import logging

from celery import shared_task
from django.core.cache import cache
from django.db import transaction

from autonomax.models import Company

from .services.lifetime import lifetime_refit
from .services.privacy import retention_purge
from .services.segments import profiles_refresh

logger = logging.getLogger(__name__)


# A refresh recomputes every customer of the company (seconds for a big shop), so a burst of payments is
# refreshed once: the first order after a quiet spell queues a refresh this many seconds later, and the orders
# paid in between ride on it.
REFRESH_DELAY_S = 30


def _refresh_mark(company_id: int) -> str:
    return f"customers:profiles-refresh-queued:{company_id}"


def profiles_refresh_on_order(event) -> None:
    """Subscriber of order.paid / refund.issued: refresh the company's segments in the background, once per
    burst. A lost refresh task lets its mark expire: the next order queues another, the nightly run does them all."""
    company_id = event.company_id

    def queue() -> None:
        if cache.add(_refresh_mark(company_id), 1, timeout=REFRESH_DELAY_S * 2):
            customer_profiles_refresh_task.apply_async((company_id,), countdown=REFRESH_DELAY_S)

    transaction.on_commit(queue)


@shared_task(acks_late=True)
def customer_profiles_refresh_task(company_id: int) -> dict:
    # The mark goes first: an order paid from here on queues the next refresh, one paid before is read by this one.
    cache.delete(_refresh_mark(company_id))
    return profiles_refresh(company=Company.objects.get(pk=company_id))


@shared_task(acks_late=True)
def customers_nightly_task() -> None:
    for company in Company.objects.filter(is_active=True):
        profiles_refresh(company=company)
        model = lifetime_refit(company=company)
        purged = retention_purge(company=company)
        logger.info("customers nightly %s: model v%s %s, purged %s", company.slug, model.version, model.status,
                    purged)
