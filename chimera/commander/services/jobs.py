"""Running jobs: the kill switches, claiming, the bot call, retries, escalation and stuck detection.

A job's side effects are idempotent by the job's `idempotency_key` (each bot
checks it before acting), so a duplicated or redelivered task never acts
twice. Every job appends what it did to its `log`.

The services open `with transaction.atomic():` inside rather than wearing the decorator (the same
transaction): mutmut skips decorated functions (scripts/mutmut.sh).
"""

import logging
import smtplib
from datetime import timedelta

import waffle
from django.db import OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone
from waffle.models import Switch

from autonomax.errors import AppError
from autonomax.models import Company
from autonomax.services import company_set_halt, config_change_record

from ..models import Job, Mission
from ..transitions import JOB_TRANSITIONS, SYSTEM, job_move, mission_move
from .missions import measure_due, mission_escalate

logger = logging.getLogger(__name__)

GLOBAL_HALT_SWITCH = "commander_halt_all"
MAX_ATTEMPTS = 5


class TransientJobError(Exception):
    """A failure worth retrying (network, provider busy); anything else fails the job at once."""


class NothingDone(Exception):  # noqa: N818 - it is an outcome, not an error
    """The bot did nothing: nothing to do (an empty segment) or its side effect could not happen.

    The job ends `skipped` with this reason, which is not a success; a mission whose
    jobs all did nothing ends `no_op` and is neither measured nor counted as evidence.
    """

    def __init__(self, reason: str, **result):
        super().__init__(reason)
        self.reason = reason
        self.result = result


class ExecutionHalted(Exception):
    """A kill switch is on: the job stops before its next side effect and waits."""


TRANSIENT = (TransientJobError, ConnectionError, TimeoutError, smtplib.SMTPException, OperationalError)


def execution_blocked(*, company_id: int) -> str:
    """Why execution is stopped for this company right now ('' when it may run). Read fresh every time."""
    if waffle.switch_is_active(GLOBAL_HALT_SWITCH):
        return "the global kill switch is on"
    halted = Company.objects.filter(pk=company_id).values_list("execution_halted", flat=True).first()
    if halted:
        return "the company's kill switch is on"
    return ""


def global_halt_set(*, halted: bool, actor, reason: str = "") -> bool:
    """The global kill switch (django-waffle switch): stops job execution for every company."""
    with transaction.atomic():
        if not getattr(actor, "is_superuser", False):
            raise AppError("Only a superuser may use the global kill switch.", code="permission_denied", status=403)
        switch, _ = Switch.objects.get_or_create(name=GLOBAL_HALT_SWITCH, defaults={"active": False,
                                                 "note": "Stops all commander job execution (every company)."})
        if switch.active != halted:
            config_change_record(company=None, actor=actor, object_type="switch", object_id=GLOBAL_HALT_SWITCH,
                                 changes={"active": [switch.active, halted]}, reason=reason,
                                 expected_effect="all job execution stops" if halted else "job execution resumes")
            switch.active = halted
            switch.save()  # waffle invalidates its cache on save
            if not halted:
                # Lifting the global switch resumes every company that is not halted itself, now: after the
                # commit, once waffle has dropped its cached switch (its own on_commit runs first).
                transaction.on_commit(_missions_resume_all)
        return switch.active


def _missions_resume_all() -> None:
    for company in Company.objects.filter(is_active=True, execution_halted=False).order_by("pk"):
        missions_resume(company=company)


def _log(job: Job, message: str) -> None:
    job.log = f"{job.log}{timezone.now():%Y-%m-%d %H:%M:%S} {message}\n"


def _enqueue(job: Job) -> None:
    from chimera.tasks import job_execute  # noqa: PLC0415 - tasks import services, not the other way

    job_id, queue, seconds = job.pk, job.queue, job.timeout_minutes * 60
    # The bot's own timeout (agents.yml) bounds the task; past it the job fails and escalates.
    transaction.on_commit(lambda: job_execute.apply_async(args=[job_id], queue=queue, soft_time_limit=seconds,
                                                          time_limit=seconds + 30))


