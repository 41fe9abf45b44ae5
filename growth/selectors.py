"""Reads for the growth pages and API: tenant-filtered, with their related rows fetched up front."""

from django.db.models import Count, Q

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


def handoff_stream_input(*, company: Company, since, orders: list[dict]):
    """What lead hand-offs fed the consulting stream (commerce.streams): the hand-offs created since `since`,
    their outcomes, and which of the stream's `orders` a person worked on before the sale (the buyer was
    handed off to a person before paying and the hand-off was not dismissed). Two queries at most."""
    from commerce.streams import StreamInput  # noqa: PLC0415 - commerce owns the registry

    emails = {o["email"] for o in orders if o["email"]}
    tasks = list(HandoffTask.objects.filter(company=company, stream="consulting")
                 .filter(Q(created_at__gte=since) | Q(lead__email__in=emails))
                 .values("status", "created_at", "lead__email"))
    worked = [(t["lead__email"].lower(), t["created_at"]) for t in tasks
              if t["status"] != HandoffTask.Status.DISMISSED]
    person = frozenset(o["id"] for o in orders
                       if any(email == o["email"] and at <= o["paid_at"] for email, at in worked))
    recent = [t for t in tasks if t["created_at"] >= since]
    won = sum(1 for t in recent if t["status"] != HandoffTask.Status.DISMISSED and any(
        o["email"] == t["lead__email"].lower() and o["paid_at"] >= t["created_at"] for o in orders))
    counts = {"total": len(recent), "won": won,
              **{status: sum(1 for t in recent if t["status"] == status) for status in HandoffTask.Status.values}}
    return StreamInput(
        label="lead hand-offs", counts=counts, person_step_orders=person,
        summary=f"{counts['total']} lead hand-off{'s' if counts['total'] != 1 else ''} to a person "
                f"({counts['open']} open, {counts['done']} done, {counts['dismissed']} dismissed); "
                f"{won} led to an order")


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
