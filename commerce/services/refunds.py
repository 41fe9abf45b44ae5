"""Refunds through the Stripe Refund API, safe to retry."""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from autonomax.errors import AppError, ConflictError
from autonomax.services import event_record

from ..models import Order, Refund
from .orders import order_apply, order_lock, order_refunded_total
from .stripe_api import from_cents, stripe_client, stripe_error, to_cents

REFUNDABLE = (Order.Status.PAID, Order.Status.FULFILLED)


def refund_issue(*, order: Order, amount: Decimal | None = None, reason: str = "", actor=None) -> Refund:
    """Refund `amount` (default: all that is left) of a Stripe order.

    The Refund row is written first and its UUID is Stripe's idempotency key, so a retry after a
    timeout reuses the key and can never refund twice. Stripe errors leave the order unchanged.
    """
    import stripe  # noqa: PLC0415

    client = stripe_client(company=order.company)
    with transaction.atomic():
        order = order_lock(order_id=order.pk)
        if order.channel != Order.Channel.STRIPE or not order.payment_intent_id:
            raise ConflictError("This order has no Stripe payment to refund.", code="not_refundable")
        refund = order.refunds.filter(status=Refund.Status.PENDING).first()
        if refund is None:
            if order.status not in REFUNDABLE:
                raise ConflictError(f"An order that is {order.status} cannot be refunded.", code="not_refundable")
            remaining = order.total - order_refunded_total(order=order)
            amount = remaining if amount is None else Decimal(amount)
            if amount <= 0 or amount > remaining:
                raise AppError(f"The refund amount must be between 0.01 and {remaining}.", code="invalid_amount",
                               status=422)
            refund = Refund.objects.create(
                company=order.company, order=order, amount=amount, currency=order.currency, reason=reason[:200],
                status=Refund.Status.PENDING, issued_by=actor if getattr(actor, "is_authenticated", False) else None,
                created_at=timezone.now(),
            )
    try:
        result = client.v1.refunds.create(
            params={"payment_intent": order.payment_intent_id, "amount": to_cents(refund.amount),
                    "metadata": {"order_id": str(order.pk), "refund_id": str(refund.pk)}},
            options={"idempotency_key": str(refund.idempotency_key)},
        )
    except (stripe.InvalidRequestError, stripe.CardError, stripe.PermissionError) as exc:
        # Stripe said no for good: the attempt is closed, the order is untouched.
        Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(status=Refund.Status.FAILED)
        raise stripe_error(exc, doing="refunding") from exc
    except stripe.StripeError as exc:
        # Maybe done, maybe not: the row stays pending so a retry reuses the same idempotency key.
        raise stripe_error(exc, doing="refunding") from exc
    return refund_record_succeeded(refund_id=refund.pk, external_id=result.id,
                                   amount=from_cents(result.amount))


def refund_record_succeeded(*, refund_id: int, external_id: str, amount: Decimal) -> Refund:
    with transaction.atomic():
        refund = Refund.objects.select_related("order").get(pk=refund_id)
        order = order_lock(order_id=refund.order_id)
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        twin = Refund.objects.filter(company=refund.company, external_id=external_id).exclude(pk=refund.pk).first()
        if twin is not None:
            # The charge.refunded webhook got here first and recorded this refund already.
            refund.delete()
            return twin
        if refund.status == Refund.Status.SUCCEEDED:
            return refund
        refund.status = Refund.Status.SUCCEEDED
        refund.external_id = external_id
        refund.amount = amount
        refund.save(update_fields=["status", "external_id", "amount"])
        refund_issued_record(refund=refund)
        order_apply(order=order, amount_refunded=order_refunded_total(order=order))
    return refund


def refund_record_reported(*, order: Order, external_id: str, amount: Decimal, reason: str, created_at) -> Refund:
    """A succeeded refund the channel reports (webhook, reconciliation): one row per external id; a repeat is a
    no-op."""
    refund, created = Refund.objects.get_or_create(
        company=order.company, external_id=external_id,
        defaults={"order": order, "amount": amount, "currency": order.currency, "status": Refund.Status.SUCCEEDED,
                  "reason": reason[:200], "created_at": created_at},
    )
    if created:
        refund_issued_record(refund=refund)
    return refund


def refund_issued_record(*, refund: Refund) -> None:
    event_record(company=refund.company, name="refund.issued",
                 payload={"refund_id": refund.pk, "order_id": refund.order_id, "amount": str(refund.amount),
                          "currency": refund.currency, "external_id": refund.external_id})
