"""The anomaly detector (robust z-score over the trailing 28 days) on synthetic series."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kpis.models import MetricAnomaly, MetricSnapshot
from kpis.selectors import kpi_board
from kpis.services import anomalies_detect, kpis_evaluate
from kpis.services.anomalies import series_anomalies

from .factories import KPIDefinitionFactory, MetricSnapshotFactory

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 3, 15, tzinfo=UTC)


def noisy_series(days=60, level=100.0, noise=5.0, seed=7):
    rng = random.Random(seed)
    return [(MIDNIGHT - timedelta(days=days - 1 - i), level + rng.gauss(0, noise)) for i in range(days)]


def test_a_planted_spike_is_flagged_and_nothing_else():
    # given 60 days of noise around 100 with a spike of 180 ten days ago
    points = noisy_series()
    spike_at = points[-10][0]
    points[-10] = (spike_at, 180.0)
    # when
    flagged = series_anomalies(points=points, since=MIDNIGHT - timedelta(days=29))
    # then
    assert [(f["at"], f["kind"]) for f in flagged] == [(spike_at, "spike")]
    assert flagged[0]["score"] > 3.5 and 95 < flagged[0]["baseline"] < 105


def test_a_planted_drop_inside_the_thresholds_is_flagged():
    # given a drop to 70: far from normal, though a KPI at 70 might still be inside its thresholds
    points = noisy_series(seed=11)
    points[-1] = (points[-1][0], 70.0)
    # when
    flagged = series_anomalies(points=points, since=MIDNIGHT - timedelta(days=29))
    # then
    assert [(f["at"], f["kind"]) for f in flagged] == [(MIDNIGHT, "drop")]


def test_short_or_flat_history_flags_nothing():
    # given only 10 days of history, and a perfectly flat series with one change
    short = noisy_series(days=10)
    short[-1] = (short[-1][0], 500.0)
    flat = [(MIDNIGHT - timedelta(days=59 - i), 3.0) for i in range(60)]
    flat[-1] = (MIDNIGHT, 4.0)
    # when / then
    assert series_anomalies(points=short, since=MIDNIGHT - timedelta(days=29)) == []
    assert series_anomalies(points=flat, since=MIDNIGHT - timedelta(days=29)) == []


def test_flagged_points_are_stored_and_marked_on_the_board(company):
    # given a stored daily series of revenue with a planted spike 3 days ago, and a KPI on it
    points = noisy_series()
    points[-3] = (points[-3][0], 260.0)
    for at, value in points:
        MetricSnapshotFactory(company=company, metric="revenue.gross", window_days=1, at=at,
                              value=Decimal(str(round(value, 4))))
    KPIDefinitionFactory(company=company, key="revenue")
    MetricSnapshotFactory(company=company, metric="revenue.gross", window_days=7, at=NOW, value=Decimal("700"))
    # when
    anomalies_detect(company=company, now=NOW)
    anomalies_detect(company=company, now=NOW)  # re-running replaces, never duplicates
    kpis_evaluate(company=company, now=NOW, send_alerts=False)
    # then
    stored = MetricAnomaly.objects.get(company=company)
    assert (stored.metric, stored.at, stored.kind, stored.value) == (
        "revenue.gross", points[-3][0], "spike", Decimal("260"))
    [card] = kpi_board(company=company, now=NOW)
    assert len(card["points"]) == 30 and card["anomalies"] == 1
    assert [p["at"] for p in card["points"] if p["anomaly"]] == [points[-3][0]]


def test_a_sparse_series_flags_only_what_leaves_its_usual_range():
    # given a mostly-zero daily refund rate with a few ordinary non-zero days, then one far beyond them
    points = [(MIDNIGHT - timedelta(days=59 - i), 0.3 if i % 6 == 0 else 0.0) for i in range(60)]
    points[-1] = (MIDNIGHT, 0.3)
    ordinary = series_anomalies(points=points, since=MIDNIGHT - timedelta(days=29))
    points[-1] = (MIDNIGHT, 2.5)
    # when
    extreme = series_anomalies(points=points, since=MIDNIGHT - timedelta(days=29))
    # then
    assert ordinary == []
    assert [(f["at"], f["kind"]) for f in extreme] == [(MIDNIGHT, "spike")]


def test_a_flag_says_what_was_expected():
    # given noise around 100 and a spike of 180
    points = noisy_series()
    points[-1] = (points[-1][0], 180.0)
    # when
    [flag] = series_anomalies(points=points, since=MIDNIGHT - timedelta(days=29))
    # then the range holds every trailing day, is wider than 3.5 robust deviations, and leaves 180 out
    trailing = [v for _, v in points[-29:-1]]
    assert flag["expected_low"] <= min(trailing) and max(trailing) <= flag["expected_high"] < 180
    assert flag["expected_high"] - flag["baseline"] >= 3.5 * flag["mad"] * 1.4826 - 1e-9
    # and a drop to zero of a series that was never negative does not expect negative values
    points[-1] = (points[-1][0], 0.0)
    [drop] = series_anomalies(points=points, since=MIDNIGHT - timedelta(days=29))
    assert drop["kind"] == "drop" and 0 <= drop["expected_low"] <= min(trailing)


def test_a_flag_found_again_keeps_its_row_and_one_that_is_gone_loses_it(company, other_company):
    # given a stored daily series with a spike yesterday, taken up by a cycle; the other company's flag too
    points = noisy_series()
    points[-1] = (points[-1][0], 260.0)
    for owner in (company, other_company):
        for at, value in points:
            MetricSnapshotFactory(company=owner, metric="revenue.gross", window_days=1, at=at,
                                  value=Decimal(str(round(value, 4))))
        anomalies_detect(company=owner, now=NOW)
    first = MetricAnomaly.objects.get(company=company)
    MetricAnomaly.objects.filter(pk=first.pk).update(noticed_at=NOW)
    # when detection runs again
    anomalies_detect(company=company, now=NOW + timedelta(minutes=15))
    # then the same row stands, still noticed, its detection time renewed
    again = MetricAnomaly.objects.get(company=company)
    assert (again.pk, again.noticed_at, again.detected_at) == (first.pk, NOW, NOW + timedelta(minutes=15))
    # when the day is recomputed to an ordinary value
    MetricSnapshot.objects.filter(company=company, at=points[-1][0], window_days=1).update(value=Decimal("100"))
    anomalies_detect(company=company, now=NOW + timedelta(minutes=30))
    # then its flag is gone, and the other company's stays
    assert not MetricAnomaly.objects.filter(company=company).exists()
    assert MetricAnomaly.objects.filter(company=other_company).count() == 1
