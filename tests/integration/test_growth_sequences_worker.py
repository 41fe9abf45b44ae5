"""Exactly-once sequence sends with a real worker: duplicated dispatch tasks running concurrently."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from growth.models import GrowthSettings, Sequence, SequenceStep, StepSend
from growth.sequences import sequence_enrol
from growth.tasks import email_sequences_dispatch_task
from tests.conftest import wait_for
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.integration


def test_duplicated_dispatch_on_concurrent_workers_sends_each_step_once(celery_worker_process):
    # given: 30 consenting leads due now (no quiet hours, no cap)
    company = CompanyFactory(slug="seq-worker")
    GrowthSettings.objects.create(company=company, quiet_hours_start=0, quiet_hours_end=0, marketing_cap_per_week=0)
    sequence = Sequence.objects.create(company=company, name="Welcome")
    SequenceStep.objects.create(company=company, sequence=sequence, position=1, delay_hours=0, subject="Hello",
                                body="Hi {name}")
    earlier = timezone.now() - timedelta(hours=1)
    for i in range(30):
        sequence_enrol(sequence=sequence, lead=LeadFactory(company=company, email=f"w{i}@example.com",
                                                           consent=True, timezone="UTC"), now=earlier)

    # when: the dispatch task is sent four times at once (4 worker threads)
    for _ in range(4):
        email_sequences_dispatch_task.apply_async()

    # then: every step sent, each address exactly once
    wait_for(lambda: StepSend.objects.filter(status="sent").count() == 30, timeout=60,
             message="30 sent steps")
    wait_for(lambda: celery_worker_process["log"].read_text().count("email_sequences_dispatch_task") >= 8,
             timeout=30, message="all four dispatch tasks to finish")
    text = "".join(p.read_text() for p in celery_worker_process["email_dir"].iterdir())
    recipients = re.findall(r"^To: (\S+)$", text, flags=re.M)
    assert sorted(recipients) == sorted(f"w{i}@example.com" for i in range(30))
    assert StepSend.objects.count() == 30
