"""Reads for the public funnel and the API."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import models
from django.db.models import Count, Max, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from .models import Customer, CustomerConsent, Discount, DownloadGrant, IncomeStream, Listing, Order, Product
from .streams import stream_input_kinds, stream_inputs

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


def _consent_status():
    """The status of the customer's latest consent record (NULL when none was ever recorded)."""
    return Subquery(CustomerConsent.objects.filter(customer=OuterRef("pk")).order_by("-recorded_at", "-pk")
                    .values("status")[:1])


def customers_marketable(*, company):
    """Customers whose latest consent decision is `granted`: the only ones marketing email may go to."""
    return (Customer.objects.filter(company=company).annotate(consent_status=_consent_status())
            .filter(consent_status=CustomerConsent.Status.GRANTED))


def customers_lapsed(*, company, since: datetime, until: datetime) -> list[dict]:
    """[{email, name}] of consenting customers whose last paid order is in [since, until) and who bought
    nothing since."""
    return list(customers_marketable(company=company).annotate(last=Max("orders__paid_at"))
                .filter(last__lt=until, last__gte=since).values("email", "name"))


def customers_with_pending_checkout(*, company, since: datetime) -> list[dict]:
    """[{email, name}] of consenting customers with an unpaid order started since `since` and no paid one
    since then."""
    return list(customers_marketable(company=company).filter(orders__status=Order.Status.PENDING,
                                                             orders__created_at__gte=since)
                .exclude(orders__paid_at__gte=since).distinct().values("email", "name"))


def discount_list(*, company):
    """The company's discounts with their redemption counts, newest first."""
    return (Discount.objects.filter(company=company).annotate(redemption_count=Count("redemptions"))
            .prefetch_related("products").order_by("-created_at", "-pk"))


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
    return {**sales, "status": status, "orders": list(orders.order_by("-created_at", "-pk")[:limit]),
            "streams": income_stream_automation(company=company, since=sales["start"]),
            "revenue_chart": revenue_by_stream(company=company, start=sales["start"], end=now or timezone.now())}


NO_STREAM = "No stream"


def revenue_by_stream(*, company, start: datetime, end: datetime) -> dict:
    """The orders page's chart: gross revenue of paid orders created in [start, end) per day (in the
    company's time zone) and income stream, in one query. Days without sales are 0."""
    tz = _zone(company.timezone)
    rows = (Order.objects.filter(company=company, status__in=PAID, created_at__gte=start, created_at__lt=end)
            .annotate(day=TruncDate("created_at", tzinfo=tz))
            .values("day", "income_stream__name").annotate(gross=Sum("total")).order_by("day"))
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    index = {day: i for i, day in enumerate(days)}
    streams: dict[str, list[float]] = {}
    for row in rows:
        values = streams.setdefault(row["income_stream__name"] or NO_STREAM, [0.0] * len(days))
        values[index[row["day"]]] += float(row["gross"])
    return {"labels": [d.isoformat() for d in days], "currency": company.currency,
            "streams": [{"name": name, "values": values} for name, values in sorted(streams.items())]}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


# The automation level each kind of stream is meant to reach (share of orders needing no person's step).
AUTOMATION_TARGET_PCT = {"digital_products": 100, "subscriptions": 100, "consulting": 50, "services": 70,
                         "affiliates": 100}


def _orders_of_streams(paid, kinds: set[str]) -> dict[str, list[dict]]:
    """{stream kind: [{id, email, paid_at, automated}]} of these paid orders (one query; none for no kinds)."""
    orders: dict[str, list[dict]] = {kind: [] for kind in kinds}
    if not kinds:
        return orders
    for o in (paid.filter(income_stream__kind__in=kinds).annotate(tasks=Count("service_tasks"))
              .values("id", "income_stream__kind", "customer__email", "paid_at", "fulfilled_at", "tasks")):
        orders[o["income_stream__kind"]].append(
            {"id": o["id"], "email": (o["customer__email"] or "").lower(), "paid_at": o["paid_at"],
             "automated": o["fulfilled_at"] is not None and not o["tasks"]})
    return orders


def income_stream_automation(*, company, since: datetime) -> list[dict]:
    """Per income stream: paid orders since `since`, how many were fulfilled with no person's step, the actual
    automation level in percent and its target, and what fed it (commerce.streams: e.g. lead hand-offs).

    A person's step is a service task on the order, or work another app records before the sale (a lead
    handed off to a person who then sold). A stream with inputs but no orders yet is shown with no level."""
    automated = Q(fulfilled_at__isnull=False, service_tasks__isnull=True)
    paid = Order.objects.filter(company=company, status__in=PAID, paid_at__gte=since, income_stream__isnull=False)
    rows = {r["income_stream__kind"]: {"kind": r["income_stream__kind"], "name": r["income_stream__name"],
                                       "orders": r["orders"], "automated": r["automated"], "inputs": []}
            for r in paid.values("income_stream__kind", "income_stream__name")
            .annotate(orders=Count("id", distinct=True), automated=Count("id", distinct=True, filter=automated))}
    fed = stream_input_kinds()
    orders = _orders_of_streams(paid, rows.keys() & set(fed))
    for kind in fed:
        inputs = stream_inputs(kind=kind, company=company, since=since, orders=orders.get(kind, []))
        if kind not in rows:  # no orders yet: shown when something came in
            stream = (IncomeStream.objects.filter(company=company, kind=kind).first()
                      if any(i.counts.get("total") for i in inputs) else None)
            if stream is None:
                continue
            rows[kind] = {"kind": kind, "name": stream.name, "orders": 0, "automated": 0}
        person = frozenset().union(*(i.person_step_orders for i in inputs))
        rows[kind]["automated"] = sum(1 for o in orders.get(kind, []) if o["automated"] and o["id"] not in person)
        rows[kind]["inputs"] = inputs
    return [
        {**row, "actual_pct": round(100 * row["automated"] / row["orders"], 1) if row["orders"] else None,
         "target_pct": AUTOMATION_TARGET_PCT.get(row["kind"])}
        for _, row in sorted(rows.items())
    ]