def mission_continue(*, mission: Mission) -> Job | None:
    """Queue the mission's next unfinished job; when every job is done, measure the mission if at least
    one job did its work, or end it `no_op` (with the jobs' reasons) when none did."""
    with transaction.atomic():
        mission = Mission.objects.select_for_update().get(pk=mission.pk)
        if mission.status not in (Mission.Status.PLANNED, Mission.Status.RUNNING):
            return None
        jobs = list(mission.jobs.all())
        pending = [j for j in jobs if j.status not in (Job.Status.SUCCEEDED, Job.Status.SKIPPED)]
        if not pending:
            if any(j.status == Job.Status.SUCCEEDED for j in jobs):
                mission_move(mission=mission, to=Mission.Status.MEASURING, by=SYSTEM,
                             measure_due_at=measure_due(mission=mission))
            else:
                reasons = "; ".join(f"{j.type}: {j.result.get('skipped') or j.result.get('summary', '')}" for j in jobs)
                mission_move(mission=mission, to=Mission.Status.NO_OP, by=SYSTEM, completed_at=timezone.now(),
                             outcome=f"nothing was done: {reasons or 'the play has no jobs'}")
            return None
        job = pending[0]
        if job.status not in (Job.Status.PENDING,):
            return job  # already queued or running; its task continues the mission
        if not _queue(job):
            return job  # stays pending; the next cycle queues it once the switch is off
        if mission.status != Mission.Status.RUNNING:
            mission_move(mission=mission, to=Mission.Status.RUNNING, by=SYSTEM)
        return job


def _queue(job: Job, note: str = "") -> bool:
    """Queue a pending job unless a kill switch is on (then it stays pending); whether it was queued."""
    if execution_blocked(company_id=job.company_id):
        return False
    job.queued_at = timezone.now()
    _log(job, f"queued on '{job.queue}'{note}")
    job_move(job=job, to=Job.Status.QUEUED, save=("queued_at", "log"))
    _enqueue(job)
    return True


def mission_undo(*, mission: Mission, reason: str) -> Job | None:
    """Queue the job that takes back what the mission changed in the store (a bundle put on sale, a price),
    once; None when the mission changed nothing that can be taken back. It runs like any job: the kill
    switches hold it, and a lost task is sent again."""
    from .bots import UNDO_STEPS  # noqa: PLC0415 - bots import this module

    with transaction.atomic():
        jobs = list(mission.jobs.select_for_update().order_by("order"))
        if any(j.type == "undo" for j in jobs) or not any(
                j.type in UNDO_STEPS and j.status == Job.Status.SUCCEEDED for j in jobs):
            return None
        job = Job.objects.create(company_id=mission.company_id, mission=mission, type="undo", bot="ops_bot",
                                 params={"reason": reason}, order=jobs[-1].order + 1, queue=jobs[-1].queue)
        _queue(job, f": {reason}")  # while a kill switch is on it stays pending; missions_resume queues it
        return job


def mission_undo_by_person(*, mission: Mission, actor, reason: str = "") -> Job:
    """A person takes the mission's store changes back (who may decide on it may undo it)."""
    from .missions import mission_decider_require  # noqa: PLC0415 - the permission matrix lives there

    mission_decider_require(mission=mission, actor=actor)
    job = mission_undo(mission=mission, reason=f"{reason or 'taken back'} by {actor}")
    if job is None:
        raise AppError("This mission changed nothing that can be taken back, or it was taken back already.",
                       code="nothing_to_undo", status=409)
    return job


def missions_resume(*, company: Company) -> int:
    """Queue the next job of running missions whose job waits (after a kill switch, a lost task), and the
    undo jobs of finished missions that wait."""
    count = 0
    for mission in Mission.objects.filter(company=company, status__in=[Mission.Status.PLANNED,
                                                                       Mission.Status.RUNNING]):
        job = mission_continue(mission=mission)
        count += bool(job and job.status == Job.Status.QUEUED)
    for job_id in Job.objects.filter(company=company, type="undo", status=Job.Status.PENDING).values_list("pk",
                                                                                                        flat=True):
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job_id)
            count += job.status == Job.Status.PENDING and _queue(job)
    return count


def company_halt_switch(*, company: Company, halted: bool, actor=None, reason: str = "") -> Company:
    """The company kill switch (autonomax.services.company_set_halt, the one service the API and the Command
    Center share): lifting it queues the waiting jobs now (missions_resume is registered with it)."""
    return company_set_halt(company=company, halted=halted, actor=actor, reason=reason)


