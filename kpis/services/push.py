"""External metrics pushed through the API or imported from CSV (analytics, Fiverr, CRM exports).

Each row is validated on its own: the valid rows are stored, the others are
reported with their reasons. Idempotent on (company, metric, at, source): sending
the same rows again changes nothing.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from kpis import registry
from kpis.models import ExternalMetric, MetricSnapshot

from .ingest import PLATFORM

FUTURE_SKEW = timedelta(minutes=5)
MAX_VALUE = Decimal("99999999999999")


def _row_clean(row, *, known: set[str], now: datetime) -> tuple[dict | None, list[str]]:
    if not isinstance(row, dict):
        return None, ["row must be an object with metric, value, at, source"]
    errors = []
    metric = row.get("metric")
    if not isinstance(metric, str) or not metric:
        errors.append("metric is required")
    elif metric not in known:
        errors.append(f"unknown metric {metric!r}: declare it under external_metrics in kpis.yml")
    value = row.get("value")
    number = None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        errors.append(f"value must be a number, not {value!r}")
    else:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            errors.append(f"value must be a number, not {value!r}")
        else:
            if not number.is_finite() or abs(number) > MAX_VALUE:
                errors.append(f"value {value!r} is not a finite number within ±{MAX_VALUE}")
                number = None
    at = row.get("at")
    try:
        moment = parse_datetime(at.strip()) if isinstance(at, str) else None
    except ValueError:  # well-formed but impossible, e.g. February 30th or hour 25
        moment = None
    if moment is None:
        errors.append(f"at must be an ISO 8601 date-time, not {at!r}")
    else:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, UTC)
        if moment > now + FUTURE_SKEW:
            errors.append(f"at {at} is in the future (more than {int(FUTURE_SKEW.total_seconds() // 60)} min ahead)")
    source = row.get("source")
    if not isinstance(source, str) or not source.strip() or len(source) > 64 or not source.isprintable():
        errors.append("source is required (printable text, at most 64 characters)")
    elif source.strip() == PLATFORM:
        errors.append("source `platform` is reserved for metrics the platform computes")
    if errors:
        return None, errors
    return {"metric": metric, "value": number.quantize(registry.QUANTUM), "at": moment.replace(microsecond=0),
            "source": source.strip()}, []


def metrics_push(*, company, rows: list, now: datetime | None = None) -> dict:
    """Store the valid rows; return {"accepted", "rejected", "results": [{index, status, errors}]}."""
    now = now or timezone.now()
    known = set(ExternalMetric.objects.filter(company=company).values_list("name", flat=True))
    known |= set(registry.metric_names())
    results, clean = [], {}
    for index, row in enumerate(rows):
        cleaned, errors = _row_clean(row, known=known, now=now)
        if errors:
            results.append({"index": index, "status": "rejected", "errors": errors})
            continue
        # The last of duplicate rows in one batch wins, like sending them one by one.
        clean[(cleaned["metric"], cleaned["at"], cleaned["source"])] = cleaned
        results.append({"index": index, "status": "accepted", "errors": []})
    with transaction.atomic():
        MetricSnapshot.objects.bulk_create(
            [MetricSnapshot(company=company, window_days=1, **c) for c in clean.values()],
            update_conflicts=True, unique_fields=["company", "metric", "window_days", "at", "source"],
            update_fields=["value"],
        )
    accepted = sum(1 for r in results if r["status"] == "accepted")
    return {"accepted": accepted, "rejected": len(results) - accepted, "results": results}
