"""AI engine metrics (found by the KPI engine's discovery of `<app>.metrics`): cost, calls, fallbacks."""

from django.db.models import Count, Q, Sum

from kpis.registry import derived_metric, metric_family, per_window, ratio, to_decimal

from .models import AICall


@metric_family("ai.cost_usd", "ai.calls", "ai.fallback_rate")
def ai_call_metrics(*, company, windows):
    """AI calls in the window: total cost, count, share served by a fallback provider."""
    rows = per_window(AICall.objects.filter(company=company), field="created_at", windows=windows,
                      aggregates=lambda made, w: {
                          "cost": Sum("cost_usd", filter=made),
                          "calls": Count("id", filter=made),
                          "fallback": Count("id", filter=made & Q(fallback=True)),
                      })
    return [
        {
            "ai.cost_usd": to_decimal(row["cost"] or 0),
            "ai.calls": to_decimal(row["calls"]),
            "ai.fallback_rate": ratio(row["fallback"], row["calls"]),
        }
        for row in rows
    ]


@derived_metric("ops.cost_to_revenue", needs=["ai.cost_usd", "revenue.gross"])
def cost_to_revenue(values):
    """AI spend as a share of gross revenue in the same window."""
    return ratio(values["ai.cost_usd"], values["revenue.gross"])
