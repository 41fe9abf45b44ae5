"""SUGGEST_PLAYS (scoring, explanation, ranking), approval and planning of missions.

The services open `with transaction.atomic():` inside rather than wearing the decorator (the same
transaction): mutmut skips decorated functions, and mutation testing must reach these (scripts/mutmut.sh).
"""

import logging
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from autonomax.errors import AppError, ConflictError
from autonomax.models import Company, Event, EventName, Membership, Role
from autonomax.services import config_change_record

from ..models import Agent, EvidenceRecord, Job, Mission, Play, PlaybookVersion
from ..transitions import AUTOPILOT, PERSON, SYSTEM, job_move, mission_can_move, mission_move

logger = logging.getLogger(__name__)

WEIGHTS = {"revenue_potential": Decimal("0.30"), "success_probability": Decimal("0.25"),
           "automation_readiness": Decimal("0.20"), "time_to_revenue": Decimal("0.15"),
           "strategic_fit": Decimal("0.10")}
OPEN = [Mission.Status.PROPOSED, Mission.Status.APPROVED, Mission.Status.PLANNED, Mission.Status.RUNNING,
        Mission.Status.MEASURING, Mission.Status.ESCALATED]
# A person's "no" holds this long: a rejected play is not suggested again before then.
REJECTION_COOLDOWN = timedelta(days=7)
# A play whose mission found nothing to act on (no_op) is not suggested again for a day: its audience or gap is
# checked again tomorrow, not proposed (and, on autopilot, run) every cycle for nothing.
NO_OP_COOLDOWN = timedelta(days=1)
# Missions that hold one of the company's `max_active_missions` slots.
ACTIVE = [Mission.Status.PLANNED, Mission.Status.RUNNING]
SEVERITY = {"critical": Decimal("1.0"), "warning": Decimal("0.7"), "ok": Decimal("0.4")}
FOUR = Decimal("0.0001")


def _status(kpi: dict | None) -> str:
    return str((kpi or {}).get("status") or "unknown").lower()


def _condition_holds(cond: dict, kpi: dict) -> bool:
    if "status" in cond:
        wanted = cond["status"] if isinstance(cond["status"], list) else [cond["status"]]
        return _status(kpi) in {s.lower() for s in wanted}
    value = kpi.get("value")
    if value is None:
        return False
    value, limit = Decimal(str(value)), Decimal(str(cond["value"]))
    return {"<": value < limit, "<=": value <= limit, ">": value > limit, ">=": value >= limit}[cond["op"]]


def _depends_on_unknown(*, play: Play, kpis: dict) -> bool:
    needed = {c["kpi"] for c in play.trigger} | set(play.kpis)
    return any(_status(kpis.get(key)) == "unknown" for key in needed)


def play_matches(*, play: Play, kpis: dict) -> tuple[bool, list[dict]]:
    """Whether every trigger condition holds and no KPI the play depends on is UNKNOWN.

    Returns (matches, the KPI rows that triggered it).
    """
    if _depends_on_unknown(play=play, kpis=kpis):
        return False, []
    triggered = []
    for cond in play.trigger:
        kpi = kpis[cond["kpi"]]
        if not _condition_holds(cond, kpi):
            return False, []
        triggered.append(kpi)
    return True, triggered


def play_anomaly(*, play: Play, kpis: dict, anomalies: list[dict]) -> tuple[dict | None, list[dict]]:
    """The first new anomaly (kpis.selectors.anomalies_new's rows) that moved a KPI this play should move in
    that KPI's bad direction, with those KPIs' rows; (None, []) when none did or the play depends on an
    UNKNOWN KPI."""
    if _depends_on_unknown(play=play, kpis=kpis):
        return None, []
    for anomaly in anomalies:
        moved = [k["key"] for k in anomaly["kpis"] if k["harmful"] and k["key"] in play.kpis]
        if moved:
            return anomaly, [kpis[key] for key in moved]
    return None, []


