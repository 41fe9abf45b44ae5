"""INGEST_METRICS: compute every registered metric from the platform's tables and store snapshots."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from kpis import registry
from kpis.models import KPIDefinition, MetricSnapshot
from kpis.registry import Window

PLATFORM = "platform"
# Daily points kept fresh: 30 shown on the board + 28 trailing days for the anomaly detector.
DAILY_HISTORY_DAYS = 60
# The most recent completed days are recomputed every cycle (late orders, refunds, resolutions).
DAILY_REFRESH_DAYS = 2


def day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def daily_point_ends(*, now: datetime, days: int) -> list[datetime]:
    """End of each of the last `days` completed UTC days, oldest first."""
    today = day_start(now)
    return [today - timedelta(days=k) for k in range(days - 1, -1, -1)]


def metrics_compute(*, company, windows: list[Window]) -> list[dict]:
    """Every registered metric for each window: one query per family, derived metrics in Python."""
    results = [{} for _ in windows]
    for family in registry.families():
        for values, computed in zip(results, family.func(company=company, windows=windows), strict=True):
            values.update(computed)
    for item in registry.derived_in_order():
        for values in results:
            values[item.name] = item.func({name: values.get(name) for name in item.needs})
    return results


def metric_daily_series(*, company, metric: str, ends: list[datetime], now: datetime | None = None) -> list:
    """The metric's value per UTC day ending at each of `ends` (midnights): the daily points ingest stored
    (what the KPI board shows), and computed now for the days it has not stored or still refreshes. Two
    queries whatever the number of days, instead of one aggregate over every day."""
    now = (now or timezone.now()).replace(microsecond=0)
    fresh_from = daily_point_ends(now=now, days=DAILY_REFRESH_DAYS)[0]
    stored = dict(
        MetricSnapshot.objects.filter(company=company, source=PLATFORM, window_days=1, metric=metric,
                                      at__in=[e for e in ends if e < fresh_from]).values_list("at", "value")
    )
    missing = [e for e in ends if e not in stored]
    computed = metrics_compute(company=company, windows=[Window(start=e - timedelta(days=1), end=e)
                                                         for e in missing]) if missing else []
    stored.update({e: values.get(metric) for e, values in zip(missing, computed, strict=True)})
    return [stored[e] for e in ends]


def metrics_ingest(*, company, now: datetime | None = None) -> int:
    """Snapshot every metric over each active KPI window ending `now`, plus the daily series; returns the number
    of points written.

    Daily points (window 1 day, ending at UTC midnight) feed the sparklines and
    the anomaly detector; missing ones are backfilled, the latest two recomputed.
    The query count does not depend on the number of KPIs or rows.
    """
    from .anomalies import anomalies_detect  # noqa: PLC0415 - sibling module, avoids an import cycle

    now = (now or timezone.now()).replace(microsecond=0)
    window_days = set(
        KPIDefinition.objects.filter(company=company, is_active=True).values_list("window_days", flat=True)
    ) or {7}
    windows = [(d, Window(start=now - timedelta(days=d), end=now)) for d in sorted(window_days)]

    day_ends = daily_point_ends(now=now, days=DAILY_HISTORY_DAYS)
    stored = set(
        MetricSnapshot.objects.filter(company=company, source=PLATFORM, window_days=1, at__in=day_ends)
        .values_list("at", flat=True).distinct()
    )
    for end in day_ends:
        if end not in stored or end >= day_ends[-DAILY_REFRESH_DAYS]:
            windows.append((1, Window(start=end - timedelta(days=1), end=end)))

    values_per_window = metrics_compute(company=company, windows=[w for _, w in windows])
    points = [
        (name, days, value, window.end)
        for (days, window), values in zip(windows, values_per_window, strict=True)
        for name, value in sorted(values.items())
        if value is not None  # no data is not zero: no snapshot, the KPI reads UNKNOWN
    ]
    with transaction.atomic():
        snapshots_write(company=company, points=points)
        anomalies_detect(company=company, now=now)
    return len(points)


_UPSERT_FROM_ARRAYS = """
INSERT INTO {table} (company_id, metric, window_days, value, at, computed_at, source)
SELECT %s, metric, window_days, value, at, %s, %s
FROM unnest(%s::varchar[], %s::smallint[], %s::numeric[], %s::timestamptz[]) AS p(metric, window_days, value, at)
ON CONFLICT (company_id, metric, window_days, at, source)
DO UPDATE SET value = EXCLUDED.value, computed_at = EXCLUDED.computed_at
"""


def snapshots_write(*, company, points: list[tuple[str, int, Decimal, datetime]]) -> None:
    """Insert or update the platform's points `(metric, window_days, value, at)` in ONE statement.

    On PostgreSQL the points travel as four arrays through unnest(): a first cycle writes about 2,000 points,
    which bulk_create would prepare value by value (three times the time of the statement itself).
    """
    if connection.vendor == "postgresql":
        columns = list(zip(*points, strict=True)) or [[], [], [], []]
        with connection.cursor() as cursor:
            cursor.execute(_UPSERT_FROM_ARRAYS.format(table=MetricSnapshot._meta.db_table),
                           [company.pk, timezone.now(), PLATFORM, *(list(column) for column in columns)])
        return
    MetricSnapshot.objects.bulk_create(
        [MetricSnapshot(company=company, metric=metric, window_days=days, value=value, at=at, source=PLATFORM)
         for metric, days, value, at in points],
        update_conflicts=True, unique_fields=["company", "metric", "window_days", "at", "source"],
        update_fields=["value", "computed_at"],
    )
