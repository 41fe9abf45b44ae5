"""Reads of the KPI engine: current state for the commander, card data for the board and the API."""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from . import registry
from .models import Alert, KPIDefinition, KPIEvaluation, KPIStatus, MetricAnomaly, MetricSnapshot
from .services.anomalies import REVENUE_METRIC_PREFIX, TRAILING_DAYS
from .services.evaluate import num
from .services.ingest import DAILY_REFRESH_DAYS, PLATFORM, daily_point_ends, day_start

SPARKLINE_DAYS = 30
TREND_DAYS = 7
FLAT_TREND = Decimal("0.02")  # moves under 2% are "flat"


def _current(kpi: KPIDefinition) -> dict:
    evaluation = kpi.last_evaluation
    return {
        "key": kpi.key, "label": kpi.label, "unit": kpi.unit, "metric": kpi.metric, "direction": kpi.direction,
        "status": evaluation.status if evaluation else KPIStatus.UNKNOWN,
        "value": evaluation.value if evaluation else None,
        "target": kpi.target, "warning": kpi.warning_threshold, "critical": kpi.critical_threshold,
        "reason": evaluation.reason if evaluation else "not evaluated yet",
        "evaluated_at": evaluation.evaluated_at if evaluation else None,
        "window_days": kpi.window_days,
    }


def kpi_current(*, company) -> dict[str, dict]:
    """Each active KPI's latest evaluation, by key (one query)."""
    kpis = KPIDefinition.objects.filter(company=company, is_active=True).select_related("last_evaluation")
    return {kpi.key: _current(kpi) for kpi in kpis}


def _harmful(*, direction: str, kind: str) -> bool:
    """A drop of a KPI where higher is better, or a spike where lower is better."""
    return (kind == MetricAnomaly.Kind.DROP) == (direction == KPIDefinition.Direction.UP)


def anomaly_sentence(*, anomaly: MetricAnomaly, kpis: list[dict]) -> str:
    """The anomaly in plain words: which KPI, the day, its value, what was expected."""
    unit = next((f" {k['unit']}" for k in kpis if k["unit"]), "")
    names = ", ".join(f"{k['label']} ({k['key']})" for k in kpis)
    day = (anomaly.at - timedelta(seconds=1)).date().isoformat()
    return (f"{names}: on {day} the daily {anomaly.metric} was {num(anomaly.value)}{unit}, a "
            f"{anomaly.get_kind_display().lower()} outside the expected range {num(anomaly.expected_low)} to "
            f"{num(anomaly.expected_high)}{unit} (median of the {TRAILING_DAYS} days before: {num(anomaly.baseline)})")


def anomalies_new(*, company, now=None) -> list[dict]:
    """Anomalies of the last DAILY_REFRESH_DAYS completed days on an active KPI's metric that no cycle has
    taken up yet, oldest first (2 queries). Older flags (a first backfill's) are history, not news.

    Each: id, metric, day, value, expected_low/high, baseline, kind, `revenue` (a revenue.* metric: alerts),
    `kpis` [{key, label, unit, direction, harmful}] (harmful: the move is in the KPI's bad direction), text.
    """
    day_ends = daily_point_ends(now=now or timezone.now(), days=DAILY_REFRESH_DAYS)
    by_metric: dict[str, list[dict]] = {}
    for kpi in (KPIDefinition.objects.filter(company=company, is_active=True).order_by("window_days", "key")
                .values("key", "label", "unit", "metric", "direction")):
        by_metric.setdefault(kpi["metric"], []).append(kpi)
    rows = []
    for anomaly in MetricAnomaly.objects.filter(company=company, noticed_at__isnull=True, metric__in=by_metric,
                                                at__gte=day_ends[0], at__lte=day_ends[-1]).order_by("at", "metric"):
        kpis = [{**k, "harmful": _harmful(direction=k["direction"], kind=anomaly.kind)}
                for k in by_metric[anomaly.metric]]
        rows.append({"id": anomaly.pk, "metric": anomaly.metric, "at": anomaly.at,
                     "day": (anomaly.at - timedelta(seconds=1)).date().isoformat(),
                     "value": anomaly.value, "expected_low": anomaly.expected_low,
                     "expected_high": anomaly.expected_high, "baseline": anomaly.baseline, "kind": anomaly.kind,
                     "revenue": anomaly.metric.startswith(REVENUE_METRIC_PREFIX), "kpis": kpis,
                     "text": anomaly_sentence(anomaly=anomaly, kpis=kpis)})
    return rows


def _trend(points: list[dict]) -> dict:
    """Mean of the last TREND_DAYS daily points against the TREND_DAYS before them."""
    values = [p["value"] for p in points]
    recent, before = values[-TREND_DAYS:], values[-2 * TREND_DAYS:-TREND_DAYS]
    if len(recent) < 2 or not before:
        return {"direction": None, "change": None}
    now, then = sum(recent) / len(recent), sum(before) / len(before)
    if then == 0:
        return {"direction": "up" if now > 0 else "flat", "change": None}
    change = ((now - then) / abs(then)).quantize(Decimal("0.001"))
    direction = "flat" if abs(change) < FLAT_TREND else ("up" if change > 0 else "down")
    return {"direction": direction, "change": change}