def _anomaly_record(anomaly: dict, kpi_keys: list[str]) -> dict:
    """What the mission keeps of the anomaly that proposed it (JSON)."""
    numbers = {name: f"{Decimal(anomaly[name]).normalize():f}"
               for name in ("value", "expected_low", "expected_high", "baseline")}
    return {"id": anomaly["id"], "kpis": kpi_keys, "metric": anomaly["metric"], "day": anomaly["day"],
            "kind": anomaly["kind"], **numbers, "text": anomaly["text"]}


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    value = Decimal(str(value))
    return f"{value:,.2f}" if value != value.to_integral() else f"{value:,.0f}"


def score_play(*, play: Play, triggered: list[dict], kpis: dict, learned, bots: dict[str, set]
               ) -> tuple[Decimal, dict]:
    """The five factors (each 0-1) and the weighted score: the explanation of *why now*.

    `learned` is the play's effect posterior (policy.Posterior): its probability of helping is the
    success probability; once the play has measured runs, its measured effect is the revenue potential
    (a +20% lift or more counts fully).
    """
    worst = max((SEVERITY.get(_status(k), Decimal("0.4")) for k in triggered), default=Decimal("0.4"))
    steps = play.job_plan or []
    covered = sum(1 for s in steps if s.get("type") in bots.get(s.get("bot"), set()))
    readiness = (Decimal(covered) / len(steps) if steps else Decimal(0)) * (1 - Decimal(play.effort) / 2)
    moved = [k for k in play.kpis if _status(kpis.get(k)) in ("warning", "critical")]
    potential = (Decimal(str(round(learned.mean / 0.2, 4))) * worst if learned.runs
                 else Decimal(play.impact) * worst)
    factors = {
        # The play's own impact estimate (its measured effect once there is evidence), weighted by how bad
        # the triggering KPI is.
        "revenue_potential": potential,
        "success_probability": Decimal(str(round(learned.prob_positive, 4))),
        # Share of steps a known bot can run, less the play's effort.
        "automation_readiness": readiness,
        # Sooner measurable is sooner money: 0 at 30 days or more.
        "time_to_revenue": max(Decimal(0), 1 - Decimal(play.measure_after_hours) / (24 * 30)),
        # How many of the KPIs the play should move are off target right now.
        "strategic_fit": Decimal(len(moved)) / len(play.kpis) if play.kpis else Decimal(0),
    }
    factors = {k: min(Decimal(1), max(Decimal(0), v)).quantize(FOUR) for k, v in factors.items()}
    score = sum(WEIGHTS[k] * v for k, v in factors.items()).quantize(FOUR)
    return score, factors


def explain(*, play: Play, triggered: list[dict], score: Decimal, factors: dict, learned, plan: dict,
            anomaly: dict | None = None) -> str:
    parts = [f"a new anomaly: {anomaly['text']}"] if anomaly else []
    for kpi in triggered:
        unit = f" {kpi.get('unit')}" if kpi.get("unit") else ""
        parts.append(
            f"{kpi.get('label') or kpi['key']} ({kpi['key']}) is {_fmt(kpi.get('value'))}{unit}, "
            f"{_status(kpi).upper()} (target {_fmt(kpi.get('target'))}, warning {_fmt(kpi.get('warning'))}, "
            f"critical {_fmt(kpi.get('critical'))})"
        )
    breakdown = " + ".join(f"{WEIGHTS[k]}×{v} {k.replace('_', ' ')}" for k, v in factors.items())
    money = "" if learned.money is None else f"; measured {learned.money:+,.2f} per day on its KPI"
    return (f"Suggested because {'; '.join(parts)}. Score {score} = {breakdown}. "
            f"Success probability {factors['success_probability']} (evidence: {learned.sentence()}{money}). "
            f"{plan.get('note', '')}").strip()


