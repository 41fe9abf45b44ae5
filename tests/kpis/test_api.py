"""GET /api/v1/kpis/, POST /api/v1/metrics/ and `import_metrics`: per-row validation, idempotency."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from kpis.models import ExternalMetric, MetricSnapshot
from kpis.services import kpis_evaluate
from tests.factories import CompanyFactory

from .factories import KPIDefinitionFactory, MetricSnapshotFactory


@pytest.fixture
def sessions(company):
    return ExternalMetric.objects.create(company=company, name="analytics.sessions", label="Sessions")


def test_kpi_list_returns_board_data_scoped_to_the_company(company, viewer_api):
    # given one evaluated KPI of ours and one of another company
    KPIDefinitionFactory(company=company, key="revenue", unit="USD")
    MetricSnapshotFactory(company=company, value=Decimal("90"))
    kpis_evaluate(company=company)
    KPIDefinitionFactory(company=CompanyFactory(), key="theirs")
    _, api = viewer_api
    # when
    response = api.get("/api/v1/kpis/")
    # then
    assert response.status_code == 200
    [card] = response.json()
    assert {k: card[k] for k in ["key", "status", "value", "target", "warning", "critical", "unit"]} == {
        "key": "revenue", "status": "WARNING", "value": "90.0000", "target": "100.0000", "warning": "100.0000",
        "critical": "80.0000", "unit": "USD"}
    assert set(card) >= {"trend", "points", "anomalies", "reason", "evaluated_at"}


def test_kpi_list_needs_authentication(db, client):
    # when / then
    response = client.get("/api/v1/kpis/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_push_keeps_valid_rows_and_rejects_the_others_with_reasons(company, sessions, operator_api):
    # given
    _, api = operator_api
    now = timezone.now()
    rows = [
        {"metric": "analytics.sessions", "value": 412, "at": (now - timedelta(hours=1)).isoformat(), "source": "ga"},
        {"metric": "analytics.unknown", "value": 1, "at": now.isoformat(), "source": "ga"},
        {"metric": "analytics.sessions", "value": "many", "at": now.isoformat(), "source": "ga"},
        {"metric": "analytics.sessions", "value": 5, "at": (now + timedelta(hours=2)).isoformat(), "source": "ga"},
        {"metric": "analytics.sessions", "value": 5, "at": "yesterday", "source": "ga"},
        {"metric": "analytics.sessions", "value": 5, "at": now.isoformat(), "source": "platform"},
        {"metric": "analytics.sessions", "value": "NaN", "at": now.isoformat(), "source": "ga"},
        "not an object",
    ]
    # when
    response = api.post("/api/v1/metrics/", {"metrics": rows}, format="json")
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 7)
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [(0, "accepted")] + [(i, "rejected") for i in range(1, 8)]
    reasons = [" ".join(r["errors"]) for r in body["results"]]
    assert "unknown metric 'analytics.unknown'" in reasons[1]
    assert "value must be a number" in reasons[2]
    assert "in the future" in reasons[3]
    assert "ISO 8601" in reasons[4]
    assert "reserved" in reasons[5]
    assert "not a finite number" in reasons[6]
    assert list(MetricSnapshot.objects.filter(company=company).values_list("metric", "value", "source")) == [
        ("analytics.sessions", Decimal("412.0000"), "ga")]


def test_push_is_idempotent_on_metric_at_source(company, sessions, operator_api):
    # given
    _, api = operator_api
    rows = [{"metric": "analytics.sessions", "value": "412.5", "at": "2026-03-01T00:00:00Z", "source": "ga"}]
    api.post("/api/v1/metrics/", {"metrics": rows}, format="json")
    # when the same batch is sent again
    response = api.post("/api/v1/metrics/", {"metrics": rows}, format="json")
    # then
    assert response.status_code == 200
    assert MetricSnapshot.objects.filter(company=company).count() == 1


def test_push_with_no_valid_row_is_a_400_with_the_error_shape(company, sessions, operator_api):
    # given
    _, api = operator_api
    # when
    response = api.post("/api/v1/metrics/", {"metrics": [{"metric": "nope", "value": 1, "at": "x", "source": "s"}]},
                        format="json")
    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "all_rows_rejected" and error["details"]["results"][0]["status"] == "rejected"
    assert MetricSnapshot.objects.count() == 0


@pytest.mark.parametrize("row", [
    {"at": "2026-02-30T00:00:00Z"},  # well-formed, impossible date: parse_datetime raises
    {"at": "2026-11-20T25:00:00Z"},
    {"source": "crm\nimport"},
])
def test_push_rejects_impossible_dates_and_unprintable_sources_per_row(company, sessions, operator_api, row):
    # given a row that is well-formed JSON but not storable
    _, api = operator_api
    base = {"metric": "analytics.sessions", "value": 5, "at": "2026-01-01T00:00:00Z", "source": "crm"}
    # when
    response = api.post("/api/v1/metrics/", {"metrics": [{**base, **row}]}, format="json")
    # then: rejected with its reason, not a 500
    assert response.status_code == 400
    assert response.json()["error"]["details"]["results"][0]["status"] == "rejected"
    assert MetricSnapshot.objects.count() == 0


@pytest.mark.parametrize("body", [{"metrics": "x"}, {"other": []}, "text"])
def test_push_with_a_malformed_body_is_a_400(company, operator_api, body):
    # when
    response = operator_api[1].post("/api/v1/metrics/", body, format="json")
    # then
    assert response.status_code == 400 and "error" in response.json()
    assert MetricSnapshot.objects.count() == 0


def test_viewers_cannot_push(company, sessions, viewer_api):
    # when
    response = viewer_api[1].post("/api/v1/metrics/", {"metrics": []}, format="json")
    # then
    assert response.status_code == 403 and MetricSnapshot.objects.count() == 0


def test_import_metrics_csv_twice_changes_nothing_the_second_time(company, sessions, tmp_path, capsys):
    # given
    path = tmp_path / "ga.csv"
    path.write_text("metric,value,at,source\n"
                    "analytics.sessions,380,2026-03-01T00:00:00Z,ga\n"
                    "analytics.sessions,401,2026-03-02T00:00:00Z,ga\n"
                    "analytics.bogus,1,2026-03-02T00:00:00Z,ga\n")
    # when
    call_command("import_metrics", str(path), company=company.slug)
    first = list(MetricSnapshot.objects.order_by("at").values_list("at", "value"))
    call_command("import_metrics", str(path), company=company.slug)
    # then
    out, err = capsys.readouterr()
    assert "2 accepted, 1 rejected" in out
    assert f"{path}:4: rejected: unknown metric 'analytics.bogus'" in err
    assert [v for _, v in first] == [Decimal("380"), Decimal("401")]
    assert list(MetricSnapshot.objects.order_by("at").values_list("at", "value")) == first


def test_import_metrics_rejects_a_file_without_the_columns(company, tmp_path):
    # given
    path = tmp_path / "bad.csv"
    path.write_text("name,amount\nx,1\n")
    # when / then
    with pytest.raises(CommandError, match="missing column"):
        call_command("import_metrics", str(path), company=company.slug)
    assert MetricSnapshot.objects.count() == 0
