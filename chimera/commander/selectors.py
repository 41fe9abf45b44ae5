"""Reads for the Command Center: a fixed number of queries whatever the number of missions."""

from django.db.models import Prefetch

from autonomax.models import Company, Role

from .models import EvidenceRecord, Job, Mission
from .services.jobs import execution_blocked
from .services.missions import mission_can_decide

ACTIVE_VIEW = [Mission.Status.APPROVED, Mission.Status.PLANNED, Mission.Status.RUNNING, Mission.Status.MEASURING]


def mission_for_company(*, company: Company, pk: int) -> Mission | None:
    return Mission.objects.select_related("play").filter(company=company, pk=pk).first()


def mission_card(*, mission: Mission, role: str) -> dict:
    allowed, why = mission_can_decide(mission=mission, role=role)
    factors = [{"name": k.replace("_", " "), "value": v} for k, v in mission.score_factors.items()]
    jobs = list(mission.jobs.all())
    done = sum(1 for j in jobs if j.status == Job.Status.SUCCEEDED)
    return {"mission": mission, "factors": factors, "can_decide": allowed, "why_not": why, "jobs": jobs,
            "done": done, "total": len(jobs), "label": mission.play_snapshot.get("label", ""),
            "level": mission.play_snapshot.get("level", "")}


def command_center(*, company: Company, role: str) -> dict:
    jobs = Prefetch("jobs", queryset=Job.objects.order_by("order"))
    missions = list(Mission.objects.filter(company=company, status__in=[Mission.Status.PROPOSED, *ACTIVE_VIEW,
                                                                          Mission.Status.ESCALATED])
                    .select_related("play").prefetch_related(jobs).order_by("-score", "-created_at")[:100])
    cards = [mission_card(mission=m, role=role) for m in missions]
    stuck_jobs = list(Job.objects.filter(company=company, status__in=[Job.Status.STUCK, Job.Status.FAILED])
                      .select_related("mission").order_by("-started_at")[:20])
    evidence = list(EvidenceRecord.objects.filter(company=company).select_related("play").order_by("-recorded_at")[:10])
    return {
        "proposed": [c for c in cards if c["mission"].status == Mission.Status.PROPOSED],
        "active": [c for c in cards if c["mission"].status in ACTIVE_VIEW],
        "escalated": [c for c in cards if c["mission"].status == Mission.Status.ESCALATED],
        "stuck_jobs": stuck_jobs,
        "wins": [e for e in evidence if e.success],
        "losses": [e for e in evidence if not e.success],
        "blocked": execution_blocked(company_id=company.pk),
        "is_owner": role == Role.OWNER,
    }
