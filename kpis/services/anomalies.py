"""Anomaly detection over each metric's daily series: a robust z-score (median / MAD).

A spike or drop is flagged even when the KPI sits inside its thresholds. Each of
the last SHOWN_DAYS daily points is scored against the TRAILING_DAYS before it.
"""

import statistics
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction

from kpis.models import KPIDefinition, MetricAnomaly, MetricSnapshot

from .alerts import anomaly_alerts_raise
from .ingest import DAILY_HISTORY_DAYS, PLATFORM, daily_point_ends

TRAILING_DAYS = 28
SHOWN_DAYS = 30
MIN_POINTS = 14  # fewer trailing points than this: too little history to judge
Z_THRESHOLD = Decimal("3.5")
# MAD * 1.4826 estimates the standard deviation of normal data; the mean absolute
# deviation * 1.2533 is the fallback when more than half the points are equal.
MAD_SCALE = 1.4826
MEAN_AD_SCALE = 1.2533
# Metrics of this family are revenue: a new anomaly in one alerts the owners, whatever its direction.
REVENUE_METRIC_PREFIX = "revenue."


def anomaly_score(*, value: float, trailing: list[float]) -> tuple[float, float, float, float] | None:
    """(robust z-score, median, MAD, scale) of `value` against `trailing`, or None when it cannot be judged
    (scale: the spread one z-score unit stands for)."""
    if len(trailing) < MIN_POINTS:
        return None
    median = statistics.median(trailing)
    mad = statistics.median(abs(x - median) for x in trailing)
    scale = mad * MAD_SCALE
    if scale == 0:
        scale = statistics.fmean(abs(x - median) for x in trailing) * MEAN_AD_SCALE
    if scale == 0:
        return None  # a flat series: any deviation would score infinite; not a useful alarm
    return (value - median) / scale, median, mad, scale


def series_anomalies(*, points: list[tuple[datetime, float]], since: datetime) -> list[dict]:
    """Flagged points at or after `since` of a daily series (oldest first, gaps allowed)."""
    flagged = []
    for index, (at, value) in enumerate(points):
        if at < since:
            continue
        window_start = at - timedelta(days=TRAILING_DAYS)
        trailing = [v for t, v in points[:index] if t >= window_start]
        scored = anomaly_score(value=value, trailing=trailing)
        if scored is None:
            continue
        z, median, mad, scale = scored
        # Within the range of the trailing days is never an anomaly: it keeps sparse series
        # (mostly zeros, e.g. daily refunds) from flagging every ordinary non-zero day.
        inside = min(trailing) <= value <= max(trailing)
        if abs(Decimal(str(z))) >= Z_THRESHOLD and not inside:
            # What would not have been flagged: inside the trailing range or within the threshold of the median
            # (never below zero for a series that never was: counts, amounts and rates).
            reach = float(Z_THRESHOLD) * scale
            low = min(min(trailing), median - reach)
            flagged.append({"at": at, "value": value, "baseline": median, "mad": mad, "score": z,
                            "expected_low": max(low, 0.0) if min(trailing) >= 0 else low,
                            "expected_high": max(max(trailing), median + reach),
                            "kind": MetricAnomaly.Kind.SPIKE if z > 0 else MetricAnomaly.Kind.DROP})
    return flagged


@transaction.atomic
def anomalies_detect(*, company, now: datetime) -> list[MetricAnomaly]:
    """Score the daily series of every metric and store the flagged points (3 queries).

    A point flagged again keeps its row (and so whether a cycle already took it up and its alert); a
    point that lost its flag (its day was recomputed) loses its row."""
    day_ends = daily_point_ends(now=now, days=DAILY_HISTORY_DAYS)
    series: dict[str, list[tuple[datetime, float]]] = {}
    for metric, at, value in (
        MetricSnapshot.objects.filter(company=company, source=PLATFORM, window_days=1, at__in=day_ends)
        .order_by("metric", "at").values_list("metric", "at", "value")
    ):
        series.setdefault(metric, []).append((at, float(value)))
    shown_from = day_ends[-SHOWN_DAYS]
    rows = [
        MetricAnomaly(company=company, metric=metric, at=item["at"], value=_dec(item["value"]),
                      baseline=_dec(item["baseline"]), mad=_dec(item["mad"]),
                      score=Decimal(str(round(item["score"], 2))), kind=item["kind"],
                      expected_low=_dec(item["expected_low"]), expected_high=_dec(item["expected_high"]),
                      detected_at=now)
        for metric, points in series.items()
        for item in series_anomalies(points=points, since=shown_from)
    ]
    stale = MetricAnomaly.objects.filter(company=company, at__gte=shown_from, at__lte=day_ends[-1])
    for metric in {row.metric for row in rows}:
        stale = stale.exclude(metric=metric, at__in=[row.at for row in rows if row.metric == metric])
    stale.delete()
    return MetricAnomaly.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["company", "metric", "at"],
        update_fields=["value", "baseline", "mad", "score", "kind", "expected_low", "expected_high", "detected_at"])


def _dec(value: float) -> Decimal:
    return Decimal(str(round(value, 4)))


@transaction.atomic
def anomalies_notice(*, company, anomalies: list[dict], now: datetime, send_alerts: bool = True) -> list[dict]:
    """Take up new anomalies (kpis.selectors.anomalies_new's rows) once: mark them noticed and alert on the
    revenue ones (unless `send_alerts` is off, for dry runs). Returns the ones taken up by this call; an
    anomaly another call already took is left out, so nothing is proposed or alerted twice."""
    ids = list(MetricAnomaly.objects.select_for_update().filter(
        company=company, pk__in=[a["id"] for a in anomalies], noticed_at__isnull=True)
        .order_by("pk").values_list("pk", flat=True))
    if not ids:
        return []
    MetricAnomaly.objects.filter(pk__in=ids).update(noticed_at=now)
    taken = [a for a in anomalies if a["id"] in set(ids)]
    if send_alerts:
        keys = {k["key"] for a in taken if a["revenue"] for k in a["kpis"]}
        kpis = {kpi.key: kpi for kpi in KPIDefinition.objects.filter(company=company, key__in=keys)}
        anomaly_alerts_raise(company=company, anomalies=taken, kpis=kpis, now=now)
    return taken
