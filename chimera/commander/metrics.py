"""Commander metrics (found by the KPI engine's discovery of `<app>.metrics`): job failures, mission autonomy;
and the chart markers of the missions that ran on a KPI."""

from django.db.models import Count, Q

from kpis.registry import chart_markers, metric_family, per_window, ratio

from .models import EvidenceRecord, Job, Mission

# Missions that reached execution; "needed no human step" = auto-approved and never escalated.
EXECUTED = [Mission.Status.RUNNING, Mission.Status.MEASURING, Mission.Status.COMPLETED, Mission.Status.FAILED,
            Mission.Status.ESCALATED]


@metric_family("jobs.failure_rate")
def job_metrics(*, company, windows):
    """Jobs that finished in the window: the share that failed."""
    done = [Job.Status.SUCCEEDED, Job.Status.FAILED]
    rows = per_window(Job.objects.filter(company=company, status__in=done), field="finished_at", windows=windows,
                      aggregates=lambda finished, w: {
                          "finished": Count("id", filter=finished),
                          "failed": Count("id", filter=finished & Q(status=Job.Status.FAILED)),
                      })
    return [{"jobs.failure_rate": ratio(row["failed"], row["finished"])} for row in rows]


@metric_family("missions.autonomy_score")
def mission_metrics(*, company, windows):
    """Missions created in the window that reached execution: the share that needed no human step."""
    rows = per_window(Mission.objects.filter(company=company, status__in=EXECUTED), field="created_at",
                      windows=windows, aggregates=lambda created, w: {
                          "executed": Count("id", filter=created),
                          "auto": Count("id", filter=created & Q(decided_by__isnull=True)
                                        & ~Q(status=Mission.Status.ESCALATED)),
                      })
    return [{"missions.autonomy_score": ratio(row["auto"], row["executed"])} for row in rows]


@chart_markers
def mission_markers(*, company, kpi_key, since):
    """Missions of plays that move `kpi_key`, approved since `since`: where they ran and what was measured."""
    # JSON `contains` is not available on SQLite: the few missions of the period are filtered here.
    missions = [m for m in Mission.objects.filter(company=company, decided_at__gte=since, status__in=EXECUTED)
                .select_related("play").order_by("decided_at") if kpi_key in m.play.kpis]
    evidence = dict(EvidenceRecord.objects.filter(mission__in=missions).values_list("mission_id", "notes"))
    return [{"at": m.decided_at,
             "label": f"Mission #{m.pk} {m.play.label}: {evidence.get(m.pk) or m.get_status_display().lower()}"}
            for m in missions]
