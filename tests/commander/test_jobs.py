"""Jobs and bots: idempotent side effects under duplicated/redelivered tasks, kill switches, retries, escalation."""

import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from waffle.models import Switch
from waffle.testutils import override_switch

from autonomax.models import ConfigChange, Role
from autonomax.services import company_set_halt
from chimera.ai.models import AICall
from chimera.commander.models import Job, Mission
from chimera.commander.services import jobs
from chimera.commander.services.jobs import (
    GLOBAL_HALT_SWITCH,
    QUEUE_GRACE,
    _jobs_requeue_or_stuck,
    job_run,
    jobs_mark_stuck,
    missions_resume,
)
from chimera.commander.services.missions import mission_approve, mission_escalate
from chimera.tasks import job_execute
from commerce.models import OrderItem, Product, ProductDraft
from growth.models import EmailDelivery, Lead
from support.models import Macro
from tests.ai.conftest import _fresh_engine_state, models_file, openai_server  # noqa: F401 - the AI engine's fixtures
from tests.conftest import _api_client
from tests.factories import (
    LeadFactory,
    MembershipFactory,
    OrderFactory,
    ProductFactory,
    TicketFactory,
    consenting_customer,
    member_with_token,
)

from .factories import load_playbook, propose


@pytest.fixture
def owner(company):
    return MembershipFactory(company=company, role=Role.OWNER, user__email="boss@example.com").user


@pytest.fixture
def theirs(other_company):
    """The other company's proposed pending-checkout mission: what happens here must leave it as it is."""
    load_playbook(other_company)
    return propose(other_company, "pending-checkout-reminder")


@pytest.fixture
def store(company):
    """A small store: products with sales, tickets with intents, warm leads, a lapsed customer."""
    load_playbook(company)
    products = [ProductFactory(company=company, price=Decimal(p)) for p in ("19.00", "24.00", "12.00", "15.00")]
    now = timezone.now()
    for i, product in enumerate(products):
        for _ in range(4 - i):
            order = OrderFactory(company=company, created_at=now - timedelta(days=2), total=product.price)
            OrderItem.objects.create(order=order, product=product, title=product.name, unit_price=product.price)
    lapsed = consenting_customer(company=company, email="lapsed@example.com", name="Lee")
    OrderFactory(company=company, customer=lapsed, created_at=now - timedelta(days=60))
    for intent in ("download_issue", "download_issue", "refund_request", "refund_request", "how_to"):
        TicketFactory(company=company, intent=intent, created_at=now - timedelta(days=1))
    for n in range(3):
        LeadFactory(company=company, email=f"warm{n}@example.com", consent=True, score=70, status=Lead.Status.NEW)
    LeadFactory(company=company, email="cold@example.com", consent=True, score=10)
    return products


def start(company, play_key, actor):
    """Approve a proposed mission and return its first job, queued but not run (on_commit is not run here)."""
    mission = mission_approve(mission=propose(company, play_key), actor=actor)
    return mission, mission.jobs.order_by("order").first()


def run_twice_as_if_redelivered(job):
    """The first run completes; then the task is delivered again as if the worker died before acking."""
    assert job_run(job_id=job.pk) == "done"
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)  # lost the 'succeeded' write
    second = job_run(job_id=job.pk)
    job.refresh_from_db()
    return second


def test_copy_bot_writes_drafts_once(company, store, owner):
    # given
    mission, job = start(company, "rewrite-listing-copy", owner)

    # when the task runs, then runs again as a duplicate/redelivery
    run_twice_as_if_redelivered(job)
    job_execute.apply(args=[job.pk])

    # then one draft per product and one AI call per product
    drafts = ProductDraft.objects.filter(company=company)
    assert drafts.count() == 3 == AICall.objects.filter(company=company, task_type="listing_copy").count()
    assert all(d.product_id and d.title and d.correlation_id.startswith(str(job.idempotency_key)) for d in drafts)
    assert job.status == Job.Status.SUCCEEDED and "already written" in job.log


def test_pricing_bot_changes_the_price_once(company, store, owner):
    # given the best seller at 19.00 and a strategic price test (-10%)
    best = store[0]
    mission, job = start(company, "price-test-best-seller", owner)

    # when
    run_twice_as_if_redelivered(job)

    # then 17.10, not 15.39
    best.refresh_from_db()
    assert best.price == Decimal("17.10")
    assert ConfigChange.objects.filter(object_type="product.price", object_id=str(best.pk)).count() == 1
    assert "already changed by this job" in job.log


def test_pricing_bot_creates_one_bundle(company, store, owner):
    mission, job = start(company, "bundle-offer", owner)

    run_twice_as_if_redelivered(job)

    bundles = Product.objects.filter(company=company, sku__startswith="BUNDLE-")
    assert bundles.count() == 1
    assert bundles.get().price == ((Decimal("19.00") + Decimal("24.00") + Decimal("12.00")) * Decimal("0.8"))


def test_email_bot_never_emails_a_recipient_twice_for_the_same_job(company, store, owner):
    # given
    mission, job = start(company, "nurture-warm-leads", owner)

    # when
    run_twice_as_if_redelivered(job)

    # then each warm lead got exactly one email, with an unsubscribe link that works
    assert sorted(m.to[0] for m in mail.outbox) == ["warm0@example.com", "warm1@example.com", "warm2@example.com"]
    assert job.result["sent"] == 0 and job.result["already_sent"] == 3  # the redelivered run sent nothing
    body = mail.outbox[0].body
    link = body.split("Unsubscribe: ")[1].strip()
    assert mail.outbox[0].extra_headers["List-Unsubscribe"] == f"<{link}>"
    from django.test import Client

    path = link.split("://", 1)[1].split("/", 1)[1]
    assert Client().post(f"/{path}").status_code == 200
    assert Lead.objects.get(email=mail.outbox[0].to[0]).status == Lead.Status.UNSUBSCRIBED


def test_win_back_email_goes_to_lapsed_customers_and_skips_unsubscribed(company, store, owner):
    from growth.models import Unsubscribe

    gone = consenting_customer(company=company, email="gone@example.com")
    OrderFactory(company=company, customer=gone, created_at=timezone.now() - timedelta(days=90))
    Unsubscribe.objects.create(company=company, email="gone@example.com")
    mission, job = start(company, "win-back-email", owner)

    job_run(job_id=job.pk)

    assert [m.to for m in mail.outbox] == [["lapsed@example.com"]]
    assert "Hi Lee," in mail.outbox[0].body
    job.refresh_from_db()
    assert f"code {job.result['discount_code']}" in mail.outbox[0].body  # a real code, made by the job