def play_evidence_stats(*, company: Company) -> dict[int, tuple[int, int]]:
    """play id -> (wins, other measured verdicts), one query for all plays."""
    rows = (EvidenceRecord.objects.filter(company=company).exclude(method=EvidenceRecord.Method.UNMEASURED)
            .values("play_id").annotate(ok=Count("id", filter=Q(verdict=EvidenceRecord.Verdict.WIN)),
                                        bad=Count("id", filter=~Q(verdict=EvidenceRecord.Verdict.WIN))))
    return {r["play_id"]: (r["ok"], r["bad"]) for r in rows}


def bot_handles(*, company: Company) -> dict[str, set]:
    return {a.key: set(a.handles) for a in Agent.objects.filter(company=company, kind=Agent.Kind.BOT)}


def _kpi_rows(kpis: dict, keys: list[str]) -> dict:
    """The values and thresholds of `keys` at suggestion time (also the evidence's "before")."""
    fields = ("value", "status", "target", "warning", "critical", "unit", "direction", "label")
    return {key: {f: None if kpis[key].get(f) is None else str(kpis[key].get(f)) for f in fields}
            for key in dict.fromkeys(keys)}


def play_snapshot(play: Play) -> dict:
    return {"key": play.key, "label": play.label, "version": play.version, "owner": play.owner,
            "level": play.level, "autonomy": play.autonomy, "trigger": play.trigger, "kpis": play.kpis,
            "job_plan": play.job_plan, "measure_after_hours": play.measure_after_hours,
            "success": play.success_criterion, "measure": play.measure}


def missions_suggest(*, company: Company, kpis: dict, now=None, anomalies: list[dict] = ()) -> list[Mission]:
    """Match KPI states to active plays; create a proposed Mission per new match, ranked by score.

    A play also matches when one of this cycle's new `anomalies` (kpis.selectors.anomalies_new, taken up
    once) moved a KPI it should move in the bad direction; the anomaly is in its explanation. Either way a
    play with an open mission, one a person rejected within REJECTION_COOLDOWN, one that found nothing to do
    within NO_OP_COOLDOWN, or one that depends on an
    UNKNOWN KPI is skipped.

    A constant number of queries whatever the number of plays: plays, open
    missions, evidence stats and bots are read once; missions and their
    `agent.proposal` events are bulk-created.
    """
    with transaction.atomic():
        now = now or timezone.now()
        plays = list(Play.objects.filter(company=company, status=Play.Status.ACTIVE))
        open_play_ids = set(
            Mission.objects.filter(company=company)
            .filter(Q(status__in=OPEN) | Q(status=Mission.Status.REJECTED, decided_at__gte=now - REJECTION_COOLDOWN)
                    | Q(status=Mission.Status.NO_OP, completed_at__gte=now - NO_OP_COOLDOWN))
            .values_list("play_id", flat=True)
        )
        from .evidence import measure_plan  # noqa: PLC0415 - evidence imports this module
        from .policy import play_posteriors, policy_current, policy_rank  # noqa: PLC0415

        if policy_current()["name"] == "none":
            return []  # the "do nothing" policy (the simulator's baseline) suggests no play
        posteriors = play_posteriors(company=company, plays=plays, now=now)
        bots = bot_handles(company=company)
        audiences: dict = {}
        version = PlaybookVersion.objects.filter(company=company).order_by("-number").first()
        new = []
        for play in plays:
            if play.pk in open_play_ids:
                continue
            matches, triggered = play_matches(play=play, kpis=kpis)
            anomaly, moved = play_anomaly(play=play, kpis=kpis, anomalies=anomalies)
            if not matches and anomaly is None:
                continue
            triggered = triggered + [k for k in moved if k not in triggered]
            learned = posteriors[play.pk]
            score, factors = score_play(play=play, triggered=triggered, kpis=kpis, learned=learned, bots=bots)
            snapshot = play_snapshot(play)
            plan = measure_plan(company=company, snapshot=snapshot, kpis=kpis, audiences=audiences)
            new.append(Mission(
                company=company, play=play, play_version=play.version, play_snapshot=snapshot,
                playbook_version=version,
                score=score, score_factors={k: str(v) for k, v in factors.items()}, measure_plan=plan,
                explanation=explain(play=play, triggered=triggered, score=score, factors=factors, learned=learned,
                                    plan=plan, anomaly=anomaly),
                trigger_values=_kpi_rows(kpis, [c["kpi"] for c in play.trigger] + list(play.kpis)),
                anomaly=_anomaly_record(anomaly, [k["key"] for k in moved]) if anomaly else {},
            ))
        new = policy_rank(company=company, missions=new, posteriors=posteriors, now=now)
        if not new:
            return []
        created = Mission.objects.bulk_create(new)
        Event.objects.bulk_create([
            Event(company=company, name=EventName.AGENT_PROPOSAL, occurred_at=now, correlation_id=str(m.correlation_id),
                  payload={"mission_id": m.pk, "play": m.play_snapshot["key"], "score": str(m.score),
                           "factors": m.score_factors, "policy": m.policy, "rank": m.policy_rank,
                           "propensity": None if m.propensity is None else str(m.propensity)})
            for m in created
        ])
        return created


