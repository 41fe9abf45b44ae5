"""Mission and job statuses move only through the declared tables; the admin cannot set a workflow status."""

import pytest
from django.test import Client
from django.utils import timezone

from autonomax.errors import ConflictError
from autonomax.models import Role
from chimera.commander.models import Job, Mission
from chimera.commander.services.missions import mission_approve, mission_cancel, mission_reject
from chimera.commander.transitions import (
    JOB_TRANSITIONS,
    MISSION_TRANSITIONS,
    PERSON,
    SYSTEM,
    TransitionRefused,
    job_move,
    mission_move,
)
from tests.factories import MembershipFactory, UserFactory

from .factories import load_playbook, propose


@pytest.fixture
def plays(company):
    return load_playbook(company)


@pytest.fixture
def operator(company):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, company=company, role=Role.OPERATOR)
    return user


def test_every_status_is_in_the_tables():
    # Each status is reachable or left through a declared move (no status only a stray save() could set).
    for table, statuses in ((MISSION_TRANSITIONS, Mission.Status.values), (JOB_TRANSITIONS, Job.Status.values)):
        named = {s for pair in table for s in pair}
        assert set(statuses) == named


def test_a_move_not_in_the_table_is_refused_and_nothing_is_written(company, plays, operator):
    # given a rejected mission
    mission = mission_reject(mission=propose(company, "bundle-offer"), actor=operator, reason="not now")

    # when something tries to mark it completed, or the system tries to approve for a person
    with pytest.raises(TransitionRefused, match="cannot go from rejected to completed"):
        mission_move(mission=mission, to=Mission.Status.COMPLETED, by=SYSTEM, completed_at=timezone.now())
    fresh = propose(company, "rewrite-listing-copy")
    with pytest.raises(TransitionRefused, match="not a move the system may make"):
        mission_move(mission=fresh, to=Mission.Status.APPROVED, by=SYSTEM, decided_at=timezone.now(),
                     decision_reason="x")

    # then
    assert Mission.objects.get(pk=mission.pk).status == Mission.Status.REJECTED
    assert Mission.objects.get(pk=fresh.pk).status == Mission.Status.PROPOSED


def test_a_move_that_does_not_record_what_the_table_asks_is_refused(company, plays):
    mission = propose(company, "bundle-offer")

    with pytest.raises(TransitionRefused, match="must record decided_by, decided_at, decision_reason"):
        mission_move(mission=mission, to=Mission.Status.REJECTED, by=PERSON)

    assert Mission.objects.get(pk=mission.pk).status == Mission.Status.PROPOSED


def test_a_succeeded_job_cannot_go_back_to_running(company, plays, operator):
    mission = mission_approve(mission=propose(company, "bundle-offer"), actor=operator)
    job = mission.jobs.order_by("order").first()
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    job.refresh_from_db()

    with pytest.raises(TransitionRefused):
        job_move(job=job, to=Job.Status.FAILED, error="x", finished_at=timezone.now())

    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


def test_cancel_stops_the_mission_and_its_jobs_not_run(company, plays, operator):
    # given a running mission whose jobs wait
    mission = mission_approve(mission=propose(company, "bundle-offer"), actor=operator)
    assert mission.status == Mission.Status.RUNNING

    # when an operator cancels it
    mission = mission_cancel(mission=mission, actor=operator, reason="wrong week")

    # then
    assert mission.status == Mission.Status.CANCELLED and "wrong week" in mission.decision_reason
    assert mission.decided_by == operator  # who approved it is kept
    assert set(mission.jobs.values_list("status", flat=True)) == {Job.Status.CANCELLED}


def test_a_viewer_cannot_cancel_and_a_finished_mission_cannot_be_cancelled(company, plays, operator):
    viewer = MembershipFactory(company=company, role=Role.VIEWER).user
    mission = propose(company, "bundle-offer")
    with pytest.raises(Exception, match="does not allow"):
        mission_cancel(mission=mission, actor=viewer)
    rejected = mission_reject(mission=mission, actor=operator)
    with pytest.raises(ConflictError, match="cannot be cancelled"):
        mission_cancel(mission=rejected, actor=operator)  # a ConflictError (409)
    assert Mission.objects.get(pk=mission.pk).status == Mission.Status.REJECTED


def test_admin_cannot_change_a_rejected_missions_status(company, plays, operator):
    # given a rejected mission (the 7-day "no")
    mission = mission_reject(mission=propose(company, "bundle-offer"), actor=operator, reason="no")
    client = Client()
    client.force_login(operator)
    url = f"/admin/commander/mission/{mission.pk}/change/"

    # when the admin change page is posted with status=completed
    page = client.get(url)
    client.post(url, {"status": Mission.Status.COMPLETED, "decision_reason": "edited"})

    # then the status is shown, not editable, and nothing changed
    assert page.status_code == 200 and b'name="status"' not in page.content
    mission.refresh_from_db()
    assert mission.status == Mission.Status.REJECTED and mission.decision_reason == "no"


def test_admin_job_status_is_read_only(company, plays, operator):
    mission = mission_approve(mission=propose(company, "bundle-offer"), actor=operator)
    job = mission.jobs.order_by("order").first()
    client = Client()
    client.force_login(operator)

    page = client.get(f"/admin/commander/job/{job.pk}/change/")
    client.post(f"/admin/commander/job/{job.pk}/change/", {"status": Job.Status.SUCCEEDED})

    assert page.status_code == 200 and b'name="status"' not in page.content
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED


def test_admin_cancel_action_goes_through_the_service(company, plays, operator):
    mission = mission_approve(mission=propose(company, "bundle-offer"), actor=operator)
    client = Client()
    client.force_login(operator)

    response = client.post("/admin/commander/mission/", {"action": "cancel", "_selected_action": [mission.pk]})

    assert response.status_code == 302
    mission.refresh_from_db()
    assert mission.status == Mission.Status.CANCELLED and "cancelled by" in mission.decision_reason


def test_admin_ticket_timestamps_are_read_only(company, operator):
    from tests.factories import TicketFactory

    ticket = TicketFactory(company=company)
    client = Client()
    client.force_login(operator)

    page = client.get(f"/admin/support/ticket/{ticket.pk}/change/")

    assert page.status_code == 200
    for field in (b'name="created_at', b'name="first_response_at', b'name="resolved_at'):
        assert field not in page.content