def test_email_server_down_retries_with_backoff_then_escalates(company, store, owner, settings):
    # given a mail server that refuses connections (a closed local port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    mission, job = start(company, "nurture-warm-leads", owner)

    # when the task runs (eager: each retry runs at once)
    job_execute.apply(args=[job.pk])

    # then it was tried 5 times, failed, and the mission went to a person; nothing recorded as sent
    job.refresh_from_db()
    mission.refresh_from_db()
    assert job.attempts == 5 and job.status == Job.Status.FAILED
    assert "Connection" in job.error and job.log.count("will retry") == 5
    assert mission.status == Mission.Status.ESCALATED
    assert not EmailDelivery.objects.exists()


def test_copy_bot_retries_while_every_ai_provider_fails_then_escalates(company, store, owner, models_file):  # noqa: F811
    # given: listing copy may only use a provider whose port refuses connections (no offline fallback)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    models_file(providers={"down": f"http://127.0.0.1:{port}/v1"}, route=["down"])
    mission, job = start(company, "rewrite-listing-copy", owner)

    # when the task runs (eager: each retry runs at once)
    job_execute.apply(args=[job.pk])

    # then "all providers failed" was retried like any transient error, then the mission went to a person
    job.refresh_from_db()
    mission.refresh_from_db()
    assert job.attempts == 5 and job.status == Job.Status.FAILED and job.log.count("will retry") == 5
    assert "down" in job.error
    assert mission.status == Mission.Status.ESCALATED
    assert not ProductDraft.objects.filter(company=company).exists()


def test_a_bot_raising_escalates_the_mission_with_context(company, store, owner):
    # given a job whose params name an unknown segment
    mission, job = start(company, "nurture-warm-leads", owner)
    Job.objects.filter(pk=job.pk).update(params={**job.params, "segment": "everyone"})

    # when
    outcome = job_execute.apply(args=[job.pk]).get()

    # then
    job.refresh_from_db()
    mission.refresh_from_db()
    assert outcome == "failed" and job.status == Job.Status.FAILED and job.attempts == 1
    assert mission.status == Mission.Status.ESCALATED and "unknown segment 'everyone'" in mission.decision_reason
    assert [m.to for m in mail.outbox] == [["boss@example.com"]] and "escalated" in mail.outbox[0].subject


def _support_answers(openai_server, models_file, *answers):  # noqa: F811 - the fixtures, passed on
    import json

    from tests.ai.openai_server import ok

    server = openai_server().queue(*[ok(json.dumps(a)) for a in answers])
    models_file(providers={"local": server.url}, route=["local"])
    return server


def test_support_bot_keeps_only_confident_parsed_answers_once(company, store, owner, openai_server,  # noqa: F811
                                                              models_file):  # noqa: F811
    # given the model answers one intent confidently and is unsure of the other
    _support_answers(openai_server, models_file,
                     {"answer": "Open the link in your receipt; it works 5 times.", "confidence": 0.9,
                      "escalate": False},
                     {"answer": "Not sure.", "confidence": 0.3, "escalate": True},
                     {"answer": "Still not sure.", "confidence": 0.3, "escalate": True})
    mission, job = start(company, "faq-macros", owner)

    # when the job runs, then again as a redelivery (only the intent without a macro is asked again)
    run_twice_as_if_redelivered(job)

    # then only the real answer is a macro: its parsed text, never the raw JSON
    [macro] = Macro.objects.filter(company=company)
    assert macro.intent == "download_issue" and macro.body == "Open the link in your receipt; it works 5 times."
    assert macro.confidence == Decimal("0.90") and "{" not in macro.body
    assert job.status == Job.Status.SUCCEEDED and "refund_request" in job.result["not_written"]
    assert "asked to escalate" in job.result["not_written"]["refund_request"]
    assert AICall.objects.filter(company=company, task_type="support_answer").count() == 3


def test_support_bot_below_the_company_threshold_writes_nothing_and_says_why(
        company, store, owner, openai_server, models_file):  # noqa: F811
    # given a company that wants 0.95 and answers at 0.9
    company.support_min_confidence = Decimal("0.95")
    company.save(update_fields=["support_min_confidence"])
    answer = {"answer": "Here is how.", "confidence": 0.9, "escalate": False}
    _support_answers(openai_server, models_file, answer, answer)
    mission, job = start(company, "faq-macros", owner)

    # when
    assert job_run(job_id=job.pk) == "skipped"

    # then no macro, the job is skipped (not a success) with the reason, the mission did nothing
    job.refresh_from_db()
    mission.refresh_from_db()
    assert not Macro.objects.filter(company=company).exists()
    assert job.status == Job.Status.SKIPPED and "below the company's minimum 0.95" in job.result["skipped"]
    assert mission.status == Mission.Status.NO_OP and "no FAQ macro written" in mission.outcome
    assert mission.measure_due_at is None


def test_support_bot_with_the_offline_provider_stores_no_macro(company, store, owner):
    # given the offline provider, which has no confident answer without knowledge snippets
    mission, job = start(company, "faq-macros", owner)

    # when
    job_run(job_id=job.pk)

    # then nothing stored, and the job says why per intent
    job.refresh_from_db()
    assert not Macro.objects.filter(company=company).exists()
    assert job.status == Job.Status.SKIPPED
    assert set(job.result["not_written"]) == {"download_issue", "refund_request"}


def test_support_bot_never_overwrites_a_macro_a_person_edited(company, store, owner, openai_server,  # noqa: F811
                                                             models_file):  # noqa: F811
    from support.services import macro_edit

    # given a macro a person corrected
    old = Macro.objects.create(company=company, intent="download_issue", title="FAQ", body="AI text")
    macro_edit(macro=old, actor=owner, title="Downloads", body="Use the link in your receipt.")
    answer = {"answer": "Another answer.", "confidence": 0.9, "escalate": False}
    _support_answers(openai_server, models_file, answer, answer)
    mission, job = start(company, "faq-macros", owner)

    # when
    job_run(job_id=job.pk)

    # then the person's text stays
    old.refresh_from_db()
    job.refresh_from_db()
    assert old.body == "Use the link in your receipt." and old.edited_by == owner
    assert "edited" in job.result["not_written"]["download_issue"]
    assert Macro.objects.get(company=company, intent="refund_request").body == "Another answer."


