"""Reads for the public funnel and the API."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Customer, DownloadGrant, Listing, Order, Product

PAID = [Order.Status.PAID, Order.Status.FULFILLED, Order.Status.REFUNDED]
ZERO = Decimal("0")


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


def _period_totals(*, company, start: datetime, end: datetime) -> dict:
    """Paid orders created in [start, end): count, gross, refunded and net, in one query."""
    paid = Q(status__in=PAID, created_at__gte=start, created_at__lt=end)
    row = Order.objects.filter(company=company).aggregate(
        orders=Count("id", filter=paid),
        gross=Coalesce(Sum("total", filter=paid), ZERO),
        refunded=Coalesce(Sum("amount_refunded", filter=paid), ZERO),
    )
    return {**row, "net": row["gross"] - row["refunded"]}


def _change(now_value, then_value) -> Decimal | None:
    """Relative change in %, or None when the previous period had nothing to compare with."""
    if not then_value:
        return None
    return ((Decimal(now_value) - Decimal(then_value)) / Decimal(then_value) * 100).quantize(Decimal("0.1"))


def sales_compare(*, company, days: int, now: datetime | None = None) -> dict:
    """The last `days` days' paid orders and revenue against the `days` before them (the Command Center's
    headline, the orders page's totals)."""
    now = now or timezone.now()
    start = now - timedelta(days=days)
    current = _period_totals(company=company, start=start, end=now)
    previous = _period_totals(company=company, start=start - timedelta(days=days), end=start)
    return {"days": days, "start": start, "current": current, "previous": previous,
            "changes": {key: _change(current[key], previous[key]) for key in ("orders", "gross", "net")}}


def orders_overview(*, company, days: int = 30, status: str = "", now: datetime | None = None,
                    limit: int = 50) -> dict:
    """The staff orders page: this period's totals against the period before it, and the latest orders."""
    sales = sales_compare(company=company, days=days, now=now)
    orders = Order.objects.filter(company=company, created_at__gte=sales["start"]).select_related("customer")
    if status:
        orders = orders.filter(status=status)
    return {**sales, "status": status, "orders": list(orders.order_by("-created_at", "-pk")[:limit])}


def order_for_company(*, company, pk: int) -> Order | None:
    """One order with everything its page shows: items, refunds, downloads and service tasks."""
    return (Order.objects.filter(company=company, pk=pk).select_related("customer", "income_stream")
            .prefetch_related("items", "refunds", "grants__product", "service_tasks").first())


def products_listed_on(*, company, ids: list[int], channel: str) -> list[int]:
    """Of the products `ids`, those the company has listed on `channel` (a live listing there)."""
    return sorted(Listing.objects.filter(company=company, product_id__in=ids, channel=channel)
                  .exclude(external_id="").values_list("product_id", flat=True))
