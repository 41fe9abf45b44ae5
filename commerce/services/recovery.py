"""The recovery sweep: work a crashed worker lost, found in the database and sent again (celery-beat, every
two minutes). Safe to run any number of times, from any number of processes at once.

A worker killed with `kill -9` loses the task it was running (and, on Redis, keeps the ones it had
prefetched `unacked` until the broker's visibility timeout, two hours). What it was doing is still written
down: a webhook event stays `received` (or `failed` by a transient database error whose retries died with
the worker, or `pending_match` waiting for an order that has arrived since), a download email's grant (or an
order's confirmation) stays unsent once its sender's lease expires. The sweep re-enqueues those; the
processing itself is idempotent (the event row lock and state, the email's lease), so a task that was only
late and a re-enqueued one never both act.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models import DownloadGrant, Order, WebhookEvent
from .fulfillment import DELIVERY_EMAIL_LEASE

logger = logging.getLogger(__name__)

# An event still `received` this long after it was stored (or re-enqueued) has lost its task: a healthy
# worker processes one in well under a second (RECOVERY_STALE_SECONDS, default 180).
STALE_AFTER = timedelta(seconds=settings.RECOVERY_STALE_SECONDS)
# Transiently failed events are retried by their task with backoff; the sweep picks them up only when
# that retry chain is certainly dead (longer than the longest backoff).
TRANSIENT_STALE_AFTER = timedelta(minutes=15)
# Events parked for their order are re-run when it arrives; the sweep retries the recent ones that wait for
# something that exists by now, in case that re-run was lost.
PENDING_WINDOW = timedelta(days=2)
MAX_SWEEP_ATTEMPTS = 8
BATCH = 500


def _stale_events(*, now) -> list[int]:
    """Ids of events to process again, locked so two sweeps never pick the same rows (skip_locked)."""
    Status = WebhookEvent.Status
    lost = Q(status=Status.RECEIVED) & (Q(requeued_at__isnull=True, received_at__lt=now - STALE_AFTER)
                                        | Q(requeued_at__lt=now - STALE_AFTER))
    transient = (Q(status=Status.FAILED, last_error__startswith="transient:", attempts__lt=MAX_SWEEP_ATTEMPTS)
                 & (Q(requeued_at__isnull=True) | Q(requeued_at__lt=now - TRANSIENT_STALE_AFTER))
                 & Q(received_at__lt=now - TRANSIENT_STALE_AFTER))
    rows = WebhookEvent.objects.filter(lost | transient).order_by("received_at")
    return list(rows.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)[:BATCH])


def _matched_pending_events(*, now) -> list[int]:
    """Parked events whose reference now exists as an order (their resolving task was lost)."""
    candidates = list(WebhookEvent.objects.filter(
        status=WebhookEvent.Status.PENDING_MATCH, received_at__gte=now - PENDING_WINDOW,
        attempts__lt=MAX_SWEEP_ATTEMPTS,
    ).filter(Q(requeued_at__isnull=True) | Q(requeued_at__lt=now - STALE_AFTER))
        .values_list("pk", "match_ref")[:BATCH])
    refs = {ref for _, ref in candidates if ref}
    if not refs:
        return []
    shopify_refs = {r.split(":", 1)[1] for r in refs if r.startswith("shopify-order:")}
    known = set(Order.objects.filter(Q(external_id__in=refs) | Q(payment_intent_id__in=refs))
                .values_list("external_id", "payment_intent_id").iterator())
    found = {value for pair in known for value in pair if value}
    found |= {f"shopify-order:{external_id}" for external_id in Order.objects.filter(
        channel=Order.Channel.SHOPIFY, external_id__in=shopify_refs).values_list("external_id", flat=True)}
    return [pk for pk, ref in candidates if ref in found]


def webhook_events_recover(*, now=None) -> list[int]:
    """Re-enqueue the events a dead worker lost; returns their ids."""
    from ..tasks import webhook_process_task

    now = now or timezone.now()
    with transaction.atomic():
        ids = _stale_events(now=now) + _matched_pending_events(now=now)
        if not ids:
            return []
        WebhookEvent.objects.filter(pk__in=ids).update(requeued_at=now)
        for pk in ids:
            transaction.on_commit(lambda pk=pk: webhook_process_task.delay(pk))
    logger.warning("recovery: re-enqueued %d webhook event(s) a worker lost: %s", len(ids), ids[:50])
    return ids


def delivery_emails_recover(*, now=None) -> list[int]:
    """Re-enqueue download emails that were never sent (grant unsent, buyer known, link still valid)."""
    from ..tasks import email_digital_delivery_task

    now = now or timezone.now()
    ids = list(DownloadGrant.objects.filter(
        Q(email_claimed_at=None) | Q(email_claimed_at__lt=now - DELIVERY_EMAIL_LEASE),
        emailed_at=None, revoked_at=None, order__customer__isnull=False, created_at__lt=now - STALE_AFTER,
        expires_at__gt=now,
    ).order_by("pk").values_list("pk", flat=True)[:BATCH])
    return _resend(ids, email_digital_delivery_task, what="download email(s)", rows="grants")


def order_confirmations_recover(*, now=None) -> list[int]:
    """Re-enqueue order confirmations owed and never sent (buyer known): their ids."""
    from ..tasks import email_order_confirmation_task

    now = now or timezone.now()
    ids = list(Order.objects.filter(
        Q(confirmation_claimed_at=None) | Q(confirmation_claimed_at__lt=now - DELIVERY_EMAIL_LEASE),
        confirmation_due_at__lt=now - STALE_AFTER, confirmation_emailed_at=None, customer__isnull=False,
    ).order_by("pk").values_list("pk", flat=True)[:BATCH])
    return _resend(ids, email_order_confirmation_task, what="order confirmation(s)", rows="orders")


def _resend(ids: list[int], task, *, what: str, rows: str) -> list[int]:
    """Queue the email task for each row (a send holds a lease on its row: one sender at a time) and log it."""
    for pk in ids:
        task.delay(pk)
    if ids:
        logger.warning("recovery: re-sent %d %s never sent: %s %s", len(ids), what, rows, ids[:50])
    return ids


def recovery_sweep(*, now=None) -> dict:
    """The periodic sweep: what it re-enqueued, for the log."""
    now = now or timezone.now()
    report = {"webhook_events": webhook_events_recover(now=now), "delivery_emails": delivery_emails_recover(now=now),
              "order_confirmations": order_confirmations_recover(now=now)}
    if any(report.values()):
        logger.warning("recovery sweep: %s", {k: len(v) for k, v in report.items()})
    return report
