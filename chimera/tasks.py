"""Celery tasks of the commander: thin, fetch by id, call a service."""

import logging

from celery import shared_task
from celery.signals import beat_embedded_init, beat_init

from chimera.commander.services.cycle import cycle_run
from chimera.commander.services.evidence import weekly_reviews_send
from chimera.commander.services.jobs import MAX_ATTEMPTS, TRANSIENT, job_fail, job_run, jobs_mark_stuck

logger = logging.getLogger(__name__)


@shared_task(name="chimera.tasks.run_commander_cycle", ignore_result=True)
def run_commander_cycle(slug: str | None = None) -> list[dict]:
    """Every 15 minutes (celery-beat): the cycle for each active company."""
    reports = cycle_run(slug=slug)
    for report in reports:
        logger.info("cycle %s: %s", report["company"], {k: v for k, v in report.items() if k != "kpis"})
    return reports


@shared_task(name="chimera.tasks.job_execute", bind=True, acks_late=True, max_retries=MAX_ATTEMPTS - 1)
def job_execute(self, job_id: int) -> str:
    """Run one job; transient errors retry with exponential backoff, then the mission escalates."""
    try:
        return job_run(job_id=job_id)
    except TRANSIENT as exc:
        if self.request.retries >= self.max_retries:
            job_fail(job_id=job_id, error=f"gave up after {self.request.retries + 1} attempts: {exc}")
            return "failed"
        raise self.retry(exc=exc, countdown=min(600, 5 * 2 ** self.request.retries)) from exc


@shared_task(name="chimera.tasks.jobs_mark_stuck", ignore_result=True)
def jobs_mark_stuck_task() -> list[int]:
    return jobs_mark_stuck()


@shared_task(name="chimera.tasks.weekly_review_email", ignore_result=True)
def weekly_review_email() -> int:
    return weekly_reviews_send()


@beat_init.connect
@beat_embedded_init.connect
def _cycle_when_beat_starts(**kwargs) -> None:
    """A (re)started scheduler runs the cycle at once instead of 15 minutes later (the per-company
    lock makes an overlap with a running cycle harmless)."""
    run_commander_cycle.delay()
