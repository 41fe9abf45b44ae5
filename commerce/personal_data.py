"""What commerce holds about a person: the customer, their orders, refunds, deliveries, subscriptions,
service tasks, and the webhook payloads that named them."""

from django.db.models import Q

from autonomax.privacy import Person, erased_email, register, scrub

from .models import (
    Customer,
    CustomerConsent,
    DiscountRedemption,
    DownloadGrant,
    Order,
    Refund,
    ServiceTask,
    Subscription,
    WebhookEvent,
)

ORDER_FIELDS = ("id", "status", "channel", "external_id", "currency", "total", "amount_refunded", "created_at",
                "paid_at", "fulfilled_at", "refunded_at", "cancelled_at")


def _customer(company, person: Person):
    return Customer.objects.filter(company=company, email__iexact=person.email).first()


def _webhooks(company, person: Person):
    return WebhookEvent.objects.filter(company=company).filter(raw_body__icontains=person.email)


def export(company, person: Person) -> dict:
    customer = _customer(company, person)
    orders = Order.objects.filter(company=company, customer=customer) if customer else Order.objects.none()
    return {
        "customer": [{"id": customer.pk, "email": customer.email, "name": customer.name,
                      "stripe_customer_id": customer.stripe_customer_id,
                      "shopify_customer_id": customer.shopify_customer_id,
                      "created_at": customer.created_at}] if customer else [],
        "orders": [
            {**{f: getattr(order, f) for f in ORDER_FIELDS},
             "items": [{"title": i.title, "quantity": i.quantity, "unit_price": i.unit_price}
                       for i in order.items.all()]}
            for order in orders.prefetch_related("items")
        ],
        "refunds": list(Refund.objects.filter(company=company, order__in=orders).values(
            "id", "order_id", "amount", "currency", "reason", "status", "created_at")),
        "deliveries": list(DownloadGrant.objects.filter(company=company, order__in=orders).values(
            "id", "order_id", "product__name", "expires_at", "download_count", "emailed_at")),
        "subscriptions": list(Subscription.objects.filter(company=company, customer=customer).values(
            "id", "external_id", "status", "started_at", "ended_at")) if customer else [],
        "service_tasks": list(ServiceTask.objects.filter(company=company, order__in=orders).values(
            "id", "order_id", "product__name", "status", "scheduled_for")),
        "marketing_consent": list(CustomerConsent.objects.filter(company=company, customer=customer).values(
            "status", "source", "wording", "recorded_at")) if customer else [],
        "discount_redemptions": list(DiscountRedemption.objects.filter(company=company, email__iexact=person.email)
                                     .values("discount__code", "order_id", "amount", "channel", "redeemed_at")),
        "webhook_events": list(_webhooks(company, person).values(
            "provider", "event_id", "event_type", "received_at", "payload")),
    }


def erase(company, person: Person) -> dict:
    """Anonymise the customer; orders and refunds keep their amounts (accounting), webhook payloads
    lose every mention of the person."""
    changed = {}
    customer = _customer(company, person)
    if customer:
        person = Person(email=person.email, name=person.name or customer.name)
        Customer.objects.filter(pk=customer.pk).update(
            email=erased_email(customer.pk), name="", stripe_customer_id="", shopify_customer_id="")
        changed["commerce.Customer"] = 1
        changed["commerce.Refund"] = Refund.objects.filter(company=company, order__customer=customer).exclude(
            reason="").update(reason="")
    changed["commerce.DiscountRedemption"] = DiscountRedemption.objects.filter(
        company=company, email__iexact=person.email).update(email="")
    events = list(_webhooks(company, person))
    for event in events:
        event.payload = scrub(event.payload, person)
        event.raw_body = scrub(event.raw_body, person)
        event.headers = scrub(event.headers, person)
        event.save(update_fields=["payload", "raw_body", "headers"])
    changed["commerce.WebhookEvent"] = len(events)
    return changed


def purge(company, before) -> dict:
    """Raw webhook bodies older than the retention period: the processed ones are emptied (their
    status and ids stay, so a replay is still recognised as a duplicate)."""
    done = Q(status__in=[WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED, WebhookEvent.Status.FAILED])
    old = WebhookEvent.objects.filter(done, company=company, received_at__lt=before).exclude(raw_body="", payload={})
    return {"commerce.WebhookEvent": old.update(raw_body="", payload={}, headers={})}


register("commerce", models=("commerce.Customer", "commerce.Order", "commerce.DiscountRedemption",
                             "commerce.WebhookEvent"),
         export=export, erase=erase, purge=purge)