def test_ai_routing_bot_sets_cost_optimized_once(company, store, owner):
    from chimera.ai.models import AIRoutingPreference

    mission, job = start(company, "ai-cost-routing", owner)

    run_twice_as_if_redelivered(job)

    assert AIRoutingPreference.objects.get(company=company).preference == "cost_optimized"
    assert ConfigChange.objects.filter(object_type="ai.routing_preference").count() == 1


def test_shopify_bot_not_connected_is_skipped_never_a_success(company, store, owner,
                                                               django_capture_on_commit_callbacks):
    # given a bundle mission on a shop that does not sell on Shopify, run to the end
    with django_capture_on_commit_callbacks(execute=True):
        mission, _ = start(company, "bundle-offer", owner)

    # then the sync did nothing and says so: skipped, not succeeded
    sync = mission.jobs.get(type="shopify_sync")
    assert sync.status == Job.Status.SKIPPED and sync.result["status"] == "not_connected"
    assert "Shopify is not connected" in sync.result["skipped"] and "Shopify is not connected" in sync.log
    # the bundle itself was made (the platform's checkout sells it), so the mission is measured on that
    mission.refresh_from_db()
    assert mission.jobs.get(type="bundle_create").status == Job.Status.SUCCEEDED
    assert mission.status == Mission.Status.MEASURING and mission.measure_due_at


def test_shopify_bot_fails_when_the_products_are_sold_on_shopify_but_it_is_not_connected(
        company, store, owner, django_capture_on_commit_callbacks):
    from commerce.models import Listing

    # given the best seller is listed on Shopify, and the connection is gone
    best = store[0]
    Listing.objects.create(company=company, product=best, channel="shopify", external_id="gid://1", status="active")

    # when the price test runs to the end
    with django_capture_on_commit_callbacks(execute=True):
        mission, _ = start(company, "price-test-best-seller", owner)

    # then the sync failed (the store buyers see was not changed) and the mission went to a person
    sync = mission.jobs.get(type="shopify_sync")
    mission.refresh_from_db()
    assert sync.status == Job.Status.FAILED and "still shows the old version" in sync.error
    assert mission.status == Mission.Status.ESCALATED and mission.measure_due_at is None


def test_email_to_an_empty_segment_ends_the_mission_no_op_and_never_measured(company, owner,
                                                                              django_capture_on_commit_callbacks):
    from chimera.commander.models import EvidenceRecord
    from chimera.commander.services.evidence import evidence_log_due

    from .factories import ALL_OK

    # given no pending checkouts at all
    load_playbook(company)
    with django_capture_on_commit_callbacks(execute=True):
        mission, _ = start(company, "pending-checkout-reminder", owner)

    # then the job sent nothing and the mission says so
    job = mission.jobs.get()
    mission.refresh_from_db()
    assert job.status == Job.Status.SKIPPED and "has no one to email" in job.result["skipped"]
    assert mission.status == Mission.Status.NO_OP and "nothing was done" in mission.outcome
    assert mission.measure_due_at is None and mission.completed_at
    assert not mail.outbox

    # when time passes beyond the measure window: no evidence either way
    assert evidence_log_due(company=company, kpis=ALL_OK, now=timezone.now() + timedelta(days=30)) == []
    assert not EvidenceRecord.objects.filter(mission=mission).exists()


def test_company_kill_switch_holds_for_a_job_already_queued(company, store, owner):
    # given a queued job, then the company is halted
    best = store[0]
    mission, job = start(company, "price-test-best-seller", owner)
    assert job.status == Job.Status.QUEUED
    company_set_halt(company=company, halted=True, actor=owner, reason="stop")

    # when the queued task is delivered
    assert job_execute.apply(args=[job.pk]).get() == "halted"

    # then no side effect, the job waits
    best.refresh_from_db()
    job.refresh_from_db()
    assert best.price == Decimal("19.00") and job.status == Job.Status.PENDING and "kill switch" in job.log

    # when the switch is lifted, the job is queued again at once (not at the next cycle) and runs once
    company_set_halt(company=company, halted=False, actor=owner)
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED
    job_run(job_id=job.pk)
    best.refresh_from_db()
    assert best.price == Decimal("17.10")


def test_global_kill_switch_stops_every_company(company, store, owner):
    mission, job = start(company, "bundle-offer", owner)

    with override_switch(GLOBAL_HALT_SWITCH, active=True):
        outcome = job_run(job_id=job.pk)

    assert outcome == "halted"
    assert not Product.objects.filter(sku__startswith="BUNDLE-").exists()
    job.refresh_from_db()
    assert "not run: the global kill switch is on" in job.log


def test_approving_while_halted_plans_but_queues_nothing(company, store, owner):
    company_set_halt(company=company, halted=True, actor=owner)

    mission, job = start(company, "bundle-offer", owner)

    assert mission.status == Mission.Status.PLANNED and job.status == Job.Status.PENDING


def test_resuming_never_reruns_a_completed_job(company, store, owner):
    # given a bundle mission whose first job completed, then a kill switch stopped the second
    mission, first = start(company, "bundle-offer", owner)
    job_run(job_id=first.pk)
    company_set_halt(company=company, halted=True, actor=owner)
    second = mission.jobs.get(order=1)
    assert job_run(job_id=second.pk) == "halted"
    second.refresh_from_db()
    assert second.status == Job.Status.PENDING

    # when resumed
    company_set_halt(company=company, halted=False, actor=owner)
    missions_resume(company=company)

    # then only the second is queued; the first is untouched
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Job.Status.SUCCEEDED and first.attempts == 1
    assert second.status == Job.Status.QUEUED


def test_a_job_past_its_timeout_is_marked_stuck_and_alerted(company, store, owner):
    # given a job running for longer than its timeout
    mission, job = start(company, "bundle-offer", owner)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING,
                                         started_at=timezone.now() - timedelta(minutes=job.timeout_minutes + 1))

    # when
    stuck = jobs_mark_stuck()

    # then
    job.refresh_from_db()
    mission.refresh_from_db()
    assert stuck == [job.pk] and job.status == Job.Status.STUCK
    assert mission.status == Mission.Status.ESCALATED and "stuck" in mission.decision_reason
    assert "escalated" in mail.outbox[0].subject
    assert jobs_mark_stuck() == []  # re-running the beat task is harmless


