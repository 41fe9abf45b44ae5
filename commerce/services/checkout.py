"""Stripe Checkout behind the landing page's buy button."""

import stripe
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from autonomax.errors import NotFoundError

from ..models import Order, OrderItem, Product
from .orders import customer_upsert
from .stripe_api import stripe_client, stripe_error, to_cents


def checkout_start(*, product: Product, customer_email: str = "") -> tuple[Order, str]:
    """Create a pending order and its Stripe Checkout session; returns (order, url to send the buyer to).

    If Stripe refuses, nothing is kept (the order is rolled back) and the caller can simply retry.
    """
    if product.status != Product.Status.ACTIVE:
        raise NotFoundError("This product is not for sale.")
    client = stripe_client()
    site = settings.SITE_URL.rstrip("/")
    with transaction.atomic():
        customer = customer_upsert(company=product.company, email=customer_email) if customer_email else None
        order = Order.objects.create(
            company=product.company, customer=customer, channel=Order.Channel.STRIPE, status=Order.Status.PENDING,
            currency=product.currency, total=product.price, created_at=timezone.now(),
            income_stream=product.income_stream,
        )
        OrderItem.objects.create(order=order, product=product, title=product.name, quantity=1,
                                 unit_price=product.price)
        metadata = {"order_id": str(order.pk), "company": product.company.slug, "product_sku": product.sku}
        price_data = {"currency": product.currency.lower(), "unit_amount": to_cents(product.price),
                      "product_data": {"name": product.name}}
        params = {
            "mode": "payment",
            "line_items": [{"price_data": price_data, "quantity": 1}],
            "success_url": site + reverse("commerce:checkout-success") + f"?order={order.access_token}",
            "cancel_url": site + reverse("commerce:checkout-cancel") + f"?order={order.access_token}",
            "client_reference_id": str(order.pk),
            "metadata": metadata,
        }
        if product.kind == Product.Kind.SUBSCRIPTION:
            params["mode"] = "subscription"
            price_data["recurring"] = {"interval": "month"}
            params["subscription_data"] = {"metadata": metadata}
        else:
            params["payment_intent_data"] = {"metadata": metadata}
        if customer_email:
            params["customer_email"] = customer_email
        try:
            session = client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": f"checkout-{order.access_token}"})
        except stripe.StripeError as exc:
            raise stripe_error(exc, doing="starting checkout") from exc
        order.external_id = session.id
        order.save(update_fields=["external_id"])
    return order, session.url
