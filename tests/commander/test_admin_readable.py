"""The staff admin reads like the product: a mission's JSON as tables, its jobs and evidence inline, and the
company already chosen for a person in one company."""

import pytest
from django.test import Client

from autonomax.admin import json_table
from autonomax.models import Role
from chimera.commander.models import EvidenceRecord
from tests.factories import CompanyFactory, MembershipFactory

from .factories import load_playbook, propose

pytestmark = pytest.mark.django_db


def _staff(company, role=Role.OPERATOR) -> Client:
    client = Client()
    client.force_login(MembershipFactory(company=company, role=role, user__is_staff=True).user)
    return client


def test_json_becomes_nested_tables_and_lists_escaped():
    html = str(json_table({"job_plan": [{"type": "email_segment", "params": {"subject": "<b>Hi</b>"}}], "x": None}))
    assert html.startswith('<table class="json-table"><tr><th>job plan</th><td><ul><li><table')
    assert "&lt;b&gt;Hi&lt;/b&gt;" in html and "<th>x</th><td>—</td>" in html


def test_a_mission_shows_its_kpis_plan_jobs_and_evidence_readably(company, other_company):
    # given a mission with evidence
    load_playbook(company)
    mission = propose(company, "faq-macros")
    EvidenceRecord.objects.create(company=company, mission=mission, play=mission.play, success=True,
                                  correlation_id=mission.correlation_id, verdict=EvidenceRecord.Verdict.WIN,
                                  notes="first response fell")
    # when a staff operator opens it in the admin
    html = _staff(company).get(f"/admin/commander/mission/{mission.pk}/change/").content.decode()
    # then the trigger values and the play are tables (not raw JSON), and the evidence is inline
    assert '<table class="json-table">' in html and "<th>critical</th>" in html
    at = html.find('"job_plan"')
    assert at == -1, html[at - 300:at + 100]
    assert "first response fell" in html


def test_the_company_is_preselected_for_a_person_in_one_company(company):
    client = _staff(company)
    form = client.get("/admin/commander/agent/add/").content.decode()
    assert f'<option value="{company.pk}" selected>' in form
    # a person in two companies still chooses
    second = CompanyFactory(slug="second")
    user = MembershipFactory(company=company, role=Role.OPERATOR, user__is_staff=True).user
    MembershipFactory(company=second, user=user, role=Role.OPERATOR)
    client.force_login(user)
    form = client.get("/admin/commander/agent/add/").content.decode()
    assert " selected>" not in form.split('name="company"')[1][:400]
