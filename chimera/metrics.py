"""Chimera metrics: AI cost and fallbacks, job failures, mission autonomy, cost to revenue.

Discovered through `chimera/ai/metrics.py` (the KPI engine imports each installed
app's `metrics` module; `chimera` itself is a plain package, not an app).
"""

from django.db.models import Count, Q, Sum

from chimera.ai.models import AICall
from chimera.commander.models import Job, Mission
from kpis.registry import derived_metric, metric_family, ratio, span, to_decimal

# Missions that reached execution; "needed no human step" = auto-approved and never escalated.
EXECUTED = [Mission.Status.RUNNING, Mission.Status.MEASURING, Mission.Status.COMPLETED, Mission.Status.FAILED,
            Mission.Status.ESCALATED]


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


@metric_family("jobs.failure_rate")
def job_metrics(*, company, windows):
    """Jobs that finished in the window: the share that failed."""
    whole = span(windows)
    done = [Job.Status.SUCCEEDED, Job.Status.FAILED]
    aggregates = {}
    for i, w in enumerate(windows):
        finished = Q(finished_at__gte=w.start, finished_at__lt=w.end)
        aggregates[f"finished{i}"] = Count("id", filter=finished)
        aggregates[f"failed{i}"] = Count("id", filter=finished & Q(status=Job.Status.FAILED))
    row = Job.objects.filter(
        company=company, status__in=done, finished_at__gte=whole.start, finished_at__lt=whole.end
    ).aggregate(**aggregates)
    return [{"jobs.failure_rate": ratio(row[f"failed{i}"], row[f"finished{i}"])} for i in range(len(windows))]


@metric_family("missions.autonomy_score")
def mission_metrics(*, company, windows):
    """Missions created in the window that reached execution: the share that needed no human step."""
    whole = span(windows)
    aggregates = {}
    for i, w in enumerate(windows):
        created = Q(created_at__gte=w.start, created_at__lt=w.end)
        aggregates[f"executed{i}"] = Count("id", filter=created)
        aggregates[f"auto{i}"] = Count(
            "id", filter=created & Q(decided_by__isnull=True) & ~Q(status=Mission.Status.ESCALATED)
        )
    row = Mission.objects.filter(
        company=company, status__in=EXECUTED, created_at__gte=whole.start, created_at__lt=whole.end
    ).aggregate(**aggregates)
    return [{"missions.autonomy_score": ratio(row[f"auto{i}"], row[f"executed{i}"])} for i in range(len(windows))]


@derived_metric("ops.cost_to_revenue", needs=["ai.cost_usd", "revenue.gross"])
def cost_to_revenue(values):
    """AI spend as a share of gross revenue in the same window."""
    return ratio(values["ai.cost_usd"], values["revenue.gross"])