class BotContext:
    """What a bot gets besides its job: a kill-switch guard to call before each side effect, and a log."""

    def __init__(self, job: Job):
        self.job = job
        self.company = job.company
        self.mission = job.mission
        self.lines: list[str] = []

    def guard(self) -> None:
        blocked = execution_blocked(company_id=self.job.company_id)
        if blocked:
            raise ExecutionHalted(blocked)

    def log(self, message: str) -> None:
        logger.info("job %s (%s): %s", self.job.pk, self.job.type, message)
        self.lines.append(message)

    def previous_results(self) -> list[dict]:
        return [j.result for j in self.mission.jobs.filter(status=Job.Status.SUCCEEDED, order__lt=self.job.order)]


def job_run(*, job_id: int) -> str:
    """Run one job once. Returns what happened: done / skipped / noop / halted / failed.

    Transient errors propagate (the task retries them).
    """
    from .bots import BOTS  # noqa: PLC0415 - bots import app services lazily

    job = Job.objects.select_related("company", "mission").filter(pk=job_id).first()
    if job is None or job.status in (Job.Status.SUCCEEDED, Job.Status.SKIPPED, Job.Status.CANCELLED,
                                       Job.Status.FAILED):
        return "noop"
    blocked = execution_blocked(company_id=job.company_id)
    if blocked:
        _job_halted(job_id=job.pk, reason=blocked)
        return "halted"
    # A conditional UPDATE claims the job (two deliveries never both run it), from the table's sources.
    claimable = [source for (source, target) in JOB_TRANSITIONS if target == Job.Status.RUNNING]
    claimed = Job.objects.filter(pk=job.pk).filter(Q(status__in=claimable)).update(
        status=Job.Status.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1)
    if not claimed:
        return "noop"
    job.refresh_from_db()
    ctx = BotContext(job)
    bot = BOTS.get(job.type)
    try:
        if bot is None:
            raise AppError(f"no bot handles job type '{job.type}'", code="unknown_job_type")
        result = bot(job=job, ctx=ctx)
    except NothingDone as exc:
        _job_skip(job_id=job.pk, reason=exc.reason, result=exc.result, lines=ctx.lines)
        return "skipped"
    except ExecutionHalted as exc:
        _job_halted(job_id=job.pk, reason=str(exc), lines=ctx.lines)
        return "halted"
    except TRANSIENT as exc:
        _job_note(job_id=job.pk, status=Job.Status.QUEUED, error=f"{type(exc).__name__}: {exc}",
                  lines=[*ctx.lines, f"attempt {job.attempts} failed (will retry): {exc}"])
        raise
    except Exception as exc:  # noqa: BLE001 - a bot raising escalates its mission; the cycle continues
        logger.exception("job %s failed", job.pk)
        job_fail(job_id=job.pk, error=f"{type(exc).__name__}: {exc}", lines=ctx.lines)
        return "failed"
    _job_succeed(job_id=job.pk, result=result, lines=ctx.lines)
    return "done"


