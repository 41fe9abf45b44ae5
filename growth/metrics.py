"""Lead metrics (registered with the KPI engine)."""

from django.db.models import Avg, Count, Q

from kpis.registry import metric_family, per_window, ratio, to_decimal

from .models import Lead


@metric_family("leads.new", "leads.conversion_rate", "leads.avg_score")
def lead_metrics(*, company, windows):
    """Leads created in the window: how many, the share already converted, their average score."""
    rows = per_window(Lead.objects.filter(company=company), field="created_at", windows=windows,
                      aggregates=lambda created, w: {
                          "new": Count("id", filter=created),
                          "converted": Count("id", filter=created & Q(converted_at__isnull=False)),
                          "score": Avg("score", filter=created),
                      })
    return [
        {
            "leads.new": to_decimal(row["new"]),
            "leads.conversion_rate": ratio(row["converted"], row["new"]),
            "leads.avg_score": to_decimal(row["score"]),
        }
        for row in rows
    ]
