"""Support metrics (registered with the KPI engine)."""

from datetime import timedelta

from django.db.models import Avg, Count, F, Q

from kpis.aggregates import Median
from kpis.registry import metric_family, ratio, span, to_decimal

from .models import Ticket

CLOSED = [Ticket.Status.RESOLVED]


def _minutes(duration: timedelta | None):
    return None if duration is None else to_decimal(duration.total_seconds() / 60)


def _hours(duration: timedelta | None):
    return None if duration is None else to_decimal(duration.total_seconds() / 3600)


@metric_family("support.open_tickets", "support.first_response_p50_minutes", "support.resolution_p50_hours",
               "support.auto_resolution_rate", "support.csat_avg")
def ticket_metrics(*, company, windows):
    """Open tickets at the window's end; for tickets created in the window: median first response
    and resolution times, the share of resolved tickets resolved with no human step, and the mean CSAT rating (1-5)."""
    whole = span(windows)
    aggregates = {}
    for i, w in enumerate(windows):
        created = Q(created_at__gte=w.start, created_at__lt=w.end)
        resolved = created & Q(resolved_at__isnull=False)
        # Open at the window's end: created before it and not resolved by then.
        aggregates[f"open{i}"] = Count("id", filter=Q(created_at__lt=w.end) & (
            Q(resolved_at__gte=w.end) | (Q(resolved_at__isnull=True) & ~Q(status__in=CLOSED))))
        aggregates[f"first{i}"] = Median(F("first_response_at") - F("created_at"),
                                         filter=created & Q(first_response_at__isnull=False))
        aggregates[f"resolution{i}"] = Median(F("resolved_at") - F("created_at"), filter=resolved)
        aggregates[f"resolved{i}"] = Count("id", filter=resolved)
        aggregates[f"auto{i}"] = Count("id", filter=resolved & Q(auto_resolved=True))
        aggregates[f"csat{i}"] = Avg("csat_score", filter=created & Q(csat_score__isnull=False))
    # Rows that can count: created in the span, or still open at its start.
    rows = Ticket.objects.filter(company=company, created_at__lt=whole.end).filter(
        Q(created_at__gte=whole.start) | Q(resolved_at__gte=whole.start)
        | (Q(resolved_at__isnull=True) & ~Q(status__in=CLOSED))
    )
    row = rows.aggregate(**aggregates)
    return [
        {
            "support.open_tickets": to_decimal(row[f"open{i}"]),
            "support.first_response_p50_minutes": _minutes(row[f"first{i}"]),
            "support.resolution_p50_hours": _hours(row[f"resolution{i}"]),
            "support.auto_resolution_rate": ratio(row[f"auto{i}"], row[f"resolved{i}"]),
            "support.csat_avg": to_decimal(row[f"csat{i}"]),
        }
        for i in range(len(windows))
    ]