def test_lifting_the_halt_through_the_api_queues_the_waiting_jobs_at_once(
        company, store, owner, other_company, django_capture_on_commit_callbacks):
    # given a mission approved while halted, and another company halted with a job waiting too
    load_playbook(other_company)
    company_set_halt(company=company, halted=True, actor=owner)
    company_set_halt(company=other_company, halted=True, actor=None)
    mission, job = start(company, "bundle-offer", owner)
    _, other_job = start(other_company, "bundle-offer", MembershipFactory(company=other_company,
                                                                         role=Role.OWNER).user)
    assert job.status == other_job.status == Job.Status.PENDING
    key = member_with_token(company=company, role=Role.OWNER)[1]

    # when the owner lifts the switch through the API
    with django_capture_on_commit_callbacks() as callbacks:
        response = _api_client(key).post(f"/api/v1/companies/{company.slug}/halt/", {"halted": False},
                                         format="json")

    # then the job is queued now (its task sent on commit), not at the next cycle; the other company waits
    assert response.status_code == 200 and response.json()["execution_halted"] is False
    job.refresh_from_db()
    other_job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and job.queued_at is not None
    assert other_job.status == Job.Status.PENDING
    assert len(callbacks) == 1


def test_lifting_the_global_switch_queues_waiting_jobs_of_companies_not_halted_themselves(
        company, store, owner, other_company, django_capture_on_commit_callbacks):
    # given a superuser's global halt held a job; the other company is halted on its own as well
    from chimera.commander.services.jobs import global_halt_set
    from tests.factories import UserFactory

    admin = UserFactory(is_superuser=True)
    with django_capture_on_commit_callbacks(execute=True):  # waffle drops its cached switch on commit
        global_halt_set(halted=True, actor=admin)
    mission, job = start(company, "bundle-offer", owner)
    load_playbook(other_company)
    company_set_halt(company=other_company, halted=True, actor=None)
    _, other_job = start(other_company, "bundle-offer", MembershipFactory(company=other_company,
                                                                         role=Role.OWNER).user)
    assert job.status == Job.Status.PENDING

    # when
    with django_capture_on_commit_callbacks(execute=True):
        global_halt_set(halted=False, actor=admin)

    # then the held job ran at once (tasks run inline here); the company halted on its own still waits
    job.refresh_from_db()
    other_job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.attempts == 1
    assert other_job.status == Job.Status.PENDING


@pytest.mark.parametrize("who", ["owner", "nobody"])
def test_only_a_superuser_may_use_the_global_switch(company, owner, who):
    from autonomax.errors import AppError
    from chimera.commander.services.jobs import global_halt_set

    with pytest.raises(AppError) as caught:
        global_halt_set(halted=True, actor=owner if who == "owner" else None)

    assert (caught.value.status, caught.value.code) == (403, "permission_denied")
    assert str(caught.value) == "Only a superuser may use the global kill switch."
    assert not Switch.objects.filter(name=GLOBAL_HALT_SWITCH, active=True).exists()


def test_the_global_switch_records_who_changed_it_and_why(db, django_capture_on_commit_callbacks):
    # given a superuser
    from chimera.commander.services.jobs import global_halt_set
    from tests.factories import UserFactory

    admin = UserFactory(is_superuser=True)

    # when they switch it on with a reason, on again, then off without one
    with django_capture_on_commit_callbacks(execute=True):
        on = global_halt_set(halted=True, actor=admin, reason="bad deploy")
        again = global_halt_set(halted=True, actor=admin)
        off = global_halt_set(halted=False, actor=admin)

    # then each real change is recorded once, with its actor, its old and new value and its reason
    assert (on, again, off) == (True, True, False)
    changes = list(ConfigChange.objects.filter(object_id=GLOBAL_HALT_SWITCH).order_by("pk"))
    assert [(c.object_type, c.changes, c.reason, c.expected_effect) for c in changes] == [
        ("switch", {"active": [False, True]}, "bad deploy", "all job execution stops"),
        ("switch", {"active": [True, False]}, "", "job execution resumes"),
    ]
    assert {c.actor_id for c in changes} == {admin.pk} and {c.company_id for c in changes} == {None}
    # and the switch tells the admin what it does
    assert Switch.objects.get(name=GLOBAL_HALT_SWITCH).note == "Stops all commander job execution (every company)."


def test_a_job_lost_while_queued_is_sent_again_once_then_stuck_and_stops_holding_a_slot(
        company, store, owner, other_company, django_capture_on_commit_callbacks):
    # given a queued job whose task died with a worker (queued long ago, never started)
    company.max_active_missions = 1
    company.save(update_fields=["max_active_missions"])
    mission, job = start(company, "bundle-offer", owner)
    assert job.status == Job.Status.QUEUED
    long_ago = timezone.now() - timedelta(minutes=job.timeout_minutes) - QUEUE_GRACE - timedelta(minutes=1)
    Job.objects.filter(pk=job.pk).update(queued_at=long_ago)
    # and another company's job queued a minute ago
    load_playbook(other_company)
    _, fresh = start(other_company, "bundle-offer", MembershipFactory(company=other_company, role=Role.OWNER).user)

    # when the sweep runs, the lost task is sent again (once) and the job stays queued
    with django_capture_on_commit_callbacks() as callbacks:
        assert jobs_mark_stuck() == []
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and job.requeues == 1 and "its task was lost" in job.log
    assert len(callbacks) == 1
    assert jobs_mark_stuck() == []  # freshly re-sent: not lost yet

    # when it is lost again
    Job.objects.filter(pk=job.pk).update(queued_at=long_ago)
    assert jobs_mark_stuck() == [job.pk]

    # then it is stuck, the mission escalated, and the company's only slot is free for the next approval
    job.refresh_from_db()
    mission.refresh_from_db()
    assert job.status == Job.Status.STUCK and mission.status == Mission.Status.ESCALATED
    assert "stuck in the queue" in mission.decision_reason
    next_mission, next_job = start(company, "pending-checkout-reminder", owner)
    assert next_mission.status in (Mission.Status.PLANNED, Mission.Status.RUNNING)
    fresh.refresh_from_db()
    assert fresh.status == Job.Status.QUEUED and fresh.requeues == 0