def kpi_board(*, company, now=None) -> list[dict]:
    """Card data per active KPI: current state, 30-day daily series with anomaly marks, trend (3 queries)."""
    now = now or timezone.now()
    current = kpi_current(company=company)
    metrics = {card["metric"] for card in current.values()}
    day_ends = daily_point_ends(now=now, days=SPARKLINE_DAYS)
    platform = [m for m in metrics if registry.is_registered(m)]
    external = [m for m in metrics if not registry.is_registered(m)]
    series: dict[str, dict] = {}
    for metric, at, value in (
        MetricSnapshot.objects.filter(company=company)
        .filter(Q(metric__in=platform, source=PLATFORM, window_days=1, at__in=day_ends)
                | Q(metric__in=external, at__gt=day_ends[0] - timedelta(days=1), at__lte=now))
        .order_by("metric", "at", "computed_at").values_list("metric", "at", "value")
    ):
        # External metrics may have several points a day: the last one stands for the day (keyed by its end).
        series.setdefault(metric, {})[at if metric in platform else day_start(at) + timedelta(days=1)] = value
    anomalies = {
        (a.metric, a.at): a for a in MetricAnomaly.objects.filter(
            company=company, metric__in=platform, at__gte=day_ends[0], at__lte=day_ends[-1])
    }
    cards = []
    for card in current.values():
        points = [
            {"at": at, "value": value, "anomaly": (anomaly.kind if (anomaly := anomalies.get((card["metric"], at)))
                                                   else None)}
            for at, value in sorted(series.get(card["metric"], {}).items())
        ]
        cards.append({**card, "points": points, "trend": _trend(points),
                      "anomalies": sum(1 for p in points if p["anomaly"])})
    return cards


def kpi_detail(*, company, key: str, days: int = 60) -> dict | None:
    """One KPI: its card, its metric's daily series over `days` with anomaly marks, recent
    evaluations and its alerts with their deliveries."""
    kpi = KPIDefinition.objects.filter(company=company, key=key).select_related("last_evaluation").first()
    if kpi is None:
        return None
    since = timezone.now() - timedelta(days=days)
    marks = {a.at: a for a in MetricAnomaly.objects.filter(company=company, metric=kpi.metric, at__gte=since)}
    daily = [
        {"at": p["at"], "value": p["value"], "anomaly": marks[p["at"]].kind if p["at"] in marks else None}
        for p in MetricSnapshot.objects.filter(company=company, metric=kpi.metric, source=PLATFORM, window_days=1,
                                               at__in=daily_point_ends(now=timezone.now(), days=days))
        .order_by("at").values("at", "value")
    ]
    evaluations = list(KPIEvaluation.objects.filter(kpi=kpi).order_by("-evaluated_at", "-id")[:50])
    current = _current(kpi)
    return {
        "kpi": current,
        "daily": daily,
        "chart": _chart(kpi=current, daily=daily, evaluations=evaluations, company=company, since=since),
        "anomalies": sorted(marks.values(), key=lambda a: a.at, reverse=True),
        "evaluations": evaluations,
        "alerts": list(Alert.objects.filter(kpi=kpi).select_related("evaluation")
                       .prefetch_related("deliveries").order_by("-created_at", "-id")[:50]),
    }


def _number(value) -> float | None:
    return None if value is None else float(value)


def _chart(*, kpi: dict, daily: list[dict], evaluations: list, company, since) -> dict:
    """What the KPI page's charts draw (JSON for the vendored Chart.js): the daily series with anomaly
    points and the markers other apps register (where missions ran, with what they measured); and the
    KPI's own windowed value at each evaluation against its target and warning/critical thresholds."""
    days = [p["at"] for p in daily]
    markers = []
    for marker in registry.markers_for(company=company, kpi_key=kpi["key"], since=since):
        # A marker sits on the first daily point at or after it (daily points are day ends).
        index = next((i for i, at in enumerate(days) if at >= marker["at"]), None)
        if index is not None:
            markers.append({"index": index, "label": marker["label"]})
    return {
        "labels": [(at - timedelta(seconds=1)).strftime("%Y-%m-%d") for at in days],
        "values": [_number(p["value"]) for p in daily],
        "anomalies": [i for i, p in enumerate(daily) if p["anomaly"]],
        "markers": markers,
        "unit": kpi["unit"],
        "evaluations": {
            "labels": [e.evaluated_at.strftime("%Y-%m-%d %H:%M") for e in reversed(evaluations)],
            "values": [_number(e.value) for e in reversed(evaluations)],
        },
        "thresholds": {"target": _number(kpi["target"]), "warning": _number(kpi["warning"]),
                       "critical": _number(kpi["critical"])},
    }
