from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from autonomax.models import ConfigChange, Role
from chimera.commander.models import EvidenceRecord, Mission, Play
from chimera.commander.services.evidence import evidence_log_due, weekly_review, weekly_review_send
from chimera.commander.services.missions import missions_suggest
from chimera.commander.services.playbook import play_review_clear
from chimera.tasks import weekly_review_email
from tests.factories import CompanyFactory, MembershipFactory

from .factories import kpi, kpis_with, load_playbook, propose


def measuring(company, play_key, *, kpis=None, due_in_hours=0) -> Mission:
    """A mission whose jobs are done, waiting for its measurement."""
    mission = propose(company, play_key, kpis)
    Mission.objects.filter(pk=mission.pk).update(status=Mission.Status.MEASURING,
                                                 measure_due_at=timezone.now() + timedelta(hours=due_in_hours))
    mission.refresh_from_db()
    return mission


@pytest.fixture
def plays(company):
    return load_playbook(company)


def test_evidence_is_logged_after_measure_after_with_before_after_and_change(company, plays):
    # given a bundle mission started when AOV was 20 (warning), due in 168 hours
    before = kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "20.00")})
    mission = measuring(company, "bundle-offer", kpis=before, due_in_hours=168)

    # when measured too early nothing is logged; after the delay AOV is 21.50 (+7.5%, the play needs +5%)
    after = kpis_with(**{"aov-30d": kpi("aov-30d", "OK", "21.50")})
    assert evidence_log_due(company=company, kpis=after) == []
    [record] = evidence_log_due(company=company, kpis=after, now=timezone.now() + timedelta(hours=169))

    # then
    assert record.success is True and record.correlation_id == mission.correlation_id
    assert record.kpi_before["aov-30d"]["value"] == "20.00" and record.kpi_after["aov-30d"]["value"] == "21.50"
    assert record.change["aov-30d"] == {"before": "20.00", "after": "21.50", "abs": "1.50", "pct": "7.50"}
    assert "aov-30d went from 20.00 to 21.50 (7.50%)" in record.notes
    mission.refresh_from_db()
    assert mission.status == Mission.Status.COMPLETED and mission.completed_at


def test_a_negative_result_is_recorded_as_plainly(company, plays):
    # given first response (lower is better) went from 70 to 68 minutes: -2.9%, the play needs -10%
    before = kpis_with(**{"first-response-p50": kpi("first-response-p50", "WARNING", "70", direction="down")})
    mission = measuring(company, "faq-macros", kpis=before)
    after = kpis_with(**{"first-response-p50": kpi("first-response-p50", "WARNING", "68", direction="down")})

    # when
    [record] = evidence_log_due(company=company, kpis=after)

    # then
    assert record.success is False and "no success" in record.notes and "-2.86%" in record.notes
    mission.refresh_from_db()
    assert mission.status == Mission.Status.FAILED


def test_lower_is_better_kpis_succeed_when_they_fall(company, plays):
    before = kpis_with(**{"first-response-p50": kpi("first-response-p50", "CRITICAL", "300", direction="down")})
    measuring(company, "faq-macros", kpis=before)
    after = kpis_with(**{"first-response-p50": kpi("first-response-p50", "OK", "45", direction="down")})

    [record] = evidence_log_due(company=company, kpis=after)

    assert record.success is True and record.change["first-response-p50"]["pct"] == "-85.00"


def test_an_unknown_kpi_at_measurement_is_no_success_with_the_reason(company, plays):
    measuring(company, "bundle-offer")

    [record] = evidence_log_due(company=company, kpis=kpis_with(**{"aov-30d": kpi("aov-30d", "UNKNOWN", None)}))

    assert record.success is False and "could not be compared" in record.notes


def test_the_posterior_learns_from_evidence(company, plays):
    # given one successful bundle mission
    measuring(company, "bundle-offer", kpis=kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "20")}))
    evidence_log_due(company=company, kpis=kpis_with(**{"aov-30d": kpi("aov-30d", "OK", "30")}))

    # when suggested again
    [mission] = missions_suggest(company=company, kpis=kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "20")}))

    # then Beta(2+1, 2) -> 0.6
    assert Decimal(mission.score_factors["success_probability"]) == Decimal("0.6000")


def test_three_non_successes_in_a_row_put_the_play_under_review_until_cleared(company, plays):
    # given three failed bundle missions in a row
    flat = kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "20")})
    for _ in range(3):
        measuring(company, "bundle-offer", kpis=flat)
        evidence_log_due(company=company, kpis=flat)

    # then the play is under review and stops triggering
    play = Play.objects.get(pk=plays["bundle-offer"].pk)
    assert play.status == Play.Status.UNDER_REVIEW
    assert ConfigChange.objects.filter(object_id="bundle-offer", changes__status__1="under_review").exists()
    assert missions_suggest(company=company, kpis=flat) == []

    # when a person clears it, it triggers again
    play_review_clear(play=play, actor=None, reason="new bundle idea")
    assert len(missions_suggest(company=company, kpis=flat)) == 1


def test_two_failures_then_a_success_keep_the_play_active(company, plays):
    flat = kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "20")})
    up = kpis_with(**{"aov-30d": kpi("aov-30d", "OK", "30")})
    for after in (flat, flat, up):
        measuring(company, "bundle-offer", kpis=flat)
        evidence_log_due(company=company, kpis=after)

    assert Play.objects.get(pk=plays["bundle-offer"].pk).status == Play.Status.ACTIVE


def test_weekly_review_page_and_email_use_the_weeks_evidence(company, plays):
    # given one win and one loss this week, and an owner
    owner = MembershipFactory(company=company, role=Role.OWNER, user__email="owner@example.com").user
    measuring(company, "bundle-offer", kpis=kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "20")}))
    evidence_log_due(company=company, kpis=kpis_with(**{"aov-30d": kpi("aov-30d", "OK", "30")}))
    fr = kpis_with(**{"first-response-p50": kpi("first-response-p50", "WARNING", "70", direction="down")})
    measuring(company, "faq-macros", kpis=fr)
    evidence_log_due(company=company, kpis=fr)

    # when
    review = weekly_review(company=company, end=timezone.now() + timedelta(seconds=1))
    client = Client()
    client.force_login(owner)
    page = client.get("/review/")
    sent = weekly_review_send(company=company, end=timezone.now() + timedelta(seconds=1))

    # then
    assert [r.play.key for r in review["improved"]] == ["bundle-offer"]
    assert [r.play.key for r in review["unmoved"]] == ["faq-macros"]
    assert {p["play"].key: p["verdict"] for p in review["plays"]} == {"bundle-offer": "continue",
                                                                      "faq-macros": "continue"}
    assert page.status_code == 200 and b"aov-30d went from 20 to 30" in page.content
    assert sent == 1 and mail.outbox[-1].to == ["owner@example.com"]
    assert "What improved (1)" in mail.outbox[-1].body and "faq-macros" not in mail.outbox[-1].subject
    assert EvidenceRecord.objects.count() == 2


def test_weekly_review_task_mails_the_owners_of_each_active_company_once(company):
    # given an owner here, an owner of a second company, and an owner of an inactive company
    MembershipFactory(company=company, role=Role.OWNER, user__email="here@example.com")
    MembershipFactory(company=CompanyFactory(), role=Role.OWNER, user__email="there@example.com")
    MembershipFactory(company=CompanyFactory(is_active=False), role=Role.OWNER, user__email="gone@example.com")

    # when
    sent = weekly_review_email.delay().get()

    # then
    assert sent == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["here@example.com", "there@example.com"]