@pytest.mark.django_db
def test_forged_unsubscribe_link_gets_the_page_with_a_clear_message(client):
    # given: a token that was never signed by us

    # when
    response = client.post("/u/not-a-real-token/")

    # then: a 400 in the site's own page (not bare text), and nothing recorded
    assert response.status_code == 400
    page = response.content.decode()
    assert "This unsubscribe link is not valid." in page and "<html" in page
    from growth.models import Unsubscribe

    assert not Unsubscribe.objects.exists()


# --- a person retries an escalated mission (mission_retry) ---------------------------------------------------------

def _escalated_by_a_failed_job(company, owner):
    """A nurture mission whose only job failed (an unknown segment) and escalated the mission."""
    mission, job = start(company, "nurture-warm-leads", owner)
    good_params = dict(job.params)
    Job.objects.filter(pk=job.pk).update(params={**job.params, "segment": "everyone"})
    assert job_execute.apply(args=[job.pk]).get() == "failed"
    Job.objects.filter(pk=job.pk).update(params=good_params, requeues=1)
    mission.refresh_from_db()
    assert mission.status == Mission.Status.ESCALATED
    return mission, job


def test_retrying_an_escalated_mission_queues_its_failed_job_again_with_a_clean_slate(company, store, owner,
                                                                                      other_company):
    # given an escalated mission whose job failed, and the other company's escalated mission
    from chimera.commander.services.missions import mission_retry

    mission, job = _escalated_by_a_failed_job(company, owner)
    load_playbook(other_company)
    theirs, their_job = _escalated_by_a_failed_job(
        other_company, MembershipFactory(company=other_company, role=Role.OWNER).user)
    operator = MembershipFactory(company=company, role=Role.OPERATOR, user__email="op@example.com").user

    # when an operator retries it
    retried = mission_retry(mission=mission, actor=operator, reason="segment fixed ")

    # then the mission runs again and its job is queued, its error and re-send count cleared
    job.refresh_from_db()
    assert retried.status == Mission.Status.RUNNING
    assert retried.decision_reason == f"retried by {operator}: segment fixed"
    assert job.status == Job.Status.QUEUED and job.error == "" and job.requeues == 0
    assert job.attempts == 1  # not run yet: its task is sent on commit
    # and the other company's escalated mission is untouched
    theirs.refresh_from_db()
    their_job.refresh_from_db()
    assert theirs.status == Mission.Status.ESCALATED and their_job.status == Job.Status.FAILED


def test_retry_is_refused_to_a_viewer_and_to_a_mission_that_is_not_escalated(company, store, owner):
    # given an escalated mission and a viewer
    from autonomax.errors import AppError, ConflictError
    from chimera.commander.services.missions import mission_retry

    mission, job = _escalated_by_a_failed_job(company, owner)
    viewer = MembershipFactory(company=company, role=Role.VIEWER).user

    # when a viewer retries, then it is refused and nothing changes
    with pytest.raises(AppError) as refused:
        mission_retry(mission=mission, actor=viewer)
    assert (refused.value.status, refused.value.code) == (403, "permission_denied")
    assert str(refused.value) == "Your role in this company does not allow deciding on missions."
    job.refresh_from_db()
    mission.refresh_from_db()
    assert mission.status == Mission.Status.ESCALATED and job.status == Job.Status.FAILED

    # when the owner retries it twice, then the second is a conflict: it is running, not escalated
    assert mission_retry(mission=mission, actor=owner).decision_reason == f"retried by {owner}:"
    with pytest.raises(ConflictError) as conflict:
        mission_retry(mission=mission, actor=owner)
    assert conflict.value.code == "mission_running"
    assert "is running, not escalated" in str(conflict.value)


# --- the stuck sweep (jobs_mark_stuck) -------------------------------------------------------------------------------

def _owner_of(company):
    return MembershipFactory(company=company, role=Role.OWNER).user


def test_a_stuck_job_says_why_in_its_log_and_its_alert_gives_its_times(company, store, owner, other_company):
    # given (the clock pinned) a job running one second past its timeout, and the other company's job running
    # exactly as long as its timeout
    with time_machine.travel(timezone.now(), tick=False):
        now = timezone.now()
        mission, job = start(company, "bundle-offer", owner)
        started = now - timedelta(minutes=job.timeout_minutes, seconds=1)
        Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, started_at=started)
        load_playbook(other_company)
        _, theirs = start(other_company, "bundle-offer", _owner_of(other_company))
        Job.objects.filter(pk=theirs.pk).update(status=Job.Status.RUNNING,
                                                started_at=now - timedelta(minutes=theirs.timeout_minutes))

        # when
        stuck = jobs_mark_stuck()

    # then only ours is stuck, its log says why, and the alert gives the job's times
    job.refresh_from_db()
    theirs.refresh_from_db()
    assert stuck == [job.pk] and job.status == Job.Status.STUCK
    assert job.log.endswith(f"stuck: running for more than {job.timeout_minutes} minutes\n")
    assert theirs.status == Job.Status.RUNNING and "stuck" not in theirs.log
    [alert] = mail.outbox
    assert (f"Context: {{'job_id': {job.pk}, 'started_at': '{started}', 'queued_at': '{job.queued_at}'}}"
            in alert.body)


def test_a_job_stuck_in_the_queue_says_so_in_its_log(company, store, owner):
    # given a job whose task was lost twice (re-sent once already)
    with time_machine.travel(timezone.now(), tick=False):
        mission, job = start(company, "bundle-offer", owner)
        long_ago = timezone.now() - timedelta(hours=1)
        Job.objects.filter(pk=job.pk).update(queued_at=long_ago, requeues=1)

        # when
        assert jobs_mark_stuck() == [job.pk]

    # then
    job.refresh_from_db()
    assert job.status == Job.Status.STUCK
    assert job.log.endswith(f"stuck: queued since {long_ago} and its task was lost (1 re-sent)\n")
    assert "'started_at': 'None'" in mail.outbox[0].body


