"""EVALUATE_KPIS: the status rules at every boundary, UNKNOWN with its reason, stored numbers, query count."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kpis.models import KPIDefinition, KPIEvaluation, KPIStatus
from kpis.selectors import kpi_current
from kpis.services import kpi_status, kpis_evaluate, metrics_ingest
from kpis.services.evaluate import kpi_evaluate_one
from tests.factories import CompanyFactory, LeadFactory, OrderFactory, TicketFactory

from .factories import KPIDefinitionFactory, MetricSnapshotFactory

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
OK, WARNING, CRITICAL = KPIStatus.OK, KPIStatus.WARNING, KPIStatus.CRITICAL


@pytest.mark.parametrize(("value", "expected"), [
    ("150", OK), ("100.0001", OK), ("100", OK),              # at the warning threshold: still OK
    ("99.9999", WARNING), ("80.0001", WARNING), ("80", WARNING),  # at the critical threshold: WARNING
    ("79.9999", CRITICAL), ("0", CRITICAL), ("-5", CRITICAL),
])
def test_status_for_direction_up(value, expected):
    # given warning 100 (100% of target) and critical 80
    # when
    verdict = kpi_status(direction="up", value=Decimal(value), warning=Decimal("100"), critical=Decimal("80"))
    # then
    assert verdict.status == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("0", OK), ("99.9999", OK), ("100", OK),
    ("100.0001", WARNING), ("119.9999", WARNING), ("120", WARNING),
    ("120.0001", CRITICAL), ("1000", CRITICAL),
])
def test_status_for_direction_down(value, expected):
    # given warning 100 and critical 120 (the mirrored defaults)
    # when
    verdict = kpi_status(direction="down", value=Decimal(value), warning=Decimal("100"), critical=Decimal("120"))
    # then
    assert verdict.status == expected


@pytest.mark.parametrize(("direction", "value", "reason"), [
    ("up", "70", "70 is below the critical threshold 80"),
    ("up", "90", "90 is below the warning threshold 100"),
    ("up", "100", "100 is at or above 100"),
    ("down", "130", "130 is above the critical threshold 120"),
    ("down", "110", "110 is above the warning threshold 100"),
    ("down", "100", "100 is at or below 100"),
])
def test_each_status_says_why(direction, value, reason):
    # given warning 100 and critical 80 (up) or 120 (down)
    critical = Decimal("80") if direction == "up" else Decimal("120")
    # when
    verdict = kpi_status(direction=direction, value=Decimal(value), warning=Decimal("100"), critical=critical)
    # then
    assert verdict.reason == reason


@pytest.mark.parametrize(("value", "at"), [(Decimal("90"), None), (None, NOW)])
def test_a_value_without_its_time_or_a_time_without_a_value_is_unknown(value, at):
    # given a KPI and half a data point
    kpi = KPIDefinition(metric="revenue.gross", freshness_minutes=60, direction="up", target=Decimal("100"),
                        warning_threshold=Decimal("100"), critical_threshold=Decimal("80"))
    # when
    verdict = kpi_evaluate_one(kpi=kpi, value=value, at=at, now=NOW)
    # then
    assert (verdict.status, verdict.reason) == (KPIStatus.UNKNOWN, "no data for metric revenue.gross")


def test_evaluation_stores_the_numbers_behind_its_status(company):
    # given a fresh 7-day snapshot of 90 against target 100 (warning 100, critical 80)
    kpi = KPIDefinitionFactory(company=company, key="revenue")
    MetricSnapshotFactory(company=company, value=Decimal("90"), at=NOW - timedelta(minutes=5))
    # when
    [evaluation] = kpis_evaluate(company=company, now=NOW)
    # then
    stored = KPIEvaluation.objects.get(pk=evaluation.pk)
    assert (stored.status, stored.value, stored.target, stored.warning_threshold, stored.critical_threshold) == (
        WARNING, Decimal("90"), Decimal("100"), Decimal("100"), Decimal("80"))
    assert stored.snapshot_at == NOW - timedelta(minutes=5) and stored.metric == "revenue.gross"
    assert "below the warning threshold" in stored.reason
    kpi.refresh_from_db()
    assert kpi.last_evaluation_id == stored.pk


def test_no_data_is_unknown_with_the_reason(company):
    # given a KPI whose metric was never measured
    KPIDefinitionFactory(company=company, key="leads", metric="leads.conversion_rate")
    # when
    [evaluation] = kpis_evaluate(company=company, now=NOW)
    # then
    assert evaluation.status == KPIStatus.UNKNOWN and evaluation.value is None
    assert evaluation.reason == "no data for metric leads.conversion_rate"


def test_stale_data_is_unknown_with_the_reason(company):
    # given the latest snapshot is 61 minutes old and the freshness is 60 minutes
    KPIDefinitionFactory(company=company, key="revenue", freshness_minutes=60)
    MetricSnapshotFactory(company=company, value=Decimal("500"), at=NOW - timedelta(minutes=61))
    # when
    [evaluation] = kpis_evaluate(company=company, now=NOW)
    # then
    assert evaluation.status == KPIStatus.UNKNOWN
    assert evaluation.reason.startswith("stale: latest revenue.gross is from 2026-03-15 10:59 UTC, 61 min old")


def test_data_exactly_as_old_as_the_freshness_still_counts(company):
    # given
    KPIDefinitionFactory(company=company, key="revenue", freshness_minutes=60)
    MetricSnapshotFactory(company=company, value=Decimal("500"), at=NOW - timedelta(minutes=60))
    # when
    [evaluation] = kpis_evaluate(company=company, now=NOW)
    # then
    assert evaluation.status == OK


def test_snapshot_of_another_window_or_company_is_not_used(company):
    # given a 30-day snapshot and another company's 7-day snapshot, but no 7-day one of ours
    KPIDefinitionFactory(company=company, key="revenue", window_days=7)
    MetricSnapshotFactory(company=company, window_days=30, at=NOW)
    MetricSnapshotFactory(company=CompanyFactory(), window_days=7, at=NOW)
    # when
    [evaluation] = kpis_evaluate(company=company, now=NOW)
    # then
    assert evaluation.status == KPIStatus.UNKNOWN


def test_external_metric_uses_the_latest_pushed_value(company):
    # given a KPI on an external metric with two pushed values
    KPIDefinitionFactory(company=company, key="sessions", metric="analytics.sessions", freshness_minutes=2880)
    MetricSnapshotFactory(company=company, metric="analytics.sessions", window_days=1, source="ga",
                          value=Decimal("50"), at=NOW - timedelta(days=1))
    MetricSnapshotFactory(company=company, metric="analytics.sessions", window_days=1, source="ga",
                          value=Decimal("120"), at=NOW - timedelta(hours=2))
    # when
    [evaluation] = kpis_evaluate(company=company, now=NOW)
    # then
    assert (evaluation.status, evaluation.value) == (OK, Decimal("120"))


def test_kpi_current_gives_the_commander_contract(company):
    # given
    KPIDefinitionFactory(company=company, key="revenue", unit="USD")
    MetricSnapshotFactory(company=company, value=Decimal("70"), at=NOW)
    kpis_evaluate(company=company, now=NOW)
    # when
    current = kpi_current(company=company)
    # then
    card = current["revenue"]
    assert {k: card[k] for k in ["key", "label", "unit", "metric", "direction", "status", "value", "target",
                                 "warning", "critical", "evaluated_at"]} == {
        "key": "revenue", "label": "Revenue", "unit": "USD", "metric": "revenue.gross", "direction": "up",
        "status": CRITICAL, "value": Decimal("70"), "target": Decimal("100"), "warning": Decimal("100"),
        "critical": Decimal("80"), "evaluated_at": NOW}
    assert "below the critical threshold" in card["reason"]


def _cycle_queries(company, now):
    with CaptureQueriesContext(connection) as ingest:
        metrics_ingest(company=company, now=now)
    with CaptureQueriesContext(connection) as evaluate:
        kpis_evaluate(company=company, now=now)
    return len(ingest), len(evaluate)


def test_query_count_does_not_grow_with_kpis_or_rows(db):
    # given a small company with 2 KPIs and a bigger one with 12 KPIs and 10x the rows (no alerts)
    small, big = CompanyFactory(slug="small"), CompanyFactory(slug="big")
    metrics = ["revenue.gross", "orders.count", "leads.new", "support.open_tickets", "revenue.net", "orders.aov"]
    for company, kpi_count, rows in [(small, 2, 3), (big, 12, 30)]:
        for i in range(kpi_count):
            KPIDefinitionFactory(company=company, key=f"k{i}", metric=metrics[i % len(metrics)],
                                 window_days=[7, 30][i % 2], target=0, warning_threshold=0, critical_threshold=0)
        for i in range(rows):
            OrderFactory(company=company, created_at=NOW - timedelta(hours=i), paid_at=NOW - timedelta(hours=i))
            LeadFactory(company=company, created_at=NOW - timedelta(hours=i))
            TicketFactory(company=company, created_at=NOW - timedelta(hours=i))
    # the first cycle backfills the daily series; compare steady-state cycles
    _cycle_queries(small, NOW)
    _cycle_queries(big, NOW)
    later = NOW + timedelta(minutes=15)
    # when
    small_counts = _cycle_queries(small, later)
    big_counts = _cycle_queries(big, later)
    # then
    assert small_counts == big_counts
    assert sum(big_counts) <= 30


def test_an_external_metric_of_another_company_is_never_used(company, other_company):
    # given both companies push the same external metric, the other one more recently and far higher
    KPIDefinitionFactory(company=company, key="sessions", metric="analytics.sessions", freshness_minutes=2880)
    MetricSnapshotFactory(company=company, metric="analytics.sessions", window_days=1, source="ga",
                          value=Decimal("50"), at=NOW - timedelta(hours=3))
    MetricSnapshotFactory(company=other_company, metric="analytics.sessions", window_days=1, source="ga",
                          value=Decimal("900"), at=NOW - timedelta(minutes=5))

    # when
    [evaluation] = kpis_evaluate(company=company, now=NOW)

    # then our own value decides (50 is below the critical 80)
    assert (evaluation.status, evaluation.value) == (CRITICAL, Decimal("50"))
    assert evaluation.snapshot_at == NOW - timedelta(hours=3)


def test_an_external_metric_pushed_only_by_another_company_is_unknown(company, other_company):
    KPIDefinitionFactory(company=company, key="sessions", metric="analytics.sessions", freshness_minutes=2880)
    MetricSnapshotFactory(company=other_company, metric="analytics.sessions", window_days=1, source="ga",
                          value=Decimal("900"), at=NOW - timedelta(minutes=5))

    [evaluation] = kpis_evaluate(company=company, now=NOW)

    assert evaluation.status == KPIStatus.UNKNOWN and evaluation.value is None


def test_inactive_kpis_are_not_evaluated_and_another_companys_kpis_are_left_alone(company, other_company):
    # given an active and an inactive KPI of ours, and an active KPI of the other company, all with data
    active = KPIDefinitionFactory(company=company, key="revenue")
    inactive = KPIDefinitionFactory(company=company, key="revenue-old", is_active=False)
    theirs = KPIDefinitionFactory(company=other_company, key="revenue")
    MetricSnapshotFactory(company=company, at=NOW)
    MetricSnapshotFactory(company=other_company, at=NOW)

    # when
    evaluations = kpis_evaluate(company=company, now=NOW)

    # then only the active KPI of ours has an evaluation
    assert [e.kpi_id for e in evaluations] == [active.pk]
    assert not KPIEvaluation.objects.filter(kpi__in=[inactive, theirs]).exists()
    inactive.refresh_from_db()
    assert inactive.last_evaluation is None


def test_each_kpi_reads_the_latest_value_of_its_own_metric(company, other_company):
    # given two platform metrics and two pushed metrics, the other metric of each pair more recent
    KPIDefinitionFactory(company=company, key="revenue", metric="revenue.gross")
    KPIDefinitionFactory(company=company, key="orders", metric="orders.count")
    KPIDefinitionFactory(company=company, key="sessions", metric="analytics.sessions", freshness_minutes=2880)
    KPIDefinitionFactory(company=company, key="bounces", metric="analytics.bounces", freshness_minutes=2880)
    MetricSnapshotFactory(company=company, metric="revenue.gross", value=Decimal("90"), at=NOW - timedelta(minutes=10))
    MetricSnapshotFactory(company=company, metric="orders.count", value=Decimal("5"), at=NOW - timedelta(minutes=1))
    MetricSnapshotFactory(company=company, metric="analytics.sessions", window_days=1, source="ga",
                          value=Decimal("50"), at=NOW - timedelta(hours=3))
    MetricSnapshotFactory(company=company, metric="analytics.bounces", window_days=1, source="ga",
                          value=Decimal("900"), at=NOW - timedelta(hours=1))
    MetricSnapshotFactory(company=other_company, metric="revenue.gross", value=Decimal("1"), at=NOW)

    # when
    evaluations = kpis_evaluate(company=company, now=NOW)

    # then
    assert {e.kpi.key: e.value for e in evaluations} == {
        "bounces": Decimal("900"), "orders": Decimal("5"), "revenue": Decimal("90"), "sessions": Decimal("50")}


def test_platform_values_and_pushed_values_never_mix(company):
    # given a platform metric with a newer pushed value of the same name, and a pushed metric with a newer
    # platform-sourced row (left by an older version that computed it)
    KPIDefinitionFactory(company=company, key="revenue", metric="revenue.gross")
    KPIDefinitionFactory(company=company, key="sessions", metric="analytics.sessions", freshness_minutes=2880)
    MetricSnapshotFactory(company=company, metric="revenue.gross", value=Decimal("90"), at=NOW - timedelta(minutes=10))
    MetricSnapshotFactory(company=company, metric="revenue.gross", source="ga", value=Decimal("500"),
                          at=NOW - timedelta(minutes=1))
    MetricSnapshotFactory(company=company, metric="analytics.sessions", window_days=1, source="ga",
                          value=Decimal("50"), at=NOW - timedelta(hours=3))
    MetricSnapshotFactory(company=company, metric="analytics.sessions", window_days=1, value=Decimal("900"),
                          at=NOW - timedelta(minutes=1))

    # when
    evaluations = kpis_evaluate(company=company, now=NOW)

    # then the platform metric reads only the platform's value, the pushed metric only pushed values
    assert {e.kpi.key: e.value for e in evaluations} == {"revenue": Decimal("90"), "sessions": Decimal("50")}


def test_an_evaluation_records_the_direction_and_window_it_was_judged_by(company, other_company):
    # given a "lower is better" 30-day KPI of ours at 9 (warning above 8), and the other company's KPI with data
    KPIDefinitionFactory(company=company, key="refunds", direction=KPIDefinition.Direction.DOWN, window_days=30,
                         target=Decimal("5"), warning_threshold=Decimal("8"), critical_threshold=Decimal("12"))
    MetricSnapshotFactory(company=company, window_days=30, value=Decimal("9"), at=NOW - timedelta(minutes=5))
    KPIDefinitionFactory(company=other_company, key="refunds")
    MetricSnapshotFactory(company=other_company, window_days=7, value=Decimal("1"), at=NOW)

    # when (a "now" with microseconds: evaluations are stamped to the second)
    [evaluation] = kpis_evaluate(company=company, now=NOW.replace(microsecond=123))

    # then
    stored = KPIEvaluation.objects.get(pk=evaluation.pk)
    assert (stored.company_id, stored.direction, stored.window_days, stored.status, stored.evaluated_at) == (
        company.pk, "down", 30, WARNING, NOW)
    assert stored.reason == "9 is above the warning threshold 8"
