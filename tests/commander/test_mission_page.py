"""`/missions/<id>/`: the mission's story (why, who decided, jobs, measuring, evidence) for the right company."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from autonomax.models import Role
from chimera.commander.models import EvidenceRecord, Job, Mission
from chimera.commander.services.missions import mission_approve
from tests.factories import CompanyFactory, MembershipFactory

from .factories import load_playbook, propose

pytestmark = pytest.mark.django_db


def _client(company, role) -> tuple[Client, object]:
    membership = MembershipFactory(company=company, role=role)
    client = Client()
    client.force_login(membership.user)
    return client, membership.user


def test_page_tells_the_story_of_an_approved_mission(company, django_capture_on_commit_callbacks):
    # given an operator approved a mission whose jobs ran, and its evidence is in
    load_playbook(company)
    mission = propose(company, "pending-checkout-reminder")
    client, operator = _client(company, Role.OPERATOR)
    with django_capture_on_commit_callbacks(execute=True):
        mission_approve(mission=mission, actor=operator, reason="checkouts are down")
    mission.refresh_from_db()
    record = EvidenceRecord.objects.create(company=company, mission=mission, play=mission.play,
                                           correlation_id=mission.correlation_id, success=False,
                                           notes="orders moved -1.2%")
    EvidenceRecord.objects.filter(pk=record.pk).update(recorded_at=timezone.now() + timedelta(days=4))
    # when
    response = client.get(f"/missions/{mission.pk}/")
    # then
    html = response.content.decode()
    assert response.status_code == 200
    kinds = [e["kind"] for e in response.context["events"]]
    assert kinds[:2] == ["proposed", "decided"] and kinds[-1] == "evidence"
    assert mission.explanation in html and f"Approved by {operator.get_username()}" in html
    assert "checkouts are down" in html and "orders moved -1.2%" in html
    for job in Job.objects.filter(mission=mission).exclude(started_at=None):
        assert f"{job.type} by {job.bot}" in html
    assert 'href="/kpis/orders-7d/"' in html  # the KPI that triggered it


def test_a_proposed_mission_offers_approval_to_an_operator_not_to_a_viewer(company):
    load_playbook(company)
    mission = propose(company, "faq-macros")
    operator, _ = _client(company, Role.OPERATOR)
    viewer, _ = _client(company, Role.VIEWER)
    # when / then
    assert 'name="approve"' in operator.get(f"/missions/{mission.pk}/").content.decode()
    page = viewer.get(f"/missions/{mission.pk}/").content.decode()
    assert 'name="approve"' not in page and mission.explanation in page


def test_another_companys_mission_is_not_found_and_login_is_required(company):
    # given a mission of another company
    other = CompanyFactory(slug="other-shop")
    load_playbook(other)
    theirs = propose(other, "faq-macros")
    client, _ = _client(company, Role.OWNER)
    # when / then
    assert client.get(f"/missions/{theirs.pk}/").status_code == 404
    assert client.get("/missions/999999/").status_code == 404
    assert Client().get(f"/missions/{theirs.pk}/").status_code == 302


def test_mission_page_queries_do_not_grow_with_jobs(company, django_assert_max_num_queries):
    load_playbook(company)
    mission = propose(company, "faq-macros")
    client, _ = _client(company, Role.OWNER)
    Mission.objects.filter(pk=mission.pk).update(status=Mission.Status.RUNNING)
    for n in range(12):
        Job.objects.create(company=company, mission=mission, type="write_copy", bot="copy_bot", order=n)
    # when / then
    with django_assert_max_num_queries(12):
        assert client.get(f"/missions/{mission.pk}/").status_code == 200


@pytest.mark.parametrize("chart", [
    {"kind": "groups", "treated": {"n": 160, "x": 96, "rate": 0.6}, "control": {"n": 40, "x": 4, "rate": 0.1}},
    {"kind": "forecast", "labels": ["2026-11-01", "2026-11-02"], "actual": [12.0, 14.0], "forecast": [10.0, 11.0],
     "low": [8.0, 9.0], "high": [12.0, 13.0]},
])
def test_page_shows_the_verdict_with_its_interval_and_chart(company, chart):
    # given a measured mission
    load_playbook(company)
    mission = propose(company, "win-back-email")
    client, _ = _client(company, Role.VIEWER)
    EvidenceRecord.objects.create(company=company, mission=mission, play=mission.play,
                                  correlation_id=mission.correlation_id, success=True, verdict="win",
                                  method="holdout", kpi="repeat-customers-30d", effect_rel=0.061, ci_low=0.012,
                                  ci_high=0.11, prob_improvement=0.97, treated_n=160, control_n=40, chart=chart,
                                  notes="Win: measured +6.1%")

    # when
    html = client.get(f"/missions/{mission.pk}/").content.decode()

    # then the verdict, the effect and its 90% interval, and the chart, not a bare "success"
    assert 'data-verdict="win"' in html and "+6.1%" in html and "90% interval" in html
    assert "+1.2% to +11.0%" in html and "probability it helps 97%" in html
    assert '<svg class="evidence-chart"' in html
    assert ("bar-control" in html) if chart["kind"] == "groups" else ('class="band"' in html)
    assert mission.measure_plan["note"] in html


def test_a_mission_that_did_nothing_says_so_on_its_page(company, django_capture_on_commit_callbacks):
    # given an approved reminder to a segment with nobody in it
    load_playbook(company)
    mission = propose(company, "pending-checkout-reminder")
    client, operator = _client(company, Role.OPERATOR)
    with django_capture_on_commit_callbacks(execute=True):
        mission_approve(mission=mission, actor=operator, reason="checkouts are down")

    # when
    response = client.get(f"/missions/{mission.pk}/")

    # then the person's reason stays, and the outcome is plain
    html = response.content.decode()
    assert [e["kind"] for e in response.context["events"]][-1] == "no_op"
    assert "checkouts are down" in html and "Nothing done: not measured, no evidence" in html
    assert "has no one to email" in html
