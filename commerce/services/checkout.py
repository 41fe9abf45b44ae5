"""Stripe Checkout behind the landing page's buy button."""

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from autonomax.errors import AppError, NotFoundError

from ..models import Order, OrderItem, Product
from .consent import CHECKOUT_WORDING, customer_consent_record
from .deliverables import product_deliverable_require
from .discounts import discount_check, discount_price, discount_stripe_ensure
from .orders import customer_upsert
from .stripe_api import stripe_client, stripe_error, to_cents


def checkout_start(*, product: Product, customer_email: str = "", discount_code: str = "",
                   marketing_consent: bool = False) -> tuple[Order, str]:
    """Create a pending order and its Stripe Checkout session; returns (order, url to send the buyer to).

    A discount code is checked for this buyer and product (a 422 says why it cannot be used) and applied
    through its Stripe promotion code; the order's total is the discounted price. Ticking the marketing box
    records the buyer's consent with the words shown. If Stripe refuses, nothing is kept (the order is rolled
    back) and the caller can simply retry.
    """
    import stripe  # noqa: PLC0415

    if product.status != Product.Status.ACTIVE:
        raise NotFoundError("This product is not for sale.")
    product_deliverable_require(product=product)
    discount = None
    if discount_code.strip():
        if not customer_email:
            raise AppError("Enter your email to use a discount code.", code="email_required", status=422)
        discount = discount_check(company=product.company, code=discount_code, email=customer_email,
                                  product=product)
    client = stripe_client(company=product.company)
    site = settings.SITE_URL.rstrip("/")
    with transaction.atomic():
        customer = customer_upsert(company=product.company, email=customer_email) if customer_email else None
        if customer is not None and marketing_consent:
            customer_consent_record(customer=customer, granted=True, source="checkout_form",
                                    wording=CHECKOUT_WORDING)
        price = discount_price(discount=discount, price=product.price) if discount else product.price
        order = Order.objects.create(
            company=product.company, customer=customer, channel=Order.Channel.STRIPE, status=Order.Status.PENDING,
            currency=product.currency, total=price, created_at=timezone.now(),
            income_stream=product.income_stream, discount=discount,
        )
        OrderItem.objects.create(order=order, product=product, title=product.name, quantity=1,
                                 unit_price=product.price)
        metadata = {"order_id": str(order.pk), "company": product.company.slug, "product_sku": product.sku}
        if discount is not None:
            metadata["discount_code"] = discount.code
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
        if discount is not None:
            discount_stripe_ensure(discount=discount)
            params["discounts"] = [{"promotion_code": discount.stripe_promotion_code_id}]
        try:
            session = client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": f"checkout-{order.access_token}"})
        except stripe.StripeError as exc:
            raise stripe_error(exc, doing="starting checkout") from exc
        order.external_id = session.id
        order.save(update_fields=["external_id"])
    return order, session.url