def order_for_company(*, company, pk: int) -> Order | None:
    """One order with everything its page shows: items, refunds, downloads and service tasks."""
    return (Order.objects.filter(company=company, pk=pk).select_related("customer", "income_stream")
            .prefetch_related("items", "refunds", "grants__product", "service_tasks").first())


def customer_purchases(*, company, until: datetime | None = None) -> list[dict]:
    """Every paid order of the company's customers: [{customer_id, paid_at, net}], oldest first.

    `net` is what the shop kept (total minus refunds); `until` cuts the history (for holdout fits)."""
    orders = Order.objects.filter(company=company, status__in=PAID, customer__isnull=False, paid_at__isnull=False)
    if until is not None:
        orders = orders.filter(paid_at__lt=until)
    return [{"customer_id": r["customer_id"], "paid_at": r["paid_at"], "net": r["total"] - r["amount_refunded"]}
            for r in orders.order_by("paid_at").values("customer_id", "paid_at", "total", "amount_refunded")]


def purchases_by_email(*, company, emails, since: datetime, until: datetime) -> dict[str, dict]:
    """{email (lower case): {"orders": n, "revenue": Decimal}} of orders paid in [since, until) by these
    people (one query); people who bought nothing are absent. The commander's holdout outcomes."""
    wanted = {e.lower() for e in emails}
    rows = (Order.objects.filter(company=company, status__in=PAID, paid_at__gte=since, paid_at__lt=until,
                                 customer__email__in=wanted | {e for e in emails})
            .values("customer__email").annotate(orders=Count("id"), revenue=Sum("total")))
    result: dict[str, dict] = {}
    for row in rows:
        entry = result.setdefault(row["customer__email"].lower(), {"orders": 0, "revenue": Decimal(0)})
        entry["orders"] += row["orders"]
        entry["revenue"] += row["revenue"] or Decimal(0)
    return result


def paid_orders_with_email(*, company, since: datetime, order_ids=None) -> list[dict]:
    """[{id, customer_id, email, paid_at, total}] of paid orders (paid since `since`, or these ids) that know
    their buyer's email: read by growth to convert leads who bought."""
    orders = Order.objects.filter(company=company, paid_at__isnull=False, customer__isnull=False)
    orders = orders.filter(pk__in=order_ids) if order_ids is not None else orders.filter(paid_at__gte=since)
    return list(orders.exclude(customer__email="").order_by("paid_at")
                .values("id", "customer_id", "paid_at", "total", email=models.F("customer__email")))


def customer_exists(*, company, pk: int) -> bool:
    return Customer.objects.filter(company=company, pk=pk).exists()
def orders_for_email(*, company, email: str, limit: int = 20) -> list[Order]:
    """The latest orders of the customer with this email (case-insensitive), with items and downloads;
    support links a ticket to its customer's orders this way."""
    if not email:
        return []
    return list(Order.objects.filter(company=company, customer__email__iexact=email.strip())
                .select_related("customer").prefetch_related("items", "grants__product")
                .order_by("-created_at", "-pk")[:limit])


def customer_order_facts(*, company, email: str, limit: int = 5, now: datetime | None = None) -> list[dict]:
    """What support may tell a customer about their latest orders, as plain facts: status, what was bought,
    money, refunds, and each download link that still works (its URL, expiry and downloads left)."""
    from .services.fulfillment import download_url  # noqa: PLC0415 - a link is derived, not stored

    now = now or timezone.now()
    facts = []
    for order in orders_for_email(company=company, email=email, limit=limit):
        downloads = []
        for grant in order.grants.all():
            usable = grant.revoked_at is None and grant.expires_at > now and grant.download_count < grant.max_downloads
            downloads.append({"product": grant.product.name, "usable": usable, "expires_at": grant.expires_at,
                              "downloads_left": max(0, grant.max_downloads - grant.download_count),
                              "url": download_url(grant=grant) if usable else ""})
        facts.append({
            "order_id": order.pk, "status": order.status, "channel": order.channel, "currency": order.currency,
            "total": order.total, "amount_refunded": order.amount_refunded, "created_at": order.created_at,
            "paid_at": order.paid_at, "fulfilled_at": order.fulfilled_at, "refunded_at": order.refunded_at,
            "items": [item.title for item in order.items.all()], "downloads": downloads,
            "refundable": order.channel == Order.Channel.STRIPE and bool(order.payment_intent_id)
            and order.status in (Order.Status.PAID, Order.Status.FULFILLED),
        })
    return facts


def products_listed_on(*, company, ids: list[int], channel: str) -> list[int]:
    """Of the products `ids`, those the company has listed on `channel` (a live listing there)."""
    return sorted(Listing.objects.filter(company=company, product_id__in=ids, channel=channel)
                  .exclude(external_id="").values_list("product_id", flat=True))