# --- Approval ---------------------------------------------------------------------------------------------------

def _role(*, company: Company, actor) -> str | None:
    if actor is None:
        return None
    if getattr(actor, "is_superuser", False):
        return Role.OWNER
    return (Membership.objects.filter(company=company, user=actor).values_list("role", flat=True).first())


def mission_can_decide(*, mission: Mission, role: str | None) -> tuple[bool, str]:
    """The permission matrix: viewers never; strategic plays owners only; otherwise operator or owner."""
    level = mission.play_snapshot.get("level", Play.Level.OPERATIONAL)
    if role not in (Role.OWNER, Role.OPERATOR):
        return False, "Your role in this company does not allow deciding on missions."
    if level == Play.Level.STRATEGIC and role != Role.OWNER:
        return False, "This is a strategic mission: only an owner may decide on it."
    return True, ""


def mission_decider_require(*, mission: Mission, actor) -> None:
    """Refuse (403) an actor whose role does not allow deciding on this mission."""
    allowed, why = mission_can_decide(mission=mission, role=_role(company=mission.company, actor=actor))
    if not allowed:
        raise AppError(why, code="permission_denied", status=403)


def _decide(*, mission: Mission, actor, reason: str, to: str) -> Mission:
    mission = Mission.objects.select_for_update().get(pk=mission.pk)
    mission_decider_require(mission=mission, actor=actor)
    if mission.status != Mission.Status.PROPOSED:
        raise ConflictError(f"Mission {mission.pk} is {mission.status}, not proposed: it cannot be "
                            f"{'approved' if to == Mission.Status.APPROVED else 'rejected'}.",
                            code=f"mission_{mission.status}")
    return mission_move(mission=mission, to=to, by=PERSON, decided_by=actor, decided_at=timezone.now(),
                        decision_reason=reason)


def mission_approve(*, mission: Mission, actor, reason: str = "") -> Mission:
    """Approve a proposed mission; it is planned and started at once if a slot is free."""
    with transaction.atomic():
        mission = _decide(mission=mission, actor=actor, reason=reason, to=Mission.Status.APPROVED)
        missions_start(company=mission.company)
        mission.refresh_from_db()
        return mission


def mission_reject(*, mission: Mission, actor, reason: str = "") -> Mission:
    with transaction.atomic():
        return _decide(mission=mission, actor=actor, reason=reason, to=Mission.Status.REJECTED)


def missions_auto_approve(*, company: Company) -> list[Mission]:
    """Only operational `autonomy: auto` plays skip approval, and only while the company's autopilot is on.

    Tactical and strategic missions always wait for a person, whatever their play says.
    """
    with transaction.atomic():
        if not Company.objects.filter(pk=company.pk, autopilot=True).exists():
            return []
        missions = list(Mission.objects.select_for_update().filter(
            company=company, status=Mission.Status.PROPOSED, play_snapshot__autonomy=Play.Autonomy.AUTO,
            play_snapshot__level=Play.Level.OPERATIONAL))
        now = timezone.now()
        for mission in missions:
            mission_move(mission=mission, to=Mission.Status.APPROVED, by=AUTOPILOT, decided_at=now,
                         decision_reason="autopilot: operational auto play")
        return missions


