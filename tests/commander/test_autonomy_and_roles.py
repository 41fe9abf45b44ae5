"""Autopilot, the approval roles and the kill switch mid-job, with a second company's data present."""

from datetime import UTC, datetime

import pytest
import time_machine

from autonomax.errors import AppError, ConflictError
from autonomax.models import Company, Role
from chimera.commander.models import Job, Mission, Play
from chimera.commander.services import bots as bots_module
from chimera.commander.services.jobs import job_run
from chimera.commander.services.missions import (
    company_autopilot_set,
    mission_approve,
    mission_can_decide,
    mission_reject,
    missions_auto_approve,
)
from tests.factories import MembershipFactory, UserFactory

from .factories import load_playbook, propose

pytestmark = pytest.mark.django_db


@pytest.fixture
def plays(company, other_company):
    load_playbook(other_company)
    return load_playbook(company)


def _mark_snapshot(mission, **fields):
    mission.play_snapshot = {**mission.play_snapshot, **fields}
    Mission.objects.filter(pk=mission.pk).update(play_snapshot=mission.play_snapshot)
    return mission


def test_autopilot_approves_only_auto_plays_and_never_a_strategic_one(company, other_company, plays):
    # given autopilot on, an auto play, a suggest play, and a strategic play marked auto in its file
    owner = MembershipFactory(company=company, role=Role.OWNER).user
    company_autopilot_set(company=company, on=True, actor=owner, reason="routine FAQ upkeep")
    auto = propose(company, "faq-macros")
    suggest = propose(company, "bundle-offer")
    strategic = _mark_snapshot(propose(company, "price-test-best-seller"), autonomy=Play.Autonomy.AUTO)
    assert auto.play_snapshot["autonomy"] == Play.Autonomy.AUTO
    assert suggest.play_snapshot["autonomy"] == Play.Autonomy.SUGGEST
    # and the other company (autopilot on too) has an auto mission of its own
    Company.objects.filter(pk=other_company.pk).update(autopilot=True)
    theirs = propose(other_company, "faq-macros")

    # when
    approved = missions_auto_approve(company=Company.objects.get(pk=company.pk))

    # then only our auto, non-strategic mission is approved, marked as the autopilot's
    assert [m.pk for m in approved] == [auto.pk]
    statuses = dict(Mission.objects.values_list("pk", "status"))
    assert statuses[auto.pk] == Mission.Status.APPROVED
    assert statuses[suggest.pk] == statuses[strategic.pk] == statuses[theirs.pk] == Mission.Status.PROPOSED
    auto.refresh_from_db()
    assert auto.decision_reason == "autopilot: operational auto play" and auto.decided_at is not None


def test_autopilot_never_approves_an_operational_play_that_asks_for_approval_nor_a_decided_mission(company,
                                                                                                   plays):
    # given autopilot on, an operational play that asks for approval, and an auto play a person rejected
    owner = MembershipFactory(company=company, role=Role.OWNER).user
    company_autopilot_set(company=company, on=True, actor=owner, reason="routine upkeep")
    asks = propose(company, "win-back-email")
    assert (asks.play_snapshot["level"], asks.play_snapshot["autonomy"]) == (Play.Level.OPERATIONAL,
                                                                              Play.Autonomy.SUGGEST)
    rejected = mission_reject(mission=propose(company, "ai-cost-routing"), actor=owner, reason="not now")
    assert rejected.play_snapshot["autonomy"] == Play.Autonomy.AUTO

    # when
    approved = missions_auto_approve(company=Company.objects.get(pk=company.pk))

    # then neither is approved
    assert approved == []
    asks.refresh_from_db()
    rejected.refresh_from_db()
    assert (asks.status, rejected.status) == (Mission.Status.PROPOSED, Mission.Status.REJECTED)


def test_autopilot_off_approves_nothing(company, plays):
    mission = propose(company, "faq-macros")

    assert missions_auto_approve(company=company) == []

    mission.refresh_from_db()
    assert mission.status == Mission.Status.PROPOSED


def test_a_role_in_another_company_gives_no_right_here(company, other_company, plays):
    # given a user who owns the other company and is only a viewer here
    user = MembershipFactory(company=other_company, role=Role.OWNER).user
    MembershipFactory(company=company, user=user, role=Role.VIEWER)
    mission = propose(company, "faq-macros")

    # when / then approving or rejecting here is refused
    for decide in (mission_approve, mission_reject):
        with pytest.raises(AppError) as caught:
            decide(mission=mission, actor=user)
        assert caught.value.status == 403
    mission.refresh_from_db()
    assert mission.status == Mission.Status.PROPOSED and mission.decided_by is None


def test_an_owner_elsewhere_cannot_decide_a_strategic_mission_as_an_operator_here(company, other_company, plays):
    user = MembershipFactory(company=other_company, role=Role.OWNER).user
    MembershipFactory(company=company, user=user, role=Role.OPERATOR)
    mission = propose(company, "price-test-best-seller")

    with pytest.raises(AppError) as caught:
        mission_approve(mission=mission, actor=user)

    assert "strategic" in caught.value.message
    # while an operator here may approve a tactical one
    assert mission_approve(mission=propose(company, "bundle-offer"), actor=user).status != Mission.Status.PROPOSED


