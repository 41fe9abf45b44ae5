"""AI engine metrics (found by the KPI engine's discovery of `<app>.metrics`): cost, calls, fallbacks."""

from django.db.models import Count, Q, Sum

from kpis.registry import derived_metric, metric_family, ratio, span, to_decimal

from .models import AICall


@metric_family("ai.cost_usd", "ai.calls", "ai.fallback_rate")
def ai_call_metrics(*, company, windows):
    """AI calls in the window: total cost, count, share served by a fallback provider."""
    whole = span(windows)
    aggregates = {}
    for i, w in enumerate(windows):
        made = Q(created_at__gte=w.start, created_at__lt=w.end)
        aggregates[f"cost{i}"] = Sum("cost_usd", filter=made)
        aggregates[f"calls{i}"] = Count("id", filter=made)
        aggregates[f"fallback{i}"] = Count("id", filter=made & Q(fallback=True))
    row = AICall.objects.filter(company=company, created_at__gte=whole.start, created_at__lt=whole.end).aggregate(
        **aggregates
    )
    return [
        {
            "ai.cost_usd": to_decimal(row[f"cost{i}"] or 0),
            "ai.calls": to_decimal(row[f"calls{i}"]),
            "ai.fallback_rate": ratio(row[f"fallback{i}"], row[f"calls{i}"]),
        }
        for i in range(len(windows))
    ]


@derived_metric("ops.cost_to_revenue", needs=["ai.cost_usd", "revenue.gross"])
def cost_to_revenue(values):
    """AI spend as a share of gross revenue in the same window."""
    return ratio(values["ai.cost_usd"], values["revenue.gross"])
