"""The one declared table of status moves per model (mission, job): from, to, who may, what is recorded.

Services change a status only through `mission_move` / `job_move`; anything
else (the admin, a stray `save()`) has no way to set a workflow status. Each
row says who may make the move:

- `person`: an operator or owner through a service (approve, reject, retry, cancel),
  subject to the permission matrix in `services.missions.mission_can_decide`;
- `system`: the commander itself (planning, running, measuring, evidence, escalation);
- `autopilot`: auto-approval, only for operational `autonomy: auto` plays while the
  company's autopilot is on.

`records` names the fields a move must set along with the status (e.g. who decided
and why), so a move without them is refused.
"""

from dataclasses import dataclass

from autonomax.errors import ConflictError

from .models import Job, Mission

M, J = Mission.Status, Job.Status
PERSON, SYSTEM, AUTOPILOT = "person", "system", "autopilot"


@dataclass(frozen=True)
class Transition:
    who: frozenset
    records: tuple = ()
    note: str = ""


def _t(*who, records=(), note=""):
    return Transition(who=frozenset(who), records=tuple(records), note=note)


MISSION_TRANSITIONS: dict[tuple[str, str], Transition] = {
    (M.PROPOSED, M.APPROVED): _t(PERSON, AUTOPILOT, records=("decided_at", "decision_reason"),
                                 note="approved by a person (decided_by) or by autopilot for an operational auto play"),
    (M.PROPOSED, M.REJECTED): _t(PERSON, records=("decided_by", "decided_at", "decision_reason"),
                                 note="a person's no; the play is not suggested again for 7 days"),
    (M.APPROVED, M.PLANNED): _t(SYSTEM, note="the play's job_plan expanded into jobs"),
    (M.PLANNED, M.RUNNING): _t(SYSTEM, note="the first job is queued"),
    (M.PLANNED, M.MEASURING): _t(SYSTEM, records=("measure_due_at",), note="every job done, at least one did work"),
    (M.RUNNING, M.MEASURING): _t(SYSTEM, records=("measure_due_at",), note="every job done, at least one did work"),
    (M.PLANNED, M.NO_OP): _t(SYSTEM, records=("outcome", "completed_at"),
                             note="no job had anything to do: not measured, no evidence"),
    (M.RUNNING, M.NO_OP): _t(SYSTEM, records=("outcome", "completed_at"),
                             note="no job had anything to do: not measured, no evidence"),
    (M.MEASURING, M.COMPLETED): _t(SYSTEM, records=("completed_at",), note="evidence recorded"),
    (M.MEASURING, M.FAILED): _t(SYSTEM, records=("completed_at",), note="evidence recorded"),
    (M.APPROVED, M.ESCALATED): _t(SYSTEM, records=("decision_reason",), note="a job failed or got stuck"),
    (M.PLANNED, M.ESCALATED): _t(SYSTEM, records=("decision_reason",), note="a job failed or got stuck"),
    (M.RUNNING, M.ESCALATED): _t(SYSTEM, records=("decision_reason",), note="a job failed or got stuck"),
    (M.ESCALATED, M.RUNNING): _t(PERSON, records=("decision_reason",), note="retried: failed/stuck jobs run again"),
    **{(source, M.CANCELLED): _t(PERSON, records=("decision_reason", "completed_at"),
                                 note="a person stops the mission (named in the reason); jobs not run are cancelled")
       for source in (M.APPROVED, M.PLANNED, M.RUNNING, M.ESCALATED)},
    (M.PROPOSED, M.CANCELLED): _t(PERSON, SYSTEM, records=("decision_reason", "completed_at"),
                                  note="a person stops the proposal, or the system withdraws it when its play goes "
                                       "under review"),
}