# --- Planning -----------------------------------------------------------------------------------------------------

def mission_plan(*, mission: Mission) -> list[Job]:
    """Expand the mission's pinned job_plan (its play snapshot) into Jobs. Never twice."""
    if mission.jobs.exists():
        return list(mission.jobs.all())
    jobs = [Job(company_id=mission.company_id, mission=mission, type=step["type"], bot=step["bot"],
                params=step.get("params") or {}, order=step.get("order", i), queue=step.get("queue", "default"),
                timeout_minutes=step.get("timeout_minutes", 15))
            for i, step in enumerate(mission.play_snapshot.get("job_plan", []))]
    Job.objects.bulk_create(jobs)
    from .evidence import mission_measure_start  # noqa: PLC0415 - evidence imports this module

    mission_measure_start(mission=mission)  # "before" is the play's start; a holdout is split now
    mission_move(mission=mission, to=Mission.Status.PLANNED, by=SYSTEM)
    return jobs


def missions_start(*, company: Company) -> list[Mission]:
    """Plan approved missions (best score first) while the company has free slots, and queue their first job."""
    with transaction.atomic():
        from .jobs import mission_continue  # noqa: PLC0415 - jobs imports this module

        company = Company.objects.select_for_update().get(pk=company.pk)
        active = Mission.objects.filter(company=company, status__in=ACTIVE).count()
        free = max(0, company.max_active_missions - active)
        if not free:
            return []
        started = list(Mission.objects.select_for_update().filter(company=company, status=Mission.Status.APPROVED)
                       .order_by("policy_rank", "-score", "created_at")[:free])
        for mission in started:
            mission_plan(mission=mission)
            mission_continue(mission=mission)
        return started


def mission_escalate(*, mission: Mission, reason: str, context: dict | None = None) -> Mission:
    """Hand the mission to a person, with what happened."""
    with transaction.atomic():
        mission = Mission.objects.select_for_update().get(pk=mission.pk)
        if not mission_can_move(mission=mission, to=Mission.Status.ESCALATED, by=SYSTEM):
            return mission  # already escalated, finished or cancelled
        mission_move(mission=mission, to=Mission.Status.ESCALATED, by=SYSTEM, decision_reason=f"escalated: {reason}")
        logger.error("mission %s escalated: %s %s", mission.pk, reason, context or {})
        from .alerts import owners_alert  # noqa: PLC0415

        owners_alert(company=mission.company, subject=f"Mission escalated: {mission.play_snapshot.get('label')}",
                     body=f"{reason}\n\nMission {mission.pk} (correlation {mission.correlation_id}).\n"
                          f"Context: {context or {}}\n")
        return mission


def measure_due(*, mission: Mission, now=None):
    return (now or timezone.now()) + timedelta(hours=mission.play_snapshot.get("measure_after_hours", 72))


def play_set_under_review(*, play: Play, reason: str) -> Play:
    with transaction.atomic():
        play = Play.objects.select_for_update().get(pk=play.pk)
        if play.status != Play.Status.ACTIVE:
            return play
        config_change_record(company=play.company, actor_label="evidence commander", object_type="play",
                             object_id=play.key, changes={"status": [play.status, Play.Status.UNDER_REVIEW]},
                             reason=reason, expected_effect="the play stops triggering until a person clears it")
        play.status = Play.Status.UNDER_REVIEW
        play.save(update_fields=["status", "updated_at"])
        # Its waiting proposals are withdrawn: nobody should approve a play the evidence just stopped.
        now = timezone.now()
        for mission in Mission.objects.select_for_update().filter(play=play, status=Mission.Status.PROPOSED):
            mission_move(mission=mission, to=Mission.Status.CANCELLED, by=SYSTEM, completed_at=now,
                         decision_reason=f"withdrawn: the play went under review ({reason})")
        return play


