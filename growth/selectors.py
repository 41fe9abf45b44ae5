"""Reads for the growth pages and API: tenant-filtered, with their related rows fetched up front."""

from django.db.models import Count

from autonomax.models import Company

from .models import EmailDelivery, Enrolment, Experiment, HandoffTask, Lead, Sequence

FUNNEL = (
    ("new", "New", None),
    ("nurturing", "Nurturing", (Lead.Status.NURTURING, Lead.Status.QUALIFIED, Lead.Status.CONVERTED)),
    ("qualified", "Qualified", (Lead.Status.QUALIFIED, Lead.Status.CONVERTED)),
    ("customer", "Customer", (Lead.Status.CONVERTED,)),
)


def lead_funnel(*, company: Company) -> list[dict]:
    """Leads that reached each stage (a customer also passed qualified, ...) and the conversion from the stage
    before. One query."""
    by_status = dict(Lead.objects.filter(company=company).values_list("status").annotate(n=Count("id")))
    total = sum(by_status.values())
    rows, previous = [], None
    for key, label, statuses in FUNNEL:
        count = total if statuses is None else sum(by_status.get(s, 0) for s in statuses)
        rate = None if previous is None or previous == 0 else count / previous
        rows.append({"key": key, "label": label, "count": count, "rate_from_previous": rate})
        previous = count
    return rows


def leads_dashboard(*, company: Company, limit: int = 50) -> dict:
    return {
        "funnel": lead_funnel(company=company),
        "handoffs": list(HandoffTask.objects.filter(company=company, status=HandoffTask.Status.OPEN)
                         .select_related("lead")[:20]),
        "leads": list(Lead.objects.filter(company=company).order_by("-created_at")[:limit]),
    }


def lead_for_company(*, company: Company, pk: int) -> Lead | None:
    return Lead.objects.filter(company=company, pk=pk).first()


def lead_timeline(*, lead: Lead, limit: int = 200) -> list[dict]:
    """Events, captures, emails, score changes and hand-offs of one lead, newest first."""
    items = []
    for e in lead.events.all()[:limit]:
        detail = (e.properties or {}).get("path") or (e.properties or {}).get("url") or ""
        items.append({"at": e.occurred_at, "kind": "event", "text": f"{e.get_type_display()} {detail}".strip()})
    for t in lead.touch_rows.all()[:limit]:
        consent = "with marketing consent" if t.consent_marketing else "without marketing consent"
        items.append({"at": t.created_at, "kind": "capture",
                      "text": f"captured via {t.get_channel_display()} ({t.source or 'no source'}), {consent}"})
    for c in lead.score_changes.all()[:limit]:
        items.append({"at": c.created_at, "kind": "score", "text": f"score {c.old_score} → {c.new_score} ({c.reason})"})
    for d in EmailDelivery.objects.filter(company_id=lead.company_id, lead=lead)[:limit]:
        items.append({"at": d.sent_at or d.created_at, "kind": "email", "text": f"email “{d.subject}”: {d.status}"})
    for h in lead.handoff_tasks.all():
        items.append({"at": h.created_at, "kind": "handoff", "text": f"{h.title} ({h.get_status_display()})"})
    items.sort(key=lambda i: i["at"], reverse=True)
    return items[:limit]


def sequences_with_performance(*, company: Company) -> list[dict]:
    from .sequences import sequence_performance  # noqa: PLC0415

    rows = []
    for sequence in Sequence.objects.filter(company=company).order_by("name"):
        by_status = dict(Enrolment.objects.filter(sequence=sequence).values_list("status").annotate(n=Count("id")))
        rows.append({"sequence": sequence, "enrolments": by_status, "steps": sequence_performance(sequence=sequence)})
    return rows


def experiments_evidence(*, company: Company, correlation_id: str | None = None) -> list[dict]:
    """Finished experiments (stopped or rolled out) as evidence the commander can weigh beside its own records:
    one dict per experiment (growth.experiments.experiment_evidence), newest first; optionally only those a
    mission or job started (`correlation_id`)."""
    from .experiments import experiment_evidence  # noqa: PLC0415 - experiments reads with scipy

    finished = Experiment.objects.filter(company=company, status__in=[Experiment.Status.STOPPED,
                                                                      Experiment.Status.ROLLED_OUT])
    if correlation_id is not None:
        finished = finished.filter(correlation_id=correlation_id)
    return [experiment_evidence(experiment=e) for e in finished.exclude(final_readout={}).order_by("-stopped_at")]