JOB_TRANSITIONS: dict[tuple[str, str], Transition] = {
    (J.PENDING, J.QUEUED): _t(SYSTEM, note="enqueued on the bot's queue"),
    **{(source, J.RUNNING): _t(SYSTEM, records=("started_at",), note="claimed by a worker")
       for source in (J.PENDING, J.QUEUED, J.RUNNING, J.STUCK)},
    (J.RUNNING, J.SUCCEEDED): _t(SYSTEM, records=("result", "finished_at"), note="the bot did its work"),
    (J.STUCK, J.SUCCEEDED): _t(SYSTEM, records=("result", "finished_at"), note="a stuck job finished after all"),
    (J.RUNNING, J.SKIPPED): _t(SYSTEM, records=("result", "finished_at"),
                               note="the bot had nothing to do or its effect could not happen: not a success"),
    (J.STUCK, J.SKIPPED): _t(SYSTEM, records=("result", "finished_at"), note="as running -> skipped"),
    (J.RUNNING, J.QUEUED): _t(SYSTEM, note="a transient error: retried with backoff"),
    (J.RUNNING, J.PENDING): _t(SYSTEM, PERSON, note="a kill switch stopped it before a side effect, or a person "
                                                    "retried a job whose worker died"),
    (J.QUEUED, J.PENDING): _t(SYSTEM, note="a kill switch stopped it before it started"),
    (J.PENDING, J.PENDING): _t(SYSTEM, note="still held by a kill switch"),
    **{(source, J.FAILED): _t(SYSTEM, records=("error", "finished_at"), note="terminal error or retries used up")
       for source in (J.PENDING, J.QUEUED, J.RUNNING, J.STUCK)},
    (J.RUNNING, J.STUCK): _t(SYSTEM, note="running past the bot's timeout"),
    (J.QUEUED, J.STUCK): _t(SYSTEM, note="queued past its timeout and its task lost even after being re-sent"),
    (J.FAILED, J.PENDING): _t(PERSON, note="retried by a person with the mission"),
    (J.STUCK, J.PENDING): _t(PERSON, SYSTEM, note="retried by a person, or held by a kill switch on redelivery"),
    **{(source, J.CANCELLED): _t(PERSON, SYSTEM, note="its mission was cancelled before the job ran")
       for source in (J.PENDING, J.QUEUED, J.STUCK, J.FAILED)},
}


class TransitionRefused(ConflictError):
    """A status move that the table does not allow (or by someone it does not allow)."""


def _check(table: dict, *, model: str, pk, source: str, target: str, by: str, fields: dict) -> Transition:
    transition = table.get((source, target))
    if transition is None:
        raise TransitionRefused(f"{model} {pk} cannot go from {source} to {target}.",
                                code=f"{model.lower()}_{source}")
    if by not in transition.who:
        raise TransitionRefused(f"{model} {pk}: {source} -> {target} is not a move the {by} may make "
                                f"(allowed: {', '.join(sorted(transition.who))}).", code="transition_not_allowed")
    missing = [name for name in transition.records if name not in fields]
    if missing:
        raise TransitionRefused(f"{model} {pk}: {source} -> {target} must record {', '.join(missing)}.",
                                code="transition_incomplete")
    return transition


def mission_can_move(*, mission: Mission, to: str, by: str = SYSTEM) -> bool:
    transition = MISSION_TRANSITIONS.get((mission.status, to))
    return transition is not None and by in transition.who


def mission_move(*, mission: Mission, to: str, by: str, **fields) -> Mission:
    """Move a (locked) mission along the table and save the status with the fields the move records."""
    _check(MISSION_TRANSITIONS, model="Mission", pk=mission.pk, source=mission.status, target=to, by=by,
           fields=fields)
    mission.status = to
    for name, value in fields.items():
        setattr(mission, name, value)
    mission.save(update_fields=["status", *fields, "updated_at"])
    return mission


def job_move(*, job: Job, to: str, by: str = SYSTEM, save: tuple = (), **fields) -> Job:
    """Move a (locked) job along the table; `save` names further fields changed on the instance (e.g. log)."""
    _check(JOB_TRANSITIONS, model="Job", pk=job.pk, source=job.status, target=to, by=by, fields=fields)
    job.status = to
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=list(dict.fromkeys(["status", *fields, *save])))
    return job


def transitions_table(table: dict) -> list[dict]:
    """The table as rows, for documentation and the admin."""
    return [{"from": s, "to": t, "who": sorted(tr.who), "records": list(tr.records), "note": tr.note}
            for (s, t), tr in table.items()]
