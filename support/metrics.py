"""Support metrics (registered with the KPI engine)."""

from collections import Counter
from datetime import UTC, timedelta

from django.db.models import Avg, Case, Count, DateTimeField, F, Q, When
from django.db.models.functions import Greatest, TruncDay

from kpis.aggregates import Median
from kpis.registry import day_windows, metric_family, per_day, ratio, span, to_decimal

from .models import Ticket

CLOSED = [Ticket.Status.RESOLVED]
# Open with no resolution time: open for good (until it is resolved).
STILL_OPEN = Q(resolved_at__isnull=True) & ~Q(status__in=CLOSED)


def _minutes(duration: timedelta | None):
    return None if duration is None else to_decimal(duration.total_seconds() / 60)


def _hours(duration: timedelta | None):
    return None if duration is None else to_decimal(duration.total_seconds() / 3600)


def _created_aggregates(created: Q, window) -> dict:
    """The aggregates over the tickets created in a window (`created` selects them)."""
    resolved = created & Q(resolved_at__isnull=False)
    return {
        "first": Median(F("first_response_at") - F("created_at"), filter=created & Q(first_response_at__isnull=False)),
        "resolution": Median(F("resolved_at") - F("created_at"), filter=resolved),
        "resolved": Count("id", filter=resolved),
        "auto": Count("id", filter=resolved & Q(auto_resolved=True)),
        "csat": Avg("csat_score", filter=created & Q(csat_score__isnull=False)),
    }


@metric_family("support.open_tickets", "support.first_response_p50_minutes", "support.resolution_p50_hours",
               "support.auto_resolution_rate", "support.csat_avg")
def ticket_metrics(*, company, windows):
    """Open tickets at the window's end; for tickets created in the window: median first response
    and resolution times, the share of resolved tickets resolved with no human step, and the mean CSAT rating (1-5)."""
    tickets = Ticket.objects.filter(company=company)
    by_day, others = day_windows(windows)
    rows: list[dict | None] = [None] * len(windows)
    if others:
        for i, row in zip(others, _per_window(tickets, [windows[i] for i in others]), strict=True):
            rows[i] = row
    if by_day:
        days = [windows[i] for i in by_day]
        created = per_day(tickets, field="created_at", windows=days, aggregates=_created_aggregates)
        open_counts = _open_at_midnights(tickets, [w.end for w in days])
        for i, row, open_count in zip(by_day, created, open_counts, strict=True):
            rows[i] = {**row, "open": open_count}
    return [
        {
            "support.open_tickets": to_decimal(row["open"]),
            "support.first_response_p50_minutes": _minutes(row["first"]),
            "support.resolution_p50_hours": _hours(row["resolution"]),
            "support.auto_resolution_rate": ratio(row["auto"], row["resolved"]),
            "support.csat_avg": to_decimal(row["csat"]),
        }
        for row in rows
    ]


def _per_window(tickets, windows) -> list[dict]:
    """Every window's figures in ONE query (conditional aggregates)."""
    whole = span(windows)
    aggregates = {}
    for i, w in enumerate(windows):
        # Open at the window's end: created before it and not resolved by then.
        aggregates[f"open_{i}"] = Count("id", filter=Q(created_at__lt=w.end) & (Q(resolved_at__gte=w.end) | STILL_OPEN))
        created = Q(created_at__gte=w.start, created_at__lt=w.end)
        aggregates.update({f"{name}_{i}": expression for name, expression in _created_aggregates(created, w).items()})
    # Rows that can count: created in the span, or still open at its start.
    row = tickets.filter(created_at__lt=whole.end).filter(
        Q(created_at__gte=whole.start) | Q(resolved_at__gte=whole.start) | STILL_OPEN).aggregate(**aggregates)
    names = ["open", *_created_aggregates(Q(), None)]
    return [{name: row[f"{name}_{i}"] for name in names} for i in range(len(windows))]


def _open_at_midnights(tickets, ends) -> list[int]:
    """Open tickets at each of `ends` (UTC midnights), from ONE query grouped by day.

    A ticket is open from its creation until it is resolved (for good when it is still open with no
    resolution time), so the open count at a midnight is the tickets opened before it minus the tickets
    closed before it, the closing time being max(created, resolved) (a resolution time before the creation
    time means never open). Both are counted per UTC day, so "before a midnight" is "on an earlier day".
    Tickets resolved before the first midnight cancel out and are left out.
    """
    closed_at = Case(When(resolved_at__isnull=False, then=Greatest("created_at", "resolved_at")),
                     output_field=DateTimeField())  # NULL while open (PostgreSQL's GREATEST would skip the NULL)
    rows = (tickets.filter(created_at__lt=max(ends)).filter(STILL_OPEN | Q(resolved_at__gte=min(ends)))
            .annotate(opened=TruncDay("created_at", tzinfo=UTC), closed=TruncDay(closed_at, tzinfo=UTC))
            .order_by().values("opened", "closed").annotate(tickets=Count("id")))
    opened, closed = Counter(), Counter()
    for row in rows:
        opened[row["opened"]] += row["tickets"]
        if row["closed"] is not None:
            closed[row["closed"]] += row["tickets"]
    return [sum(n for day, n in opened.items() if day < end) - sum(n for day, n in closed.items() if day < end)
            for end in ends]
