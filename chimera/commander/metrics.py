"""Commander metrics (found by the KPI engine's discovery of `<app>.metrics`): job failures, mission autonomy."""

from django.db.models import Count, Q

from kpis.registry import metric_family, ratio, span

from .models import Job, Mission

# Missions that reached execution; "needed no human step" = auto-approved and never escalated.
EXECUTED = [Mission.Status.RUNNING, Mission.Status.MEASURING, Mission.Status.COMPLETED, Mission.Status.FAILED,
            Mission.Status.ESCALATED]


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
