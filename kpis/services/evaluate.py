"""EVALUATE_KPIS: compare each KPI's latest value with its target and thresholds."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from kpis import registry
from kpis.models import KPIDefinition, KPIEvaluation, KPIStatus, MetricSnapshot

from .ingest import PLATFORM


def num(value: Decimal) -> str:
    """A number for people: 4 decimal places at most, no trailing zeros."""
    return f"{registry.to_decimal(value).normalize():f}"


@dataclass(frozen=True)
class Verdict:
    status: str
    reason: str


def kpi_status(*, direction: str, value: Decimal, warning: Decimal, critical: Decimal) -> Verdict:
    """The status rule. `up`: CRITICAL below `critical`, WARNING below `warning`, else OK.
    `down` mirrors it: CRITICAL above `critical`, WARNING above `warning`. A value equal
    to a threshold is on the good side of it."""
    if direction == KPIDefinition.Direction.UP:
        if value < critical:
            return Verdict(KPIStatus.CRITICAL, f"{num(value)} is below the critical threshold {num(critical)}")
        if value < warning:
            return Verdict(KPIStatus.WARNING, f"{num(value)} is below the warning threshold {num(warning)}")
        return Verdict(KPIStatus.OK, f"{num(value)} is at or above {num(warning)}")
    if value > critical:
        return Verdict(KPIStatus.CRITICAL, f"{num(value)} is above the critical threshold {num(critical)}")
    if value > warning:
        return Verdict(KPIStatus.WARNING, f"{num(value)} is above the warning threshold {num(warning)}")
    return Verdict(KPIStatus.OK, f"{num(value)} is at or below {num(warning)}")


def _latest(queryset, field: str):
    return Subquery(queryset.order_by("-at", "-computed_at").values(field)[:1])


def _kpis_with_latest_values(*, company):
    """Active KPIs, locked, each with its latest platform and external snapshot: one query."""
    platform = MetricSnapshot.objects.filter(
        company=OuterRef("company"), metric=OuterRef("metric"), window_days=OuterRef("window_days"), source=PLATFORM
    )
    external = MetricSnapshot.objects.filter(company=OuterRef("company"), metric=OuterRef("metric")).exclude(
        source=PLATFORM
    )
    return (
        KPIDefinition.objects.filter(company=company, is_active=True)
        .select_related("last_evaluation")
        .select_for_update(of=("self",))
        .annotate(
            platform_value=_latest(platform, "value"), platform_at=_latest(platform, "at"),
            external_value=_latest(external, "value"), external_at=_latest(external, "at"),
        )
        .order_by("key")
    )


def kpi_evaluate_one(*, kpi: KPIDefinition, value: Decimal | None, at: datetime | None, now: datetime) -> Verdict:
    if value is None or at is None:
        return Verdict(KPIStatus.UNKNOWN, f"no data for metric {kpi.metric}")
    age = now - at
    if age > timedelta(minutes=kpi.freshness_minutes):
        return Verdict(
            KPIStatus.UNKNOWN,
            f"stale: latest {kpi.metric} is from {at:%Y-%m-%d %H:%M} UTC, "
            f"{int(age.total_seconds() // 60)} min old (freshness {kpi.freshness_minutes} min)",
        )
    return kpi_status(direction=kpi.direction, value=value, warning=kpi.warning_threshold,
                      critical=kpi.critical_threshold)


def kpis_evaluate(*, company, now: datetime | None = None, send_alerts: bool = True) -> list[KPIEvaluation]:
    """Evaluate every active KPI of `company`, store each evaluation with its numbers, and
    open/resolve alerts on transitions into and out of CRITICAL (unless `send_alerts` is off,
    for dry runs). The query count does not depend on the number of KPIs or rows."""
    from .alerts import alerts_raise  # noqa: PLC0415 - sibling module, avoids an import cycle

    now = (now or timezone.now()).replace(microsecond=0)
    with transaction.atomic():
        kpis = list(_kpis_with_latest_values(company=company))
        evaluations = []
        for kpi in kpis:
            if registry.is_registered(kpi.metric):
                value, at = kpi.platform_value, kpi.platform_at
            else:
                value, at = kpi.external_value, kpi.external_at
            value = registry.to_decimal(value)
            verdict = kpi_evaluate_one(kpi=kpi, value=value, at=at, now=now)
            evaluations.append(KPIEvaluation(
                company=company, kpi=kpi, status=verdict.status, value=value, target=kpi.target,
                warning_threshold=kpi.warning_threshold, critical_threshold=kpi.critical_threshold,
                direction=kpi.direction, metric=kpi.metric, window_days=kpi.window_days, snapshot_at=at,
                reason=verdict.reason[:300], evaluated_at=now,
            ))
        evaluations = KPIEvaluation.objects.bulk_create(evaluations)
        if send_alerts:
            alerts_raise(company=company, kpis=kpis, evaluations=evaluations, now=now)
        for kpi, evaluation in zip(kpis, evaluations, strict=True):
            kpi.last_evaluation = evaluation
        if kpis:
            KPIDefinition.objects.bulk_update(kpis, ["last_evaluation", "alert_open"])
    return evaluations
