"""The order state machine.

An order's status is derived from facts that only move forward (paid at,
amount refunded, cancelled at, fulfilled at). Events merge their facts into
the order, so the same events in any order, or repeated, give the same state.
"""

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from autonomax.services import event_record

from ..models import Customer, IncomeStream, Order, Product, Refund

# Product kind -> the income stream its revenue is attributed to when the product names none.
STREAM_FOR_KIND = {
    Product.Kind.DIGITAL: IncomeStream.Kind.DIGITAL_PRODUCTS,
    Product.Kind.SUBSCRIPTION: IncomeStream.Kind.SUBSCRIPTIONS,
    Product.Kind.SERVICE: IncomeStream.Kind.SERVICES,
}


def order_status_for(order: Order) -> str:
    """The status the order's facts imply."""
    if order.total and order.amount_refunded >= order.total:
        return Order.Status.REFUNDED
    if order.cancelled_at and not order.paid_at:
        return Order.Status.CANCELLED
    if order.fulfilled_at:
        return Order.Status.FULFILLED
    if order.paid_at:
        return Order.Status.PAID
    return Order.Status.PENDING


def order_lock(*, order_id: int) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


def customer_upsert(*, company, email: str, name: str = "", stripe_customer_id: str = "",
                    shopify_customer_id: str = "") -> Customer | None:
    email = (email or "").strip().lower()
    if not email:
        return None
    customer, created = Customer.objects.get_or_create(
        company=company, email=email,
        defaults={"name": name[:200], "stripe_customer_id": stripe_customer_id,
                  "shopify_customer_id": shopify_customer_id, "created_at": timezone.now()},
    )
    fields = []
    if stripe_customer_id and not customer.stripe_customer_id:
        customer.stripe_customer_id = stripe_customer_id
        fields.append("stripe_customer_id")
    if shopify_customer_id and not customer.shopify_customer_id:
        customer.shopify_customer_id = shopify_customer_id
        fields.append("shopify_customer_id")
    if fields:
        customer.save(update_fields=fields)
    return customer


def order_apply(*, order: Order, paid_at: datetime | None = None, amount_refunded: Decimal | None = None,
                cancelled_at: datetime | None = None, payment_intent_id: str = "",
                customer: Customer | None = None) -> Order:
    """Merge facts into a locked order (caller holds `order_lock`), then fulfil or revoke as the state says.

    Facts only move forward: a later paid_at never replaces an earlier one, the refunded amount only grows.
    """
    from .fulfillment import order_deliveries_resend_pending, order_fulfill, order_fulfillment_revoke

    assert transaction.get_connection().in_atomic_block, "order_apply needs the caller's transaction"
    was_fulfilled = order.fulfilled_at is not None
    fields: set[str] = set()
    newly_paid = False
    if paid_at and order.paid_at is None:
        order.paid_at = paid_at
        fields.add("paid_at")
        newly_paid = True
    if amount_refunded is not None and amount_refunded > order.amount_refunded:
        order.amount_refunded = amount_refunded
        fields.add("amount_refunded")
    if cancelled_at and order.cancelled_at is None:
        order.cancelled_at = cancelled_at
        fields.add("cancelled_at")
    if payment_intent_id and not order.payment_intent_id:
        order.payment_intent_id = payment_intent_id
        fields.add("payment_intent_id")
    customer_learned = customer is not None and order.customer_id is None
    if customer_learned:
        order.customer = customer
        fields.add("customer")
    if newly_paid and order.income_stream_id is None:
        order.income_stream = _income_stream_for(order)
        fields.add("income_stream")
    status = order_status_for(order)
    if status == Order.Status.REFUNDED and order.refunded_at is None:
        order.refunded_at = timezone.now()
        fields.add("refunded_at")
    if status != order.status:
        order.status = status
        fields.add("status")
    if fields:
        order.save(update_fields=sorted(fields))
    if newly_paid:
        event_record(
            company=order.company, name="order.paid", occurred_at=order.paid_at,
            payload={"order_id": order.pk, "total": str(order.total), "currency": order.currency,
                     "channel": order.channel,
                     "income_stream": order.income_stream.kind if order.income_stream_id else None},
        )
    if order.status == Order.Status.PAID:
        order_fulfill(order=order)
    elif order.status == Order.Status.REFUNDED:
        order_fulfillment_revoke(order=order)
    if customer_learned and was_fulfilled:
        # Fulfilled earlier without an address: the download emails waited for this.
        order_deliveries_resend_pending(order=order)
    return order


def order_refunded_total(*, order: Order) -> Decimal:
    """Sum of the order's succeeded refunds."""
    total = Decimal("0")
    for amount in order.refunds.filter(status=Refund.Status.SUCCEEDED).values_list("amount", flat=True):
        total += amount
    return total


def _income_stream_for(order: Order) -> IncomeStream | None:
    item = order.items.select_related("product__income_stream").exclude(product=None).first()
    if item is None:
        return None
    if item.product.income_stream_id:
        return item.product.income_stream
    kind = STREAM_FOR_KIND.get(item.product.kind, IncomeStream.Kind.DIGITAL_PRODUCTS)
    stream, _ = IncomeStream.objects.get_or_create(
        company=order.company, kind=kind, defaults={"name": IncomeStream.Kind(kind).label},
    )
    return stream
