"""The commander draws its missions on KPI charts through the KPI registry's chart markers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chimera.commander.models import EvidenceRecord, Mission
from kpis.registry import markers_for
from tests.factories import CompanyFactory

from .factories import load_playbook, propose

pytestmark = pytest.mark.django_db


def test_kpi_chart_marks_where_a_mission_ran_with_what_it_measured_and_only_this_companys(company):
    # given a measured win-back mission here, and one of another company on the same KPI
    other = CompanyFactory(slug="other-shop")
    load_playbook(company)
    load_playbook(other)
    mine, theirs = propose(company, "win-back-email"), propose(other, "win-back-email")
    for mission in (mine, theirs):
        Mission.objects.filter(pk=mission.pk).update(status=Mission.Status.COMPLETED, decided_at=timezone.now())
    EvidenceRecord.objects.create(company=company, mission=mine, play=mine.play, correlation_id=mine.correlation_id,
                                  success=True, notes="+12% repeat customers")
    since = timezone.now() - timedelta(days=1)
    # when
    markers = markers_for(company=company, kpi_key="repeat-customers-30d", since=since)
    # then
    assert [m["label"] for m in markers] == [f"Mission #{mine.pk} {mine.play.label}: +12% repeat customers"]
    assert markers_for(company=company, kpi_key="orders-7d", since=since) == []


def test_a_proposed_mission_is_not_marked(company):
    # given a mission nobody approved
    load_playbook(company)
    propose(company, "win-back-email")
    # when / then
    assert markers_for(company=company, kpi_key="repeat-customers-30d", since=timezone.now() - timedelta(days=1)) == []
