"""Reads for the Command Center: a fixed number of queries whatever the number of missions."""

from decimal import Decimal

from django.db.models import Prefetch

from autonomax.models import Company, Role

from .models import EvidenceRecord, Job, Mission, PlaybookVersion
from .services.jobs import execution_blocked
from .services.missions import mission_can_decide
from .summary import mission_summary

ACTIVE_VIEW = [Mission.Status.APPROVED, Mission.Status.PLANNED, Mission.Status.RUNNING, Mission.Status.MEASURING]


def mission_for_company(*, company: Company, pk: int) -> Mission | None:
    return Mission.objects.select_related("play").filter(company=company, pk=pk).first()


CHART_W, CHART_H, PAD = 320, 120, 6


def _pct(value) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f}%"


def evidence_chart(*, record: EvidenceRecord) -> dict:
    """What the small evidence chart draws (inline SVG, no script): treated vs held out as two bars, or the
    actual daily values against the forecast and its band. Coordinates in a CHART_W × CHART_H box."""
    chart = record.chart or {}
    if chart.get("kind") == "groups":
        t, c = chart.get("treated") or {}, chart.get("control") or {}
        key = "rate" if "rate" in t else "mean"
        values = [t.get(key) or 0, c.get(key) or 0]
        top = max(values) or 1
        bars = []
        for i, (label, group, value) in enumerate((("treated", t, values[0]), ("held out", c, values[1]))):
            width = round((CHART_W - 110) * value / top, 1)
            shown = f"{value:.1%}" if key == "rate" else f"{value:,.2f}"
            bars.append({"label": f"{label} ({group.get('n', 0)})", "y": 20 + i * 45, "width": width,
                         "value": shown, "kind": "treated" if i == 0 else "control"})
        return {"kind": "groups", "bars": bars, "w": CHART_W, "h": CHART_H}
    if chart.get("kind") == "forecast" and chart.get("actual"):
        series = [v for k in ("actual", "low", "high", "forecast") for v in chart.get(k) or [] if v is not None]
        low, high = min(series), max(series)
        span = (high - low) or 1
        n = len(chart["actual"])

        def point(i, v):
            x = PAD + (CHART_W - 2 * PAD) * (i / max(1, n - 1))
            return f"{x:.1f},{PAD + (CHART_H - 2 * PAD) * (1 - (v - low) / span):.1f}"

        band = [point(i, v) for i, v in enumerate(chart["high"])] + \
            [point(i, v) for i, v in reversed(list(enumerate(chart["low"])))]
        return {"kind": "forecast", "w": CHART_W, "h": CHART_H, "band": " ".join(band),
                "forecast": " ".join(point(i, v) for i, v in enumerate(chart["forecast"])),
                "actual": " ".join(point(i, v) for i, v in enumerate(chart["actual"])),
                "first": chart["labels"][0], "last": chart["labels"][-1]}
    return {}


def evidence_view(*, record: EvidenceRecord) -> dict:
    """One record for a page: verdict, effect and interval in words, and its chart."""
    interval = (f"{_pct(record.ci_low)} to {_pct(record.ci_high)}"
                if record.ci_low is not None and record.ci_high is not None else "")
    return {"record": record, "verdict": record.verdict, "label": record.get_verdict_display(),
            "effect": _pct(record.effect_rel), "interval": interval, "level": f"{record.ci_level:.0%}",
            "probability": None if record.prob_improvement is None else f"{record.prob_improvement:.0%}",
            "chart": evidence_chart(record=record)}


def price_previews(*, company: Company, missions: list[Mission]) -> dict:
    """pick -> {name, before, after} for the price changes proposed missions would make (one read per pick)."""
    from commerce.services.catalog import catalog_products_pick  # noqa: PLC0415 - through commerce's services

    from .services.bots import price_change_target  # noqa: PLC0415

    previews = {}
    for mission in missions:
        for step in (mission.play_snapshot or {}).get("job_plan") or []:
            params = step.get("params") or {}
            pick = params.get("product", "best_seller")
            if step.get("type") != "price_change" or pick in previews:
                continue
            products = catalog_products_pick(company=company, pick=pick, limit=1)
            if products:
                after = price_change_target(price=products[0].price, params=params).quantize(Decimal("0.01"))
                previews[pick] = {"name": products[0].name, "before": products[0].price, "after": after}
    return previews


def mission_card(*, mission: Mission, role: str, prices: dict | None = None) -> dict:
    allowed, why = mission_can_decide(mission=mission, role=role)
    factors = [{"name": k.replace("_", " "), "value": v} for k, v in mission.score_factors.items()]
    jobs = list(mission.jobs.all())
    done = sum(1 for j in jobs if j.status == Job.Status.SUCCEEDED)
    return {"mission": mission, "factors": factors, "can_decide": allowed, "why_not": why, "jobs": jobs,
            "done": done, "total": len(jobs), "label": mission.play_snapshot.get("label", ""),
            "level": mission.play_snapshot.get("level", ""), "summary": mission_summary(mission=mission, prices=prices)}