def test_a_queued_job_is_lost_only_once_its_timeout_and_the_grace_have_passed(company, store, owner, other_company):
    # given (the clock pinned) a job with a timeout longer than the grace, queued 25 minutes ago, and the other
    # company's job queued exactly its timeout plus the grace ago
    with time_machine.travel(timezone.now(), tick=False):
        now = timezone.now()
        _, job = start(company, "bundle-offer", owner)
        Job.objects.filter(pk=job.pk).update(timeout_minutes=30, queued_at=now - timedelta(minutes=25))
        load_playbook(other_company)
        _, theirs = start(other_company, "bundle-offer", _owner_of(other_company))
        Job.objects.filter(pk=theirs.pk).update(queued_at=now - timedelta(minutes=theirs.timeout_minutes) - QUEUE_GRACE)

        # when
        assert jobs_mark_stuck() == []

    # then neither task counts as lost: nothing is sent again
    job.refresh_from_db()
    theirs.refresh_from_db()
    assert (job.status, job.requeues, job.queued_at) == (Job.Status.QUEUED, 0, now - timedelta(minutes=25))
    assert (theirs.status, theirs.requeues) == (Job.Status.QUEUED, 0)


def test_lost_jobs_of_both_companies_are_each_sent_again_once_and_a_job_claimed_since_is_left_alone(
        company, store, owner, other_company, caplog, django_capture_on_commit_callbacks):
    # given a job a worker claimed after the sweep listed it as lost, then a lost job of each company
    with time_machine.travel(timezone.now(), tick=False):
        later = timezone.now() + timedelta(hours=1)
        _, claimed = start(company, "pending-checkout-reminder", owner)
        _, ours = start(company, "bundle-offer", owner)
        load_playbook(other_company)
        _, theirs = start(other_company, "bundle-offer", _owner_of(other_company))
        Job.objects.filter(pk=claimed.pk).update(status=Job.Status.RUNNING)

        # when the sweep sends them again
        with caplog.at_level("WARNING"), django_capture_on_commit_callbacks() as callbacks:
            give_up = _jobs_requeue_or_stuck(job_ids=[claimed.pk, ours.pk, theirs.pk], now=later)

    # then each lost job is sent again once, logged; the claimed one is untouched
    assert give_up == [] and len(callbacks) == 2
    for job in (claimed, ours, theirs):
        job.refresh_from_db()
    assert (claimed.status, claimed.requeues) == (Job.Status.RUNNING, 0)
    for job in (ours, theirs):
        assert (job.status, job.requeues, job.queued_at) == (Job.Status.QUEUED, 1, later)
        assert job.log.endswith(f"re-queued on '{job.queue}': its task was lost\n")
    assert [r.getMessage() for r in caplog.records if r.name == "chimera.commander.services.jobs"] == [
        f"job {job.pk} re-queued by the recovery sweep (its task was lost)" for job in (ours, theirs)]

    # when both are lost again, both are given up (to be marked stuck)
    assert _jobs_requeue_or_stuck(job_ids=[ours.pk, theirs.pk], now=later) == [ours.pk, theirs.pk]


def test_a_job_that_finishes_while_the_sweep_runs_is_left_alone_and_the_next_is_still_marked(
        company, store, owner, monkeypatch):
    # given a job running past its timeout and a job lost in the queue for good
    from chimera.commander.services import jobs

    with time_machine.travel(timezone.now(), tick=False):
        _, finishing = start(company, "bundle-offer", owner)
        Job.objects.filter(pk=finishing.pk).update(status=Job.Status.RUNNING,
                                                   started_at=timezone.now() - timedelta(hours=1))
        _, lost = start(company, "pending-checkout-reminder", owner)
        Job.objects.filter(pk=lost.pk).update(queued_at=timezone.now() - timedelta(hours=1), requeues=1)
        requeue = jobs._jobs_requeue_or_stuck

        def its_worker_finishes_it_meanwhile(*, job_ids, now):
            Job.objects.filter(pk=finishing.pk).update(status=Job.Status.SUCCEEDED)
            return requeue(job_ids=job_ids, now=now)

        monkeypatch.setattr(jobs, "_jobs_requeue_or_stuck", its_worker_finishes_it_meanwhile)

        # when
        jobs_mark_stuck()

    # then the finished job stays finished and the lost one is still marked stuck
    finishing.refresh_from_db()
    lost.refresh_from_db()
    assert finishing.status == Job.Status.SUCCEEDED and "stuck" not in finishing.log
    assert lost.status == Job.Status.STUCK


# --- running one job (job_run) ----------------------------------------------------------------------------------------

def test_running_a_job_that_is_gone_or_finished_does_nothing(company, store, owner):
    mission, job = start(company, "bundle-offer", owner)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)

    assert job_run(job_id=job.pk + 1000) == "noop"
    assert job_run(job_id=job.pk) == "noop"

    job.refresh_from_db()
    assert (job.status, job.attempts, job.started_at) == (Job.Status.SUCCEEDED, 0, None)


def test_a_job_held_by_the_kill_switch_is_never_claimed_nor_counted_as_an_attempt(company, store, owner):
    mission, job = start(company, "bundle-offer", owner)
    company_set_halt(company=company, halted=True, actor=owner, reason="stop")

    assert job_run(job_id=job.pk) == "halted"

    job.refresh_from_db()
    assert (job.status, job.attempts, job.started_at) == (Job.Status.PENDING, 0, None)
    assert job.log.endswith("not run: the company's kill switch is on\n")


def test_a_claimed_job_records_when_it_started(company, store, owner):
    with time_machine.travel(timezone.now(), tick=False):
        now = timezone.now()
        mission, job = start(company, "bundle-offer", owner)

        assert job_run(job_id=job.pk) == "done"

    job.refresh_from_db()
    assert (job.status, job.attempts, job.started_at) == (Job.Status.SUCCEEDED, 1, now)


def test_a_job_failed_between_its_read_and_its_claim_is_not_run(company, store, owner, monkeypatch):
    # given a queued job that something fails (a person, the sweep) after the worker read it, before it claims it
    from chimera.commander.services import jobs

    mission, job = start(company, "bundle-offer", owner)
    blocked = jobs.execution_blocked

    def failed_meanwhile(*, company_id):
        Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED)
        return blocked(company_id=company_id)

    monkeypatch.setattr(jobs, "execution_blocked", failed_meanwhile)

    # when, then the claim finds nothing to claim and no bundle is made
    assert job_run(job_id=job.pk) == "noop"
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.FAILED, 0)
    assert not Product.objects.filter(sku__startswith="BUNDLE-").exists()


