"""The whole loop on the demo data with a REAL Celery worker on Redis:
ingest -> evaluate -> suggest -> approve via the API -> jobs on the worker -> evidence after time travel."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from autonomax.models import Company, Role
from chimera.commander.models import EvidenceRecord, Job, Mission
from chimera.commander.services.cycle import cycle_run
from commerce.models import Customer, Order, ProductDraft
from support.models import Macro
from tests.conftest import _api_client, wait_for
from tests.factories import CustomerConsentFactory, OrderFactory, member_with_token

pytestmark = pytest.mark.integration


def test_full_loop_on_demo_data_with_a_real_worker(demo_clock, celery_worker_process):
    # given the demo company (90 days of data, KPIs and playbook) and two people who left a checkout
    cache.clear()
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    demo = Company.objects.get(slug="demo")
    for n in range(3):
        customer = Customer.objects.create(company=demo, email=f"waiting{n}@example.com", name=f"Wait {n}",
                                           created_at=timezone.now())
        OrderFactory(company=demo, customer=customer, status=Order.Status.PENDING,
                     created_at=timezone.now() - timedelta(days=1))
        if n < 2:  # the third never agreed to marketing email: no reminder for them
            CustomerConsentFactory(customer=customer)
    _, operator_key = member_with_token(company=demo, role=Role.OPERATOR)
    _, owner_key = member_with_token(company=demo, role=Role.OWNER)
    operator, owner = _api_client(operator_key), _api_client(owner_key)

    # when the cycle runs: ingest, evaluate, suggest
    [report] = cycle_run(slug="demo")
    proposed = operator.get("/api/v1/missions/?status=proposed").json()["results"]

    # then the demo's weak KPIs produce explained proposals
    keys = {m["play"] for m in proposed}
    assert {"faq-macros", "pending-checkout-reminder", "refund-copy-clarity", "price-test-best-seller"} <= keys
    assert len(report["suggested"]) == len(proposed)

    # when an operator approves the operational/tactical ones and the owner the strategic one
    by_play = {m["play"]: m for m in proposed}
    for key in ("faq-macros", "pending-checkout-reminder", "refund-copy-clarity"):
        response = operator.post(f"/api/v1/missions/{by_play[key]['id']}/approve/", {"reason": "go"}, format="json")
        assert response.status_code == 200, response.json()
    assert operator.post(f"/api/v1/missions/{by_play['price-test-best-seller']['id']}/approve/").status_code == 403
    assert owner.post(f"/api/v1/missions/{by_play['price-test-best-seller']['id']}/approve/").status_code == 200

    # then the worker runs the jobs (ai, email and default queues): the reminder and the copy missions measure;
    # the FAQ macros have no confident answer from the offline provider, so that mission honestly did nothing
    def settled():
        return (Mission.objects.filter(company=demo, status=Mission.Status.MEASURING).count() >= 2
                and Mission.objects.filter(company=demo, status=Mission.Status.NO_OP).count() == 1)

    wait_for(settled, timeout=90, message="two missions to reach measuring and the FAQ one to end no_op")
    faq = Mission.objects.get(company=demo, play__key="faq-macros")
    assert faq.status == Mission.Status.NO_OP and "no FAQ macro written" in faq.outcome
    assert faq.measure_due_at is None and faq.jobs.get().status == Job.Status.SKIPPED
    assert Macro.objects.filter(company=demo).count() == 0
    # the strategic one waited for a free slot (max 3 active); the next cycle starts it
    cycle_run(slug="demo")
    wait_for(lambda: Mission.objects.filter(company=demo, status=Mission.Status.MEASURING).count() == 3,
             timeout=60, message="the price test to run")
    # every job did its work, except the ones that say plainly they did nothing: the FAQ macros, and the
    # Shopify sync of a demo shop that does not sell on Shopify
    not_done = Job.objects.filter(company=demo).exclude(status=Job.Status.SUCCEEDED)
    assert sorted(not_done.values_list("type", "status")) == [("faq_macros", "skipped"),
                                                               ("shopify_sync", "skipped")]
    assert ProductDraft.objects.filter(company=demo).count() == 2
    # The file backend may append several messages to one file: count messages, not files.
    mails = "".join(p.read_text() for p in celery_worker_process["email_dir"].iterdir())
    assert mails.count("Subject: Your order is waiting") == 2
    assert mails.count("To: waiting0@example.com") == 1 and mails.count("To: waiting1@example.com") == 1
    assert mails.count("To: waiting2@example.com") == 0
    assert mails.count("Unsubscribe: http") >= 2
    assert mails.count("List-Unsubscribe-Post: List-Unsubscribe=One-Click") >= 2
    log = celery_worker_process["log"].read_text()
    assert "chimera.tasks.job_execute" in log

    # when time passes beyond every measure_after and the cycle runs again
    later = timezone.now() + timedelta(days=15)
    [report] = cycle_run(slug="demo", now=later)

    # then each mission that acted has evidence, tied by its correlation id, success or not; the no_op has none
    records = EvidenceRecord.objects.filter(company=demo)
    assert records.count() == 3 == len(report["evidence"])
    assert not records.filter(mission=faq).exists()
    for record in records:
        assert record.correlation_id == record.mission.correlation_id
        assert record.kpi_before and record.kpi_after and record.change and record.notes
        assert record.mission.status in (Mission.Status.COMPLETED, Mission.Status.FAILED)
