"""Reads for the public funnel and the API."""

from datetime import datetime

from django.db.models import Max

from .models import Customer, DownloadGrant, Order, Product


def product_for_landing(*, slug: str) -> Product | None:
    return (Product.objects.select_related("company").filter(slug=slug, status=Product.Status.ACTIVE).first())


def order_by_access_token(*, token: str) -> Order | None:
    if not token:
        return None
    return (Order.objects.select_related("company", "customer").prefetch_related("items")
            .filter(access_token=token).first())


def order_grants(*, order: Order) -> list[DownloadGrant]:
    return list(order.grants.select_related("product"))


def customers_lapsed(*, company, since: datetime, until: datetime) -> list[dict]:
    """[{email, name}] of customers whose last paid order is in [since, until) and who bought nothing since."""
    return list(Customer.objects.filter(company=company).annotate(last=Max("orders__paid_at"))
                .filter(last__lt=until, last__gte=since).values("email", "name"))


def customers_with_pending_checkout(*, company, since: datetime) -> list[dict]:
    """[{email, name}] of customers with an unpaid order started since `since` and no paid one since then."""
    return list(Customer.objects.filter(company=company, orders__status=Order.Status.PENDING,
                                        orders__created_at__gte=since)
                .exclude(orders__paid_at__gte=since).distinct().values("email", "name"))
