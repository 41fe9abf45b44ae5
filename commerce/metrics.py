"""Commerce metrics: revenue, orders, refunds and customers (registered with the KPI engine)."""

from django.db.models import Count, Q, Sum

from kpis.registry import derived_metric, metric_family, ratio, span, to_decimal

from .models import Customer, Order, Refund


@metric_family("revenue.gross", "orders.count", "orders.aov", "customers.buyers", "customers.repeat_rate")
def order_metrics(*, company, windows):
    """Paid orders: gross revenue, count, average order value, buying and repeat customers.

    A repeat customer bought in the window and was already a customer before it started.
    """
    whole = span(windows)
    aggregates = {}
    for i, w in enumerate(windows):
        paid = Q(paid_at__gte=w.start, paid_at__lt=w.end)
        aggregates[f"gross{i}"] = Sum("total", filter=paid)
        aggregates[f"count{i}"] = Count("id", filter=paid)
        aggregates[f"buyers{i}"] = Count("customer", filter=paid, distinct=True)
        aggregates[f"repeat{i}"] = Count("customer", filter=paid & Q(customer__created_at__lt=w.start), distinct=True)
    row = Order.objects.filter(company=company, paid_at__gte=whole.start, paid_at__lt=whole.end).aggregate(**aggregates)
    results = []
    for i in range(len(windows)):
        gross = row[f"gross{i}"] or 0
        results.append({
            "revenue.gross": to_decimal(gross),
            "orders.count": to_decimal(row[f"count{i}"]),
            "orders.aov": ratio(gross, row[f"count{i}"]),
            "customers.buyers": to_decimal(row[f"buyers{i}"]),
            "customers.repeat_rate": ratio(row[f"repeat{i}"], row[f"buyers{i}"]),
        })
    return results


@metric_family("refunds.amount", "refunds.count")
def refund_metrics(*, company, windows):
    """Succeeded refunds issued in the window: amount and count."""
    whole = span(windows)
    aggregates = {}
    for i, w in enumerate(windows):
        issued = Q(created_at__gte=w.start, created_at__lt=w.end)
        aggregates[f"amount{i}"] = Sum("amount", filter=issued)
        aggregates[f"count{i}"] = Count("id", filter=issued)
    row = Refund.objects.filter(
        company=company, status=Refund.Status.SUCCEEDED, created_at__gte=whole.start, created_at__lt=whole.end
    ).aggregate(**aggregates)
    return [
        {"refunds.amount": to_decimal(row[f"amount{i}"] or 0), "refunds.count": to_decimal(row[f"count{i}"])}
        for i in range(len(windows))
    ]


@metric_family("customers.new")
def customer_metrics(*, company, windows):
    """Customers first seen in the window."""
    whole = span(windows)
    aggregates = {
        f"new{i}": Count("id", filter=Q(created_at__gte=w.start, created_at__lt=w.end)) for i, w in enumerate(windows)
    }
    row = Customer.objects.filter(
        company=company, created_at__gte=whole.start, created_at__lt=whole.end
    ).aggregate(**aggregates)
    return [{"customers.new": to_decimal(row[f"new{i}"])} for i in range(len(windows))]


@derived_metric("revenue.net", needs=["revenue.gross", "refunds.amount"])
def revenue_net(values):
    """Gross revenue minus the refunds issued in the same window."""
    if values["revenue.gross"] is None or values["refunds.amount"] is None:
        return None
    return to_decimal(values["revenue.gross"] - values["refunds.amount"])


@derived_metric("refunds.rate", needs=["revenue.gross", "refunds.amount"])
def refunds_rate(values):
    """Refunded amount as a share of gross revenue in the same window."""
    return ratio(values["refunds.amount"], values["revenue.gross"])
