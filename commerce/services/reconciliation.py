"""Nightly reconciliation: webhook delivery is not guaranteed, so list what the providers know and
feed anything we missed through the same idempotent handlers. Safe to run any number of times."""

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from autonomax.connections import connection_values_everywhere

from ..models import ChannelConnection, WebhookEvent
from .stripe_api import stripe_client, stripe_client_for_key, stripe_error
from .webhooks import HANDLERS, webhook_process, webhook_store

logger = logging.getLogger(__name__)

STRIPE_TYPES = sorted(t for (provider, t) in HANDLERS if provider == "stripe")


def reconcile_stripe(*, since_hours: int = 48, key: str = "") -> dict:
    """Store and process every recent Stripe event of a type we handle that no webhook brought (of the
    account of `key`, default STRIPE_SECRET_KEY's)."""
    import stripe  # noqa: PLC0415

    client = stripe_client_for_key(key) if key else stripe_client()
    since = int((timezone.now() - timedelta(hours=since_hours)).timestamp())
    known = set(WebhookEvent.objects.filter(provider=WebhookEvent.Provider.STRIPE,
                                            received_at__gte=timezone.now() - timedelta(hours=since_hours + 24))
                .values_list("event_id", flat=True))
    counts = {"seen": 0, "added": 0}
    try:
        page = client.v1.events.list(params={"created": {"gte": since}, "types": STRIPE_TYPES, "limit": 100})
        for event in page.auto_paging_iter():
            counts["seen"] += 1
            if event.id in known:
                continue
            payload = event.to_dict()
            pk = webhook_store(
                provider=WebhookEvent.Provider.STRIPE, event_id=event.id, event_type=event.type, payload=payload,
                raw_body=json.dumps(payload).encode(), headers={"X-Source": "reconciliation"},
            )
            if pk is not None:
                counts["added"] += 1
                webhook_process(event_id=pk)
    except stripe.StripeError as exc:
        raise stripe_error(exc, doing="listing events for reconciliation") from exc
    return counts


def reconcile_shopify(*, since_hours: int = 48) -> dict:
    """List recent orders of each connected shop and upsert them (the same path as orders/paid)."""
    from ..channels.shopify import ShopifyChannel
    from .webhooks import shopify_order_upsert

    counts = {"shops": 0, "orders": 0}
    for connection in ChannelConnection.objects.filter(channel="shopify", is_active=True).select_related("company"):
        counts["shops"] += 1
        for data in ShopifyChannel(connection=connection).orders_since(
                since=timezone.now() - timedelta(hours=since_hours)):
            from django.db import transaction

            with transaction.atomic():
                shopify_order_upsert(company=connection.company, data=data, paid=False)
            counts["orders"] += 1
    return counts


def reconcile_pending(*, days: int = 7) -> int:
    """Give recent events still waiting for their order/customer/shop another try."""
    ids = list(WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING_MATCH,
                                           received_at__gte=timezone.now() - timedelta(days=days))
               .values_list("pk", flat=True))
    for pk in ids:
        webhook_process(event_id=pk)
    return len(ids)


def reconcile_all() -> dict:
    result = {}
    # Every Stripe account in use: the environment's and each company's own (/settings/connections/).
    keys = {settings.STRIPE_SECRET_KEY} | {key for _, key in connection_values_everywhere(kind="stripe",
                                                                                        name="secret_key")}
    for key in sorted(keys - {""}):
        counts = reconcile_stripe(key=key)
        result["stripe"] = {name: result.get("stripe", {}).get(name, 0) + n for name, n in counts.items()}
    result["shopify"] = reconcile_shopify()
    result["pending_retried"] = reconcile_pending()
    logger.info("reconciliation: %s", result)
    return result