def test_a_job_no_bot_handles_fails_and_says_which_type(company, store, owner):
    mission, job = start(company, "bundle-offer", owner)
    Job.objects.filter(pk=job.pk).update(type="no-such-type")

    assert job_run(job_id=job.pk) == "failed"

    job.refresh_from_db()
    mission.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.error == "AppError: no bot handles job type 'no-such-type'"
    assert mission.status == Mission.Status.ESCALATED


def test_a_transient_error_queues_the_job_again_and_records_the_error(company, store, owner, monkeypatch):
    from chimera.commander.services.bots import BOTS

    with time_machine.travel(timezone.now(), tick=False):
        now = timezone.now()
        mission, job = start(company, "bundle-offer", owner)

        def provider_busy(*, job, ctx):
            ctx.log("calling the provider")
            raise ConnectionError("provider busy")

        monkeypatch.setitem(BOTS, job.type, provider_busy)

        # when, then the error goes up to the task (which retries it)
        with pytest.raises(ConnectionError):
            job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.queued_at) == (Job.Status.QUEUED, 1, now)
    assert job.error == "ConnectionError: provider busy"
    assert job.log.endswith(f"{now:%Y-%m-%d %H:%M:%S} calling the provider\n"
                            f"{now:%Y-%m-%d %H:%M:%S} attempt 1 failed (will retry): provider busy\n")


# --- a job failing and its mission escalated (job_fail, mission_escalate) --------------------------------------------

def test_a_failed_job_escalates_its_mission_once_with_the_jobs_context_in_the_alert(
        company, store, owner, other_company, monkeypatch, caplog):
    from chimera.commander.services.bots import BOTS

    # given a running bundle mission whose bot logs a line and breaks, and the other company's running mission
    load_playbook(other_company)
    theirs_owner = MembershipFactory(company=other_company, role=Role.OWNER, user__email="them@example.com").user
    theirs, _ = start(other_company, "bundle-offer", theirs_owner)
    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        mission, job = start(company, "bundle-offer", owner)
        mail.outbox.clear()

        def broken(*, job, ctx):
            ctx.log("reading the catalog: " + "sku, " * 500)  # a long log: the alert keeps its last 2,000 characters
            raise ValueError("no price")

        monkeypatch.setitem(BOTS, job.type, broken)

        # when it runs, then its failure is reported again (a late duplicate)
        with caplog.at_level("ERROR", logger="chimera.commander.services.missions"):
            assert job_run(job_id=job.pk) == "failed"
        jobs.job_fail(job_id=job.pk, error="again")

    # then the job failed once, with its log lines and the time
    job.refresh_from_db()
    mission.refresh_from_db()
    stamp = f"{now:%Y-%m-%d %H:%M:%S}"
    assert (job.status, job.error, job.finished_at, job.attempts) == (Job.Status.FAILED, "ValueError: no price", now, 1)
    assert job.log.endswith(f"{stamp} reading the catalog: {'sku, ' * 500}\n"
                            f"{stamp} failed after 1 attempt(s): ValueError: no price\n")
    # and the mission went to a person, saying which job by which bot failed and how
    reason = "job 'bundle_create' by pricing_bot failed: ValueError: no price"
    assert (mission.status, mission.decision_reason) == (Mission.Status.ESCALATED, f"escalated: {reason}")
    context = {"job_id": job.pk, "attempts": 1, "params": job.params, "log": job.log[-2000:]}
    assert len(job.log) > 2000 and context["log"] != job.log[-2001:]
    assert [r.getMessage() for r in caplog.records if r.name == "chimera.commander.services.missions"] == [
        f"mission {mission.pk} escalated: {reason} {context}"]
    [alert] = mail.outbox
    assert alert.to == ["boss@example.com"]
    assert alert.subject == f"[{company.name}] Mission escalated: {mission.play_snapshot['label']}"
    assert alert.body == (f"{reason}\n\nMission {mission.pk} (correlation {mission.correlation_id}).\n"
                          f"Context: {context}\n")
    # the other company's mission goes on
    theirs.refresh_from_db()
    assert theirs.status == Mission.Status.RUNNING


def test_escalating_without_context_says_so_and_an_escalated_mission_is_left_as_it_is(company, store, owner):
    mission, _ = start(company, "bundle-offer", owner)
    mail.outbox.clear()

    escalated = mission_escalate(mission=mission, reason="its job is stuck")
    again = mission_escalate(mission=mission, reason="later")

    assert escalated.status == again.status == Mission.Status.ESCALATED
    assert again.decision_reason == "escalated: its job is stuck"
    [alert] = mail.outbox
    assert alert.body.endswith(f"(correlation {mission.correlation_id}).\nContext: {{}}\n")


# --- a mission's jobs in order, and how it ends (mission_continue, _job_finish) ---------------------------------------

def test_a_mission_runs_its_jobs_in_order_and_is_measured_once_one_did_its_work(
        company, store, owner, other_company, django_capture_on_commit_callbacks):
    # given the other company's bundle mission waiting for its first job, the clock pinned
    load_playbook(other_company)
    theirs, their_job = start(other_company, "bundle-offer", MembershipFactory(company=other_company).user)
    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    stamp = f"{now:%Y-%m-%d %H:%M:%S}"

    # when our bundle mission is approved and its tasks run (the bundle is made; Shopify is not connected)
    with time_machine.travel(now, tick=False), django_capture_on_commit_callbacks(execute=True):
        mission, first = start(company, "bundle-offer", owner)

    # then each job was queued in turn and ended with its line, the second having done nothing
    first, second = mission.jobs.order_by("order")
    assert (first.status, first.error, first.queued_at, first.finished_at) == (Job.Status.SUCCEEDED, "", now, now)
    assert first.log.startswith(f"{stamp} queued on 'default'\n")
    assert first.log.endswith(f"{stamp} succeeded: {first.result['summary']}\n")
    reason = second.result["skipped"]
    assert second.status == Job.Status.SKIPPED and "Shopify is not connected" in reason
    assert (second.queued_at, second.finished_at, second.error) == (now, now, "")
    assert second.result["summary"] == f"nothing done: {reason}"
    assert second.log.startswith(f"{stamp} queued on '{second.queue}'\n")
    assert second.log.endswith(f"{stamp} skipped (nothing done): {reason}\n")
    # and the mission is measured after its play's window
    mission.refresh_from_db()
    assert (mission.status, mission.measure_due_at) == (Mission.Status.MEASURING, now + timedelta(hours=168))
    # the other company's mission did not move
    theirs.refresh_from_db()
    their_job.refresh_from_db()
    assert (theirs.status, their_job.status) == (Mission.Status.RUNNING, Job.Status.QUEUED)