def command_center(*, company: Company, role: str) -> dict:
    jobs = Prefetch("jobs", queryset=Job.objects.order_by("order"))
    missions = list(Mission.objects.filter(company=company, status__in=[Mission.Status.PROPOSED, *ACTIVE_VIEW,
                                                                          Mission.Status.ESCALATED])
                    .select_related("play").prefetch_related(jobs).order_by("-score", "-created_at")[:100])
    prices = price_previews(company=company, missions=[m for m in missions if m.status == Mission.Status.PROPOSED])
    cards = [mission_card(mission=m, role=role, prices=prices) for m in missions]
    stuck_jobs = list(Job.objects.filter(company=company, status__in=[Job.Status.STUCK, Job.Status.FAILED])
                      .select_related("mission").order_by("-started_at")[:20])
    evidence = list(EvidenceRecord.objects.filter(company=company).select_related("play").order_by("-recorded_at")[:10])
    return {
        "evidence": [evidence_view(record=e) for e in evidence],
        "proposed": [c for c in cards if c["mission"].status == Mission.Status.PROPOSED],
        "active": [c for c in cards if c["mission"].status in ACTIVE_VIEW],
        "escalated": [c for c in cards if c["mission"].status == Mission.Status.ESCALATED],
        "stuck_jobs": stuck_jobs,
        "wins": [e for e in evidence if e.success],
        "losses": [e for e in evidence if not e.success],
        "blocked": execution_blocked(company_id=company.pk),
        "is_owner": role == Role.OWNER,
    }


def mission_story(*, company: Company, pk: int, role: str) -> dict | None:
    """One mission's page: its card (decisions) and its timeline, oldest first — proposed (why), decided
    (by whom, why), each job (bot, attempts, log, error), measuring (until when), evidence."""
    jobs = Prefetch("jobs", queryset=Job.objects.order_by("order"))
    mission = (Mission.objects.filter(company=company, pk=pk).select_related("play", "decided_by")
               .prefetch_related(jobs).first())
    if mission is None:
        return None
    prices = price_previews(company=company, missions=[mission]) if mission.status == Mission.Status.PROPOSED else {}
    card = mission_card(mission=mission, role=role, prices=prices)
    evidence = EvidenceRecord.objects.filter(mission=mission).first()
    events = [{"at": mission.created_at, "kind": "proposed", "title": "Proposed",
               "text": card["summary"]["sentence"]}]
    if mission.decided_at:
        who = mission.decided_by.get_username() if mission.decided_by else "autopilot"
        verb = "Rejected" if mission.status == Mission.Status.REJECTED else "Approved"
        events.append({"at": mission.decided_at, "kind": "decided", "title": f"{verb} by {who}",
                       "text": mission.decision_reason})
    for job in card["jobs"]:
        if job.started_at:
            events.append({"at": job.started_at, "kind": "job", "title": f"{job.type} by {job.bot}", "job": job})
    if mission.measure_due_at:
        events.append({"at": mission.measure_due_at, "kind": "measuring", "title": "Measured after",
                       "text": "" if evidence else "The effect is measured once this time has passed."})
    view = evidence_view(record=evidence) if evidence else None
    if evidence:
        events.append({"at": evidence.recorded_at, "kind": "evidence", "title": f"Evidence: {view['label']}",
                       "evidence": view})
    if mission.status == Mission.Status.NO_OP and mission.completed_at:
        events.append({"at": mission.completed_at, "kind": "no_op", "title": "Nothing done: not measured, no evidence",
                       "text": mission.outcome})
    elif mission.status == Mission.Status.CANCELLED and mission.completed_at:
        events.append({"at": mission.completed_at, "kind": "cancelled", "title": "Cancelled",
                       "text": mission.decision_reason})
    return {"card": card, "mission": mission, "evidence": evidence, "evidence_view": view,
            "measure_plan": mission.measure_plan,
            "events": sorted(events, key=lambda e: e["at"]),
            "trigger_rows": [{"kpi": key, **row} for key, row in mission.trigger_values.items()]}


def portfolio(*, user) -> list[dict]:
    """Each active company the user belongs to: the week's headline, missions waiting, KPIs in alarm."""
    from commerce.selectors import sales_compare  # noqa: PLC0415 - the portfolio reads each shop's sales
    from kpis.selectors import kpi_current  # noqa: PLC0415

    rows = []
    memberships = (user.memberships.filter(company__is_active=True).select_related("company")
                   .order_by("company__name"))
    for membership in memberships:
        company = membership.company
        kpis = kpi_current(company=company).values()
        rows.append({
            "company": company, "role": membership.role, "sales": sales_compare(company=company, days=7),
            "waiting": Mission.objects.filter(company=company, status=Mission.Status.PROPOSED).count(),
            "critical": [k["label"] for k in kpis if k["status"] == "CRITICAL"],
            "warning": sum(1 for k in kpis if k["status"] == "WARNING"),
        })
    return rows


def onboarding_checklist(*, company: Company) -> dict:
    """The owner's first steps, each done or not: connect payments, load the playbook, run the silent cycle,
    review its report."""
    from autonomax.connections import connection_configured  # noqa: PLC0415

    version = PlaybookVersion.objects.filter(company=company).order_by("-number").first()
    done = company.onboarding or {}
    cycle = done.get("silent_cycle") or {}
    steps = [
        {"key": "payments", "label": "Connect payments", "done": connection_configured(company=company, kind="stripe"),
         "text": "Stripe's keys, so buyers can pay (Connections)."},
        {"key": "playbook", "label": "Load or edit the playbook", "done": version is not None,
         "text": f"Version {version.number} loaded {version.loaded_at:%Y-%m-%d}." if version
         else "The KPIs, plays and bots the commander works with."},
        {"key": "silent_cycle", "label": "Run the silent cycle", "done": bool(cycle),
         "text": f"Ran {cycle['at'][:16].replace('T', ' ')} by {cycle.get('by', '')}." if cycle
         else "What the commander would do now, changing nothing."},
        {"key": "review", "label": "Review its report", "done": "reviewed_at" in done,
         "text": "The KPIs it read and the missions it would suggest."},
    ]
    done_count = sum(1 for s in steps if s["done"])
    return {"steps": steps, "done_count": done_count, "complete": done_count == len(steps),
            "report": cycle.get("report")}