def company_autopilot_set(*, company: Company, on: bool, actor, reason: str = "") -> Company:
    """Autopilot: operational `autonomy: auto` plays run without approval while it is on.

    Only an owner switches it, and turning it on needs a reason: the change log records who and why.
    """
    with transaction.atomic():
        company = Company.objects.select_for_update().get(pk=company.pk)
        if _role(company=company, actor=actor) != Role.OWNER:
            raise AppError("Only an owner of this company may switch autopilot.", code="permission_denied", status=403)
        if on and not company.autopilot and not reason.strip():
            raise AppError("Say why you turn autopilot on (reason).", code="reason_required")
        if company.autopilot != on:
            config_change_record(company=company, actor=actor, object_type="company.autopilot", object_id=company.slug,
                                 changes={"autopilot": [company.autopilot, on]}, reason=reason,
                                 expected_effect="auto plays run without approval" if on
                                 else "every mission waits for approval")
            company.autopilot = on
            company.save(update_fields=["autopilot"])
        return company


def mission_retry(*, mission: Mission, actor, reason: str = "") -> Mission:
    """A person sends an escalated mission back to work: its failed/stuck jobs run again.

    Jobs that succeeded are never re-run, and each bot's side effects are keyed by
    the job, so work a dead worker already did (emails sent, price changed) is not
    repeated.
    """
    with transaction.atomic():
        from .jobs import mission_continue  # noqa: PLC0415 - jobs imports this module

        mission = Mission.objects.select_for_update().get(pk=mission.pk)
        mission_decider_require(mission=mission, actor=actor)
        if mission.status != Mission.Status.ESCALATED:
            raise ConflictError(f"Mission {mission.pk} is {mission.status}, not escalated: nothing to retry.",
                                code=f"mission_{mission.status}")
        for job in mission.jobs.select_for_update().filter(
                status__in=[Job.Status.FAILED, Job.Status.STUCK, Job.Status.RUNNING]).order_by("pk"):
            job.error, job.requeues = "", 0
            job_move(job=job, to=Job.Status.PENDING, by=PERSON, save=("error", "requeues"))
        mission_move(mission=mission, to=Mission.Status.RUNNING, by=PERSON,
                     decision_reason=f"retried by {actor}: {reason}".strip())
        mission_continue(mission=mission)
        mission.refresh_from_db()
        return mission


def mission_cancel(*, mission: Mission, actor, reason: str = "") -> Mission:
    """A person stops a mission that has not finished: jobs not yet run are cancelled, nothing is measured.

    A job already running on a worker finishes its current step (its side effects are
    keyed by the job), but the mission does not continue.
    """
    with transaction.atomic():
        mission = Mission.objects.select_for_update().get(pk=mission.pk)
        mission_decider_require(mission=mission, actor=actor)
        if not mission_can_move(mission=mission, to=Mission.Status.CANCELLED, by=PERSON):
            raise ConflictError(f"Mission {mission.pk} is {mission.status}: it cannot be cancelled.",
                                code=f"mission_{mission.status}")
        now = timezone.now()
        for job in mission.jobs.select_for_update().filter(
                status__in=[Job.Status.PENDING, Job.Status.QUEUED, Job.Status.STUCK, Job.Status.FAILED]).order_by("pk"):
            job.log = f"{job.log}{now:%Y-%m-%d %H:%M:%S} cancelled with its mission by {actor}\n"
            job_move(job=job, to=Job.Status.CANCELLED, by=PERSON, save=("log",))
        return mission_move(mission=mission, to=Mission.Status.CANCELLED, by=PERSON,
                            decision_reason=f"cancelled by {actor}: {reason}".strip(), completed_at=now)
