import pytest
from django.contrib.admin.sites import site
from django.test import Client, RequestFactory
from django.urls import reverse

from autonomax.models import Role
from chimera.commander.admin import MissionAdmin
from chimera.commander.models import Job, Mission
from chimera.commander.services.missions import mission_approve
from tests.factories import CompanyFactory, MembershipFactory, UserFactory, member_with_token

from .factories import load_playbook, propose

APPROVE = "/api/v1/missions/{}/approve/"
REJECT = "/api/v1/missions/{}/reject/"


@pytest.fixture
def plays(company):
    return load_playbook(company)


@pytest.mark.parametrize(("role", "play_key", "allowed"), [
    (Role.OWNER, "faq-macros", True),                 # operational
    (Role.OPERATOR, "faq-macros", True),
    (Role.VIEWER, "faq-macros", False),
    (Role.OWNER, "bundle-offer", True),               # tactical
    (Role.OPERATOR, "bundle-offer", True),
    (Role.VIEWER, "bundle-offer", False),
    (Role.OWNER, "price-test-best-seller", True),     # strategic: owner only
    (Role.OPERATOR, "price-test-best-seller", False),
    (Role.VIEWER, "price-test-best-seller", False),
])
def test_permission_matrix_for_approval(company, plays, role, play_key, allowed, django_capture_on_commit_callbacks):
    # given
    mission = propose(company, play_key)
    membership, key = member_with_token(company=company, role=role)
    from tests.conftest import _api_client

    # when
    response = _api_client(key).post(APPROVE.format(mission.pk), {"reason": "looks right"}, format="json")

    # then
    mission.refresh_from_db()
    if allowed:
        assert response.status_code == 200, response.json()
        assert response.json()["status"] in ("planned", "running")
        assert mission.decided_by == membership.user and mission.decision_reason == "looks right"
        assert mission.jobs.count() == len(mission.play_snapshot["job_plan"])
    else:
        assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
        assert response.json()["error"]["message"]
        assert mission.status == Mission.Status.PROPOSED and mission.decided_by is None
        assert not mission.jobs.exists()


def test_approving_twice_is_a_conflict_and_changes_nothing(company, plays, operator_api):
    # given
    membership, api = operator_api
    mission = propose(company, "faq-macros")
    assert api.post(APPROVE.format(mission.pk)).status_code == 200
    mission.refresh_from_db()
    before = (mission.status, mission.decided_at, mission.jobs.count())

    # when
    response = api.post(APPROVE.format(mission.pk))

    # then
    assert response.status_code == 409
    assert "not proposed" in response.json()["error"]["message"]
    mission.refresh_from_db()
    assert (mission.status, mission.decided_at, mission.jobs.count()) == before


