"""A worker dies in the middle of an email job: the job is found stuck, a person retries it,
a REAL worker runs it again, and every recipient gets the email exactly once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from autonomax.models import Company, Role
from autonomax.services import company_set_halt
from chimera.commander.models import Job, Mission
from chimera.commander.services.jobs import jobs_mark_stuck
from chimera.commander.services.missions import mission_approve
from growth.models import EmailDelivery, Lead
from tests.conftest import _api_client, wait_for
from tests.factories import CompanyFactory, LeadFactory, member_with_token

from .factories import load_playbook, propose

pytestmark = pytest.mark.integration


def test_a_job_left_running_by_a_dead_worker_is_retried_and_its_effect_happens_once(celery_worker_process):
    # given a nurture mission for three warm leads, approved while halted so nothing ran yet
    # (lifting the switch through the service would queue the job at once: the real worker would run it
    # before the crash below is staged, so the crash's state is written directly instead)
    company = CompanyFactory(slug="recovery")
    load_playbook(company)
    for n in range(3):
        LeadFactory(company=company, email=f"warm{n}@example.com", consent=True, score=80, status=Lead.Status.NEW)
    owner, key = member_with_token(company=company, role=Role.OPERATOR)
    company_set_halt(company=company, halted=True, actor=owner.user)
    mission = mission_approve(mission=propose(company, "nurture-warm-leads"), actor=owner.user)
    job = mission.jobs.get()
    assert job.status == Job.Status.PENDING

    # and the state a worker killed mid-send leaves: job running, the first email already out, the switch off
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, attempts=1,
                                         started_at=timezone.now() - timedelta(minutes=job.timeout_minutes + 1))
    Mission.objects.filter(pk=mission.pk).update(status=Mission.Status.RUNNING)
    Company.objects.filter(pk=company.pk).update(execution_halted=False, halted_reason="", halted_at=None)
    EmailDelivery.objects.create(company=company, send_key=str(job.idempotency_key), email="warm0@example.com",
                                 subject="A short guide you asked about", status=EmailDelivery.Status.SENT)

    # when the stuck-job check runs, then an operator retries through the API
    assert jobs_mark_stuck() == [job.pk]
    mission.refresh_from_db()
    assert mission.status == Mission.Status.ESCALATED
    response = _api_client(key).post(f"/api/v1/missions/{mission.pk}/retry/", {"reason": "worker died"},
                                     format="json")
    assert response.status_code == 200, response.json()

    # then the real worker finishes the job: the two remaining leads get one email each, warm0 none
    wait_for(lambda: Mission.objects.filter(pk=mission.pk, status=Mission.Status.MEASURING).exists(), timeout=60,
             message="the retried mission to finish")
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.attempts == 2
    assert job.result["sent"] == 2 and job.result["already_sent"] == 1
    mails = "".join(p.read_text() for p in celery_worker_process["email_dir"].iterdir())
    assert mails.count("To: warm0@example.com") == 0
    assert mails.count("To: warm1@example.com") == 1 and mails.count("To: warm2@example.com") == 1
    assert EmailDelivery.objects.filter(company=company, status=EmailDelivery.Status.SENT).count() == 3

    # and retrying again is refused: it is no longer escalated
    again = _api_client(key).post(f"/api/v1/missions/{mission.pk}/retry/")
    assert again.status_code == 409