def test_a_halt_in_the_middle_of_a_job_stops_it_before_its_next_side_effect(company, other_company, plays,
                                                                           monkeypatch):
    # given a bot with two side effects, a guard before each; the kill switch is thrown after the first
    effects = []

    def two_step_bot(*, job, ctx):
        ctx.guard()
        effects.append("first")
        Company.objects.filter(pk=job.company_id).update(execution_halted=True)  # someone presses Stop
        ctx.guard()
        effects.append("second")
        return {"summary": "both done"}

    operator = MembershipFactory(company=company, role=Role.OPERATOR).user
    mission = mission_approve(mission=propose(company, "faq-macros"), actor=operator)
    job = mission.jobs.order_by("order").first()
    monkeypatch.setitem(bots_module.BOTS, job.type, two_step_bot)
    # and the other company is halted too (its halt must not matter here, nor ours to it)

    # when
    outcome = job_run(job_id=job.pk)

    # then the second side effect never happened and the job waits for the switch
    assert outcome == "halted" and effects == ["first"]
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING and "kill switch" in job.log


def test_another_companys_halt_does_not_stop_this_companys_job(company, other_company, plays, monkeypatch):
    ran = []

    def bot(*, job, ctx):
        ctx.guard()
        ran.append(job.pk)
        return {"summary": "done"}

    Company.objects.filter(pk=other_company.pk).update(execution_halted=True)
    operator = MembershipFactory(company=company, role=Role.OPERATOR).user
    mission = mission_approve(mission=propose(company, "faq-macros"), actor=operator)
    job = mission.jobs.order_by("order").first()
    monkeypatch.setitem(bots_module.BOTS, job.type, bot)

    assert job_run(job_id=job.pk) == "done" and ran == [job.pk]


# --- who may decide (mission_can_decide, _role, _decide) ------------------------------------------------------------

VIEWER_NO = "Your role in this company does not allow deciding on missions."
STRATEGIC_NO = "This is a strategic mission: only an owner may decide on it."


@pytest.mark.parametrize(("role", "play_key", "expected"), [
    (Role.OWNER, "faq-macros", (True, "")),
    (Role.OPERATOR, "bundle-offer", (True, "")),
    (Role.OWNER, "price-test-best-seller", (True, "")),
    (Role.OPERATOR, "price-test-best-seller", (False, STRATEGIC_NO)),
    (Role.VIEWER, "faq-macros", (False, VIEWER_NO)),
    (Role.VIEWER, "price-test-best-seller", (False, VIEWER_NO)),
    (None, "faq-macros", (False, VIEWER_NO)),
])
def test_who_may_decide_and_the_reason_given_otherwise(company, plays, role, play_key, expected):
    assert mission_can_decide(mission=propose(company, play_key), role=role) == expected


def test_a_superuser_decides_as_an_owner_without_a_membership_and_nobody_decides_anonymously(company, plays):
    # given a strategic mission, a superuser who is no member of the company, and no actor at all
    mission = propose(company, "price-test-best-seller")
    superuser = UserFactory(is_superuser=True)

    # when / then no actor is refused; the superuser may reject it as an owner would
    with pytest.raises(AppError) as caught:
        mission_reject(mission=mission, actor=None)
    assert (caught.value.status, caught.value.message) == (403, VIEWER_NO)
    assert mission_reject(mission=mission, actor=superuser, reason="no").status == Mission.Status.REJECTED


def test_a_decision_records_who_why_and_when(company, other_company, plays):
    # given a proposed mission here and the other company's own, the clock pinned
    operator = MembershipFactory(company=company, role=Role.OPERATOR).user
    mission = propose(company, "bundle-offer")
    theirs = propose(other_company, "bundle-offer")
    with time_machine.travel(datetime(2026, 12, 1, 9, 30, tzinfo=UTC), tick=False):
        # when
        mission_reject(mission=mission, actor=operator, reason="not this month")

    # then
    mission.refresh_from_db()
    theirs.refresh_from_db()
    assert (mission.status, mission.decided_by, mission.decision_reason, mission.decided_at) == (
        Mission.Status.REJECTED, operator, "not this month", datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    assert (theirs.status, theirs.decided_by, theirs.decided_at) == (Mission.Status.PROPOSED, None, None)


@pytest.mark.parametrize(("decide", "verb"), [(mission_approve, "approved"), (mission_reject, "rejected")])
def test_deciding_a_decided_mission_is_a_conflict_that_says_what_was_asked(company, plays, decide, verb):
    owner = MembershipFactory(company=company, role=Role.OWNER).user
    mission = mission_reject(mission=propose(company, "bundle-offer"), actor=owner, reason="no")

    with pytest.raises(ConflictError) as caught:
        decide(mission=mission, actor=owner)

    assert caught.value.message == f"Mission {mission.pk} is rejected, not proposed: it cannot be {verb}."
    assert caught.value.code == "mission_rejected"
