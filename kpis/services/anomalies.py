"""Anomaly detection over each metric's daily series: a robust z-score (median / MAD).

A spike or drop is flagged even when the KPI sits inside its thresholds. Each of
the last SHOWN_DAYS daily points is scored against the TRAILING_DAYS before it.
"""

import statistics
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction

from kpis.models import MetricAnomaly, MetricSnapshot

from .ingest import DAILY_HISTORY_DAYS, PLATFORM, daily_point_ends

TRAILING_DAYS = 28
SHOWN_DAYS = 30
MIN_POINTS = 14  # fewer trailing points than this: too little history to judge
Z_THRESHOLD = Decimal("3.5")
# MAD * 1.4826 estimates the standard deviation of normal data; the mean absolute
# deviation * 1.2533 is the fallback when more than half the points are equal.
MAD_SCALE = 1.4826
MEAN_AD_SCALE = 1.2533


def anomaly_score(*, value: float, trailing: list[float]) -> tuple[float, float, float] | None:
    """(robust z-score, median, MAD) of `value` against `trailing`, or None when it cannot be judged."""
    if len(trailing) < MIN_POINTS:
        return None
    median = statistics.median(trailing)
    mad = statistics.median(abs(x - median) for x in trailing)
    scale = mad * MAD_SCALE
    if scale == 0:
        scale = statistics.fmean(abs(x - median) for x in trailing) * MEAN_AD_SCALE
    if scale == 0:
        return None  # a flat series: any deviation would score infinite; not a useful alarm
    return (value - median) / scale, median, mad


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
        z, median, mad = scored
        # Within the range of the trailing days is never an anomaly: it keeps sparse series
        # (mostly zeros, e.g. daily refunds) from flagging every ordinary non-zero day.
        inside = min(trailing) <= value <= max(trailing)
        if abs(Decimal(str(z))) >= Z_THRESHOLD and not inside:
            flagged.append({"at": at, "value": value, "baseline": median, "mad": mad, "score": z,
                            "kind": MetricAnomaly.Kind.SPIKE if z > 0 else MetricAnomaly.Kind.DROP})
    return flagged


@transaction.atomic
def anomalies_detect(*, company, now: datetime) -> list[MetricAnomaly]:
    """Score the daily series of every metric and store the flagged points (3 queries)."""
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
                      score=Decimal(str(round(item["score"], 2))), kind=item["kind"], detected_at=now)
        for metric, points in series.items()
        for item in series_anomalies(points=points, since=shown_from)
    ]
    # Recomputed days can lose their flag: the stored set is replaced for the scored range.
    MetricAnomaly.objects.filter(company=company, at__gte=shown_from, at__lte=day_ends[-1]).delete()
    return MetricAnomaly.objects.bulk_create(rows)


def _dec(value: float) -> Decimal:
    return Decimal(str(round(value, 4)))