def test_a_mission_whose_jobs_all_did_nothing_ends_no_op_with_their_reasons(company, owner, theirs,
                                                                            django_capture_on_commit_callbacks):
    # given no pending checkouts, and a reminder mission whose plan sends the reminder twice; the clock pinned
    load_playbook(company)
    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    mission = propose(company, "pending-checkout-reminder")
    [step] = mission.play_snapshot["job_plan"]
    twice = [{**step, "order": 0}, {**step, "order": 1}]
    Mission.objects.filter(pk=mission.pk).update(play_snapshot={**mission.play_snapshot, "job_plan": twice})

    # when it runs
    with time_machine.travel(now, tick=False), django_capture_on_commit_callbacks(execute=True):
        mission = mission_approve(mission=mission, actor=owner)

    # then it ends no_op then, saying what each job found
    first, second = mission.jobs.order_by("order")
    mission.refresh_from_db()
    assert (mission.status, mission.completed_at) == (Mission.Status.NO_OP, now)
    assert mission.outcome == (f"nothing was done: {first.type}: {first.result['skipped']}; "
                               f"{second.type}: {second.result['skipped']}")
    theirs.refresh_from_db()
    assert theirs.status == Mission.Status.PROPOSED


def test_a_mission_with_no_jobs_ends_no_op_and_says_so(company, owner, theirs):
    load_playbook(company)
    mission = propose(company, "bundle-offer")
    Mission.objects.filter(pk=mission.pk).update(play_snapshot={**mission.play_snapshot, "job_plan": []})

    mission = mission_approve(mission=mission, actor=owner)

    assert (mission.status, mission.outcome) == (Mission.Status.NO_OP, "nothing was done: the play has no jobs")
    theirs.refresh_from_db()
    assert theirs.status == Mission.Status.PROPOSED


def test_a_job_halted_after_a_transient_error_keeps_that_error_and_waits_unqueued(company, store, owner, monkeypatch):
    from chimera.commander.services.bots import BOTS

    # given a job whose first attempt hit a busy provider (queued again, its error recorded)
    mission, job = start(company, "bundle-offer", owner)

    def provider_busy(*, job, ctx):
        raise ConnectionError("provider busy")

    monkeypatch.setitem(BOTS, job.type, provider_busy)
    with pytest.raises(ConnectionError):
        job_run(job_id=job.pk)
    job.refresh_from_db()
    queued_at = job.queued_at

    # when the retry is delivered while the company is halted
    company_set_halt(company=company, halted=True, actor=owner, reason="stop")
    assert job_run(job_id=job.pk) == "halted"

    # then it waits, pending, with the error it had and the time it was last queued
    job.refresh_from_db()
    assert (job.status, job.error, job.queued_at) == (Job.Status.PENDING, "ConnectionError: provider busy", queued_at)


def test_a_bot_result_without_a_summary_ends_the_log_with_a_bare_success_line(company, store, owner, monkeypatch):
    from chimera.commander.services.bots import BOTS

    mission, job = start(company, "bundle-offer", owner)
    monkeypatch.setitem(BOTS, job.type, lambda *, job, ctx: {"product_ids": []})

    assert job_run(job_id=job.pk) == "done"

    job.refresh_from_db()
    assert job.result == {"product_ids": []} and job.log.endswith(" succeeded: \n")


def test_a_job_that_did_nothing_without_saying_why_gives_its_summary_in_the_no_op_outcome(
        company, owner, theirs, monkeypatch, django_capture_on_commit_callbacks):
    from chimera.commander.services.bots import BOTS
    from chimera.commander.services.jobs import NothingDone

    def silent(*, job, ctx):
        raise NothingDone("")

    load_playbook(company)
    mission = propose(company, "pending-checkout-reminder")
    monkeypatch.setitem(BOTS, mission.play_snapshot["job_plan"][0]["type"], silent)

    with django_capture_on_commit_callbacks(execute=True):
        mission = mission_approve(mission=mission, actor=owner)

    mission.refresh_from_db()
    assert mission.status == Mission.Status.NO_OP
    assert mission.outcome == "nothing was done: email_segment: nothing done: "
    theirs.refresh_from_db()
    assert theirs.status == Mission.Status.PROPOSED


def test_a_job_halted_midway_keeps_what_its_bot_did_before_the_halt(company, store, owner, monkeypatch):
    from chimera.commander.services.bots import BOTS

    # given a bot that does one step, then finds the company halted before the next
    mission, job = start(company, "bundle-offer", owner)

    def halted_midway(*, job, ctx):
        ctx.log("discount code BUNDLE10 created")
        company_set_halt(company=company, halted=True, actor=owner, reason="stop")
        ctx.guard()

    monkeypatch.setitem(BOTS, job.type, halted_midway)

    # when
    assert job_run(job_id=job.pk) == "halted"

    # then it waits, pending, and its log says both what was done and why it stopped
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING
    assert "discount code BUNDLE10 created" in job.log and "not run: " in job.log
    assert job.log.index("BUNDLE10") < job.log.index("not run: ")


def test_a_bot_raising_is_logged_with_its_job_and_traceback(company, store, owner, monkeypatch, caplog):
    from chimera.commander.services.bots import BOTS

    mission, job = start(company, "bundle-offer", owner)

    def broken(*, job, ctx):
        raise ValueError("bad params")

    monkeypatch.setitem(BOTS, job.type, broken)
    with caplog.at_level("ERROR", logger="chimera.commander.services.jobs"):
        assert job_run(job_id=job.pk) == "failed"

    [record] = [r for r in caplog.records if r.name == "chimera.commander.services.jobs" and r.levelname == "ERROR"]
    assert record.getMessage() == f"job {job.pk} failed" and record.exc_info[0] is ValueError