def test_a_rejected_mission_cannot_be_approved(company, plays, owner_api):
    # given
    _, api = owner_api
    mission = propose(company, "bundle-offer")
    response = api.post(REJECT.format(mission.pk), {"reason": "not this month"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "rejected"

    # when
    response = api.post(APPROVE.format(mission.pk))

    # then
    assert response.status_code == 409 and response.json()["error"]["code"] == "mission_rejected"
    mission.refresh_from_db()
    assert mission.status == Mission.Status.REJECTED and mission.decision_reason == "not this month"
    assert not Job.objects.exists()


def test_missions_of_another_company_are_not_found(company, plays, owner_api):
    other = CompanyFactory()
    load_playbook(other)
    mission = propose(other, "faq-macros")
    _, api = owner_api

    assert api.post(APPROVE.format(mission.pk)).status_code == 404
    assert api.get("/api/v1/missions/").json()["count"] == 0


def test_list_filters_by_status(company, plays, viewer_api):
    # given one proposed and one rejected mission
    _, api = viewer_api
    propose(company, "faq-macros")
    Mission.objects.filter(pk=propose(company, "bundle-offer").pk).update(status=Mission.Status.REJECTED)

    # when
    body = api.get("/api/v1/missions/?status=proposed").json()

    # then
    assert [m["play"] for m in body["results"]] == ["faq-macros"]
    assert body["results"][0]["explanation"] and body["results"][0]["score_factors"]


def test_bad_reason_type_is_a_4xx(company, plays, owner_api):
    _, api = owner_api
    mission = propose(company, "faq-macros")

    response = api.post(APPROVE.format(mission.pk), {"reason": "x" * 3000}, format="json")

    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"
    mission.refresh_from_db()
    assert mission.status == Mission.Status.PROPOSED


def test_max_active_missions_limits_what_starts(company, plays):
    # given a company allowed one active mission and two approved
    company.max_active_missions = 1
    company.save()
    owner = MembershipFactory(company=company, role=Role.OWNER).user
    first, second = propose(company, "faq-macros"), propose(company, "bundle-offer")

    # when
    mission_approve(mission=first, actor=owner)
    second = mission_approve(mission=second, actor=owner)

    # then the second waits, approved, without jobs
    first.refresh_from_db()
    assert first.status in (Mission.Status.PLANNED, Mission.Status.RUNNING)
    assert second.status == Mission.Status.APPROVED and not second.jobs.exists()


def test_dashboard_htmx_approve_returns_the_card_and_viewer_gets_403(company, plays):
    # given
    mission = propose(company, "faq-macros")
    operator = MembershipFactory(company=company, role=Role.OPERATOR).user
    viewer = MembershipFactory(company=company, role=Role.VIEWER).user
    url = reverse("cc-mission-approve", args=[mission.pk])

    # when the viewer posts anyway
    client = Client()
    client.force_login(viewer)
    page = client.get("/")
    denied = client.post(url, HTTP_HX_REQUEST="true")

    # then no button and 403
    assert page.status_code == 200 and b'class="approve"' not in page.content
    assert denied.status_code == 403
    mission.refresh_from_db()
    assert mission.status == Mission.Status.PROPOSED

    # when the operator approves with HTMX
    client.force_login(operator)
    assert b'class="approve"' in client.get("/").content
    response = client.post(url, HTTP_HX_REQUEST="true")

    # then the card comes back, no redirect
    assert response.status_code == 200
    assert f'id="mission-{mission.pk}"'.encode() in response.content and b"Approve</button>" not in response.content
    mission.refresh_from_db()
    assert mission.status in (Mission.Status.PLANNED, Mission.Status.RUNNING)


def test_dashboard_approve_without_htmx_redirects(company, plays):
    mission = propose(company, "faq-macros")
    client = Client()
    client.force_login(MembershipFactory(company=company, role=Role.OWNER).user)

    response = client.post(reverse("cc-mission-approve", args=[mission.pk]))

    assert response.status_code == 302 and response.url == "/"
    mission.refresh_from_db()
    assert mission.status != Mission.Status.PROPOSED


def test_admin_action_approves_and_reports_refusals(company, plays):
    # given an operator (staff) and an operational and a strategic mission
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, company=company, role=Role.OPERATOR)
    ok, strategic = propose(company, "faq-macros"), propose(company, "price-test-best-seller")
    request = RequestFactory().post("/admin/")
    request.user = user
    sent = []
    admin = MissionAdmin(Mission, site)
    admin.message_user = lambda request, message, level=None: sent.append(message)

    # when
    admin.approve(request, Mission.objects.filter(pk__in=[ok.pk, strategic.pk]))

    # then
    ok.refresh_from_db()
    strategic.refresh_from_db()
    assert ok.status != Mission.Status.PROPOSED and strategic.status == Mission.Status.PROPOSED
    assert any("only an owner" in m for m in sent)


def test_dashboard_htmx_reject_takes_the_prompted_reason(company, plays):
    mission = propose(company, "bundle-offer")
    client = Client()
    client.force_login(MembershipFactory(company=company, role=Role.OPERATOR).user)

    response = client.post(reverse("cc-mission-reject", args=[mission.pk]), HTTP_HX_REQUEST="true",
                           HTTP_HX_PROMPT="we ran a bundle last week")

    assert response.status_code == 200 and b'data-status="rejected"' in response.content
    mission.refresh_from_db()
    assert mission.status == Mission.Status.REJECTED and mission.decision_reason == "we ran a bundle last week"


def test_kill_switch_toggle_from_the_command_center(company, plays):
    # given an operator and a viewer
    operator = MembershipFactory(company=company, role=Role.OPERATOR).user
    viewer = MembershipFactory(company=company, role=Role.VIEWER).user
    client = Client()

    # when the viewer tries, then the operator does
    client.force_login(viewer)
    denied = client.post(reverse("command-switches"), {"switch": "halt", "on": "1"})
    client.force_login(operator)
    done = client.post(reverse("command-switches"), {"switch": "halt", "on": "1", "reason": "bad copy live"})

    # then
    assert denied.status_code == 403 and done.status_code == 302
    company.refresh_from_db()
    assert company.execution_halted and company.halted_reason == "bad copy live"
    assert b"Execution stopped" in client.get("/").content


def test_lifting_the_kill_switch_in_the_command_center_queues_waiting_jobs_at_once(
        company, plays, django_capture_on_commit_callbacks):
    # given a mission approved while the company was halted: planned, its job waiting
    from autonomax.services import company_set_halt

    operator = MembershipFactory(company=company, role=Role.OPERATOR).user
    company_set_halt(company=company, halted=True, actor=operator)
    mission = mission_approve(mission=propose(company, "faq-macros"), actor=operator)
    job = mission.jobs.order_by("order").first()
    assert job.status == Job.Status.PENDING
    client = Client()
    client.force_login(operator)

    # when the operator presses Resume
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("command-switches"), {"switch": "halt", "on": "0"})

    # then the job is queued now instead of waiting for the next cycle
    assert response.status_code == 302
    job.refresh_from_db()
    company.refresh_from_db()
    assert not company.execution_halted and job.status == Job.Status.QUEUED
    assert len(callbacks) == 1  # the job's task is sent once the switch change commits