def _job_finish(*, job_id: int, to: str, result: dict, lines: list[str], last_line: str) -> None:
    """A running (or stuck) job ends as `to` with the bot's log lines, and its mission goes on."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.status not in (Job.Status.RUNNING, Job.Status.STUCK):
            return
        for line in [*lines, last_line]:
            _log(job, line)
        job.error = ""
        job_move(job=job, to=to, result=result, finished_at=timezone.now(), save=("error", "log"))
        mission_continue(mission=job.mission)


def _job_succeed(*, job_id: int, result: dict, lines: list[str]) -> None:
    _job_finish(job_id=job_id, to=Job.Status.SUCCEEDED, result=result, lines=lines,
                last_line=f"succeeded: {result.get('summary', '')}")


def _job_skip(*, job_id: int, reason: str, result: dict, lines: list[str]) -> None:
    """The bot did nothing, and says why: `skipped` is not a success and never counts as evidence."""
    _job_finish(job_id=job_id, to=Job.Status.SKIPPED, lines=lines, last_line=f"skipped (nothing done): {reason}",
                result={**result, "summary": f"nothing done: {reason}", "skipped": reason})


def _job_note(*, job_id: int, status: str, error: str = "", lines: list[str] = ()) -> None:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        for line in lines:
            _log(job, line)
        job.error = error or job.error
        save = ("error", "log")
        if status == Job.Status.QUEUED:
            job.queued_at = timezone.now()
            save += ("queued_at",)
        job_move(job=job, to=status, save=save)


def _job_halted(*, job_id: int, reason: str, lines: list[str] = ()) -> None:
    # Back to pending: missions_resume queues it again once the switch is off.
    _job_note(job_id=job_id, status=Job.Status.PENDING, lines=[*lines, f"not run: {reason}"])


def job_fail(*, job_id: int, error: str, lines: list[str] = ()) -> None:
    """A terminal failure (or retries used up): the job fails and its mission goes to a person."""
    with transaction.atomic():
        job = Job.objects.select_for_update().select_related("mission").get(pk=job_id)
        if (job.status, Job.Status.FAILED) not in JOB_TRANSITIONS:
            return
        for line in lines:
            _log(job, line)
        _log(job, f"failed after {job.attempts} attempt(s): {error}")
        job_move(job=job, to=Job.Status.FAILED, error=error, finished_at=timezone.now(), save=("log",))
        reason = f"job '{job.type}' by {job.bot} failed: {error}"
        mission = mission_escalate(mission=job.mission, reason=reason,
                                   context={"job_id": job.pk, "attempts": job.attempts, "params": job.params,
                                            "log": job.log[-2000:]})
        if mission.status != Mission.Status.ESCALATED:
            # A finished mission's job (an undo) cannot hand the mission over: the owners are told instead.
            from .alerts import owners_alert  # noqa: PLC0415

            owners_alert(company=mission.company, subject=f"Job failed: {job.type} of mission {mission.pk}",
                         body=f"{reason}\n\nMission {mission.pk} ({mission.play_snapshot.get('label')}) is "
                              f"{mission.status}. Job {job.pk} log:\n{job.log[-2000:]}\n")


# A queued job's task waits at most the retry backoff (10 minutes) on top of the job's own timeout.
QUEUE_GRACE = timedelta(minutes=10)
# A job still queued that long has lost its task (a worker died holding it): its task is sent again this many
# times, then the job is marked stuck like a running one, so its mission stops holding an active slot.
MAX_REQUEUES = 1


def jobs_mark_stuck(*, now=None) -> list[int]:
    """Running jobs past their timeout, and queued jobs whose task was lost, are marked stuck and their
    missions escalated with an alert; a lost queued task is first sent again once."""
    now = now or timezone.now()
    stuck = []
    for job in Job.objects.filter(status=Job.Status.RUNNING).only("id", "started_at", "timeout_minutes"):
        if job.started_at and job.started_at + timedelta(minutes=job.timeout_minutes) < now:
            stuck.append(job.pk)
    lost = [job.pk for job in Job.objects.filter(status=Job.Status.QUEUED).only("id", "queued_at", "timeout_minutes")
            if job.queued_at is None or job.queued_at + timedelta(minutes=job.timeout_minutes) + QUEUE_GRACE < now]
    stuck += _jobs_requeue_or_stuck(job_ids=lost, now=now)
    for job_id in stuck:
        with transaction.atomic():
            job = Job.objects.select_for_update().select_related("mission").get(pk=job_id)
            if job.status == Job.Status.RUNNING:
                _log(job, f"stuck: running for more than {job.timeout_minutes} minutes")
                reason = f"job '{job.type}' is stuck (timeout {job.timeout_minutes} min)"
            elif job.status == Job.Status.QUEUED:
                _log(job, f"stuck: queued since {job.queued_at} and its task was lost ({job.requeues} re-sent)")
                reason = f"job '{job.type}' is stuck in the queue (its task was lost)"
            else:
                continue
            job_move(job=job, to=Job.Status.STUCK, save=("log",))
            mission_escalate(mission=job.mission, reason=reason,
                             context={"job_id": job.pk, "started_at": str(job.started_at),
                                      "queued_at": str(job.queued_at)})
    return stuck


def _jobs_requeue_or_stuck(*, job_ids: list[int], now) -> list[int]:
    """Send each lost queued job's task again (MAX_REQUEUES times); return the ones to mark stuck."""
    give_up = []
    for job_id in job_ids:
        with transaction.atomic():
            job = Job.objects.select_for_update().filter(pk=job_id, status=Job.Status.QUEUED).first()
            if job is None:
                continue
            if job.requeues >= MAX_REQUEUES:
                give_up.append(job.pk)
                continue
            job.requeues += 1
            job.queued_at = now
            _log(job, f"re-queued on '{job.queue}': its task was lost")
            job.save(update_fields=["requeues", "queued_at", "log"])
            logger.warning("job %s re-queued by the recovery sweep (its task was lost)", job.pk)
            _enqueue(job)
    return give_up
