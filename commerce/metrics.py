"""Commerce metrics: revenue, orders, refunds and customers (registered with the KPI engine)."""

from django.db.models import Count, Q, Sum

from kpis.registry import derived_metric, metric_family, per_window, ratio, to_decimal

from .models import Customer, Order, Refund


@metric_family("revenue.gross", "orders.count", "orders.aov", "customers.buyers", "customers.repeat_rate")
def order_metrics(*, company, windows):
    """Paid orders: gross revenue, count, average order value, buying and repeat customers.

    A repeat customer bought in the window and was already a customer before it started.
    """
    rows = per_window(Order.objects.filter(company=company), field="paid_at", windows=windows,
                      aggregates=lambda paid, w: {
                          "gross": Sum("total", filter=paid),
                          "count": Count("id", filter=paid),
                          "buyers": Count("customer", filter=paid, distinct=True),
                          "repeat": Count("customer", filter=paid & Q(customer__created_at__lt=w.start),
                                          distinct=True),
                      })
    return [
        {
            "revenue.gross": to_decimal(row["gross"] or 0),
            "orders.count": to_decimal(row["count"]),
            "orders.aov": ratio(row["gross"] or 0, row["count"]),
            "customers.buyers": to_decimal(row["buyers"]),
            "customers.repeat_rate": ratio(row["repeat"], row["buyers"]),
        }
        for row in rows
    ]


@metric_family("refunds.amount", "refunds.count")
def refund_metrics(*, company, windows):
    """Succeeded refunds issued in the window: amount and count."""
    rows = per_window(Refund.objects.filter(company=company, status=Refund.Status.SUCCEEDED), field="created_at",
                      windows=windows, aggregates=lambda issued, w: {
                          "amount": Sum("amount", filter=issued),
                          "count": Count("id", filter=issued),
                      })
    return [{"refunds.amount": to_decimal(row["amount"] or 0), "refunds.count": to_decimal(row["count"])}
            for row in rows]


@metric_family("customers.new")
def customer_metrics(*, company, windows):
    """Customers first seen in the window."""
    rows = per_window(Customer.objects.filter(company=company), field="created_at", windows=windows,
                      aggregates=lambda created, w: {"new": Count("id", filter=created)})
    return [{"customers.new": to_decimal(row["new"])} for row in rows]


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
