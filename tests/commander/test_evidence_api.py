"""GET /api/v1/evidence/: the caller's company's records with effect, interval, probability and verdict."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chimera.commander.models import EvidenceRecord, Mission
from tests.factories import CompanyFactory

from .factories import load_playbook


def evidence(company, play, *, verdict="win", effect=0.1):
    mission = Mission.objects.create(company=company, play=play, status=Mission.Status.COMPLETED, explanation="")
    return EvidenceRecord.objects.create(
        company=company, mission=mission, play=play, correlation_id=mission.correlation_id,
        success=verdict == "win", verdict=verdict, method="holdout", kpi="repeat-customers-30d", treated_n=160,
        control_n=40, effect=0.05, effect_rel=effect, ci_low=0.02, ci_high=0.2, prob_improvement=0.98, mde=0.03,
        notes="Win: measured +10.0%")


@pytest.fixture
def records(company):
    plays = load_playbook(company)
    other = CompanyFactory()
    evidence(other, load_playbook(other)["win-back-email"], verdict="loss")
    return [evidence(company, plays["win-back-email"]), evidence(company, plays["bundle-offer"], verdict="no_effect")]


def test_evidence_lists_the_companys_records_with_effect_interval_and_verdict(owner_api, records):
    _, api = owner_api

    response = api.get("/api/v1/evidence/")

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["play"] for r in rows] == ["bundle-offer", "win-back-email"]
    row = rows[1]
    assert row["method"] == "holdout" and row["verdict"] == "win" and row["effect_rel"] == 0.1
    assert (row["ci_low"], row["ci_high"], row["ci_level"], row["prob_improvement"]) == (0.02, 0.2, 0.9, 0.98)
    assert row["sizes"] == {"treated": 160, "control": 40, "pre_days": None}
    assert set(row["window"]) == {"start", "end"} and row["mission"] == records[0].mission_id


def test_evidence_filters_and_rejects_a_bad_filter(owner_api, records):
    _, api = owner_api

    assert [r["play"] for r in api.get("/api/v1/evidence/?verdict=win").json()["results"]] == ["win-back-email"]
    assert [r["play"] for r in api.get("/api/v1/evidence/?play=bundle-offer").json()["results"]] == ["bundle-offer"]
    bad = api.get("/api/v1/evidence/?verdict=great")
    assert bad.status_code == 400 and "error" in bad.json()


def test_another_companys_record_is_404(owner_api, company):
    _, api = owner_api
    other = CompanyFactory()
    theirs = evidence(other, load_playbook(other)["win-back-email"])

    assert api.get(f"/api/v1/evidence/{theirs.pk}/").status_code == 404


def test_evidence_list_queries_do_not_grow_with_records(owner_api, company):
    _, api = owner_api
    plays = load_playbook(company)
    counts = []
    for n in (2, 6):
        while EvidenceRecord.objects.filter(company=company).count() < n:
            evidence(company, plays["win-back-email"])
        with CaptureQueriesContext(connection) as ctx:
            assert api.get("/api/v1/evidence/").status_code == 200
        counts.append(len(ctx))
    assert counts[0] == counts[1]


def test_the_schema_documents_the_evidence_fields(client):
    schema = client.get("/api/schema/?format=json").json()

    assert "/api/v1/evidence/" in schema["paths"]
    fields = schema["components"]["schemas"]["Evidence"]["properties"]
    for name in ("method", "effect", "ci_low", "ci_high", "prob_improvement", "verdict", "sizes", "window"):
        assert name in fields, name