def test_escalated_missions_show_retry_to_operators_and_refuse_viewers(company, plays, viewer_api):
    # given an escalated mission
    mission = propose(company, "faq-macros")
    Mission.objects.filter(pk=mission.pk).update(status=Mission.Status.ESCALATED)
    operator = MembershipFactory(company=company, role=Role.OPERATOR).user
    _, api = viewer_api

    # when
    client = Client()
    client.force_login(operator)
    page = client.get("/")
    denied = api.post(f"/api/v1/missions/{mission.pk}/retry/")

    # then
    assert b'class="retry"' in page.content
    assert denied.status_code == 403
    mission.refresh_from_db()
    assert mission.status == Mission.Status.ESCALATED


def test_of_approved_missions_of_equal_rank_the_higher_score_starts_first(company, other_company, plays):
    # given no free slot yet, two approved missions of equal policy rank, the older with the lower score, and
    # the other company's approved mission with the highest score
    from decimal import Decimal

    from chimera.commander.services.missions import missions_start

    for tenant in (company, other_company):
        tenant.max_active_missions = 0
        tenant.save(update_fields=["max_active_missions"])
    owner = MembershipFactory(company=company, role=Role.OWNER).user
    older, newer = propose(company, "faq-macros"), propose(company, "bundle-offer")
    for mission in (older, newer):
        mission_approve(mission=mission, actor=owner)
    Mission.objects.filter(pk=older.pk).update(policy_rank=1, score=Decimal("0.4"))
    Mission.objects.filter(pk=newer.pk).update(policy_rank=1, score=Decimal("0.9"))
    load_playbook(other_company)
    theirs = propose(other_company, "faq-macros")
    mission_approve(mission=theirs, actor=MembershipFactory(company=other_company, role=Role.OWNER).user)
    Mission.objects.filter(pk=theirs.pk).update(policy_rank=1, score=Decimal("1"))

    # when one slot frees up
    company.max_active_missions = 1
    company.save(update_fields=["max_active_missions"])
    started = missions_start(company=company)

    # then the higher score starts; the older one and the other company's mission wait
    assert [m.pk for m in started] == [newer.pk]
    statuses = dict(Mission.objects.filter(pk__in=[older.pk, theirs.pk]).values_list("pk", "status"))
    assert statuses == {older.pk: Mission.Status.APPROVED, theirs.pk: Mission.Status.APPROVED}
