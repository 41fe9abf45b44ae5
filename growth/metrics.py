"""Lead metrics (registered with the KPI engine)."""

from django.db.models import Avg, Count, Q

from kpis.registry import metric_family, ratio, span, to_decimal

from .models import Lead


@metric_family("leads.new", "leads.conversion_rate", "leads.avg_score")
def lead_metrics(*, company, windows):
    """Leads created in the window: how many, the share already converted, their average score."""
    whole = span(windows)
    aggregates = {}
    for i, w in enumerate(windows):
        created = Q(created_at__gte=w.start, created_at__lt=w.end)
        aggregates[f"new{i}"] = Count("id", filter=created)
        aggregates[f"converted{i}"] = Count("id", filter=created & Q(converted_at__isnull=False))
        aggregates[f"score{i}"] = Avg("score", filter=created)
    row = Lead.objects.filter(company=company, created_at__gte=whole.start, created_at__lt=whole.end).aggregate(
        **aggregates
    )
    return [
        {
            "leads.new": to_decimal(row[f"new{i}"]),
            "leads.conversion_rate": ratio(row[f"converted{i}"], row[f"new{i}"]),
            "leads.avg_score": to_decimal(row[f"score{i}"]),
        }
        for i in range(len(windows))
    ]
