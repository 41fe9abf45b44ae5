"""Loading the KPI playbook (configs/kpis.yml) per company, and KPI edits from the admin.

Loading is all-or-nothing: every problem is collected with its file, line and
reason, and a file with any problem changes nothing.
"""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml
from django.conf import settings
from django.db import transaction

from autonomax.errors import AppError
from autonomax.services import config_change_record, model_changes
from kpis import registry
from kpis.models import ExternalMetric, KPIDefinition

KPI_FIELDS = ["label", "unit", "metric", "direction", "target", "warning_threshold", "critical_threshold",
              "window_days", "freshness_minutes", "is_active"]
KNOWN_KEYS = {"key", "label", "unit", "metric", "direction", "target", "warning", "critical", "window", "freshness"}
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
METRIC_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
DURATION_RE = re.compile(r"^(\d+)\s*([mhd])$")
MAX_VALUE = Decimal("99999999999999")  # fits DecimalField(max_digits=18, decimal_places=4)


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class KPIConfigError(AppError):
    """A kpis.yml that cannot be loaded; `problems` lists every file/line/reason."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__(
            "; ".join(str(p) for p in problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""),
            code="invalid_config",
            details={"problems": [{"file": p.file, "line": p.line, "reason": p.reason} for p in problems]},
        )


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping and of each of its keys."""

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        mapping["__lines__"] = {k.value: k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")}
        return mapping


@dataclass
class KPISpec:
    key: str
    label: str
    unit: str
    metric: str
    direction: str
    target: Decimal
    warning_threshold: Decimal
    critical_threshold: Decimal
    window_days: int
    freshness_minutes: int
    is_active: bool = True


def default_config_path() -> Path:
    return Path(settings.AUTONOMAX_CONFIG_DIR) / "kpis.yml"


def _decimal(value) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and abs(number) <= MAX_VALUE else None


def _duration_minutes(value, *, unit_default: str) -> int | None:
    """`7d`, `90m`, `2h` or a bare positive integer in `unit_default`, as minutes."""
    factor = {"m": 1, "h": 60, "d": 1440}
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        amount, unit = value, unit_default
    elif isinstance(value, str) and (match := DURATION_RE.match(value.strip())):
        amount, unit = int(match.group(1)), match.group(2)
    else:
        return None
    return amount * factor[unit] if amount > 0 else None


def kpi_config_parse(*, text: str, file: str, external_metrics: set[str] | None = None
                     ) -> tuple[list[KPISpec], list[dict]]:
    """Parse and validate a kpis.yml text: (KPI specs, external metric declarations), or raise KPIConfigError."""
    problems: list[ConfigProblem] = []

    def problem(line, reason):
        problems.append(ConfigProblem(file=file, line=line, reason=reason))

    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise KPIConfigError([ConfigProblem(file=file, line=(mark.line + 1) if mark else 1,
                                            reason=f"invalid YAML: {getattr(exc, 'problem', None) or exc}")]) from exc
    if not isinstance(data, dict) or not isinstance(data.get("kpis"), list):
        raise KPIConfigError([ConfigProblem(file=file, line=1, reason="expected a mapping with a `kpis:` list")])

    externals = []
    declared = set(external_metrics or ())
    for item in data.get("external_metrics") or []:
        line = item.get("__line__", 1) if isinstance(item, dict) else data["__lines__"].get("external_metrics", 1)
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not METRIC_RE.match(name):
            problem(line, f"external metric name {name!r} must look like `source.name` (lowercase, dotted)")
        elif registry.is_registered(name):
            problem(line, f"external metric {name!r} is a platform metric; pick another name")
        else:
            declared.add(name)
            externals.append({"name": name, "label": str(item.get("label", "")) if isinstance(item, dict) else ""})

    specs, seen = [], {}
    for item in data["kpis"]:
        if not isinstance(item, dict):
            problem(data["__lines__"].get("kpis", 1), "each KPI must be a mapping")
            continue
        lines, line = item["__lines__"], item["__line__"]
        before = len(problems)
        for unknown in sorted(set(lines) - KNOWN_KEYS):
            problem(lines[unknown], f"unknown field {unknown!r}")
        key = item.get("key")
        if not isinstance(key, str) or not KEY_RE.match(key):
            problem(lines.get("key", line), f"key {key!r} must be lowercase letters, digits, _ or -")
        elif key in seen:
            problem(lines["key"], f"duplicate key {key!r} (first at line {seen[key]})")
        else:
            seen[key] = lines["key"]
        label = item.get("label")
        if not isinstance(label, str) or not label.strip() or len(label) > 200:
            problem(lines.get("label", line), "label is required (text, at most 200 characters)")
        unit = item.get("unit", "")
        if not isinstance(unit, str) or len(unit) > 16:
            problem(lines.get("unit", line), "unit must be text of at most 16 characters")
        metric = item.get("metric")
        if not isinstance(metric, str) or not (registry.is_registered(metric) or metric in declared):
            problem(lines.get("metric", line), f"unknown metric {metric!r}; known: platform metrics "
                    f"({', '.join(registry.metric_names())}) or external_metrics of this file")
        direction = item.get("direction")
        if direction not in KPIDefinition.Direction.values:
            problem(lines.get("direction", line), f"direction must be `up` or `down`, not {direction!r}")
        target = _decimal(item.get("target"))
        if target is None:
            problem(lines.get("target", line), f"target must be a number, not {item.get('target')!r}")
        thresholds = {}
        for name in ("warning", "critical"):
            if name in item:
                thresholds[name] = _decimal(item[name])
                if thresholds[name] is None:
                    problem(lines[name], f"{name} must be a number, not {item[name]!r}")
        window = _duration_minutes(item.get("window", "7d"), unit_default="d")
        if window is None or window % 1440 or window // 1440 > 365:
            problem(lines.get("window", line), f"window must be whole days between 1d and 365d, "
                                               f"not {item.get('window')!r}")
        freshness = _duration_minutes(item.get("freshness", "60m"), unit_default="m")
        if freshness is None:
            problem(lines.get("freshness", line), f"freshness must be a duration like 90m, 2h or 1d, "
                                                  f"not {item.get('freshness')!r}")
        if len(problems) > before:
            continue
        up = direction == KPIDefinition.Direction.UP
        # Defaults: `up` warns below 100% of target, critical below 80%; `down` mirrors at 120%.
        warning = thresholds.get("warning", target)
        critical = thresholds.get("critical", target * (Decimal("0.8") if up else Decimal("1.2")))
        if (up and critical > warning) or (not up and critical < warning):
            problem(lines.get("critical", lines.get("warning", line)),
                    f"thresholds inverted: for direction `{direction}` critical ({critical}) must be "
                    f"{'at or below' if up else 'at or above'} warning ({warning})")
            continue
        specs.append(KPISpec(key=key, label=label.strip(), unit=unit, metric=metric, direction=direction,
                             target=target, warning_threshold=warning.quantize(registry.QUANTUM),
                             critical_threshold=critical.quantize(registry.QUANTUM),
                             window_days=window // 1440, freshness_minutes=freshness))
    if problems:
        raise KPIConfigError(problems)
    return specs, externals


def kpis_load_config(*, company, path=None, actor=None, reason: str = "") -> list[KPIDefinition]:
    """Load kpis.yml for `company`: create/update its KPIs, deactivate those no longer in
    the file, record each change in the change log. All or nothing."""
    path = Path(path) if path else default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KPIConfigError([ConfigProblem(file=str(path), line=1, reason=f"cannot read: {exc.strerror}")]) from exc
    specs, externals = kpi_config_parse(text=text, file=str(path))
    return kpis_apply(company=company, specs=specs, externals=externals, actor=actor,
                      reason=reason or f"loaded from {path.name}")


def kpis_apply(*, company, specs: list[KPISpec], externals: list[dict], actor=None, actor_label: str = "",
               reason: str) -> list[KPIDefinition]:
    """Write parsed KPI specs for `company` (see kpi_config_parse): create/update, deactivate the ones gone."""
    actor_label = "" if getattr(actor, "is_authenticated", False) else (actor_label or "load_kpis")
    with transaction.atomic():
        existing = {k.key: k for k in KPIDefinition.objects.select_for_update().filter(company=company)}
        for spec in specs:
            kpi = existing.pop(spec.key, None) or KPIDefinition(company=company, key=spec.key)
            for field in KPI_FIELDS:
                setattr(kpi, field, getattr(spec, field))
            _save_with_log(kpi=kpi, actor=actor, actor_label=actor_label, reason=reason)
        for kpi in existing.values():
            if kpi.is_active:
                kpi.is_active = False
                _save_with_log(kpi=kpi, actor=actor, actor_label=actor_label, reason=reason)
        names = [e["name"] for e in externals]
        ExternalMetric.objects.filter(company=company).exclude(name__in=names).delete()
        for external in externals:
            ExternalMetric.objects.update_or_create(company=company, name=external["name"],
                                                    defaults={"label": external["label"]})
    return list(KPIDefinition.objects.filter(company=company, is_active=True))


def _save_with_log(*, kpi: KPIDefinition, actor, actor_label: str, reason: str, expected_effect: str = "") -> None:
    changes = model_changes(kpi, ["key", *KPI_FIELDS])
    if kpi.pk is not None and not changes:
        return
    kpi.save()
    config_change_record(company=kpi.company, actor=actor, actor_label=actor_label, object_type="kpi",
                         object_id=kpi.key, changes=changes, reason=reason, expected_effect=expected_effect)


def kpi_definition_validate(*, company, metric: str, direction: str, warning: Decimal, critical: Decimal) -> None:
    """The rules a KPI edited by hand must keep: a known metric and thresholds in order."""
    if direction == KPIDefinition.Direction.UP and critical > warning:
        raise AppError("For direction `up` the critical threshold must be at or below the warning threshold.",
                       code="thresholds_inverted")
    if direction == KPIDefinition.Direction.DOWN and critical < warning:
        raise AppError("For direction `down` the critical threshold must be at or above the warning threshold.",
                       code="thresholds_inverted")
    if not registry.is_registered(metric) and not ExternalMetric.objects.filter(company=company, name=metric).exists():
        raise AppError(f"Unknown metric {metric!r}: a platform metric or an external metric declared in kpis.yml.",
                       code="unknown_metric")


def kpi_definition_save(*, kpi: KPIDefinition, actor=None, reason: str = "", expected_effect: str = ""
                        ) -> KPIDefinition:
    """Save a KPI edited by a person (the admin), with its change-log entry."""
    kpi_definition_validate(company=kpi.company, metric=kpi.metric, direction=kpi.direction,
                            warning=kpi.warning_threshold, critical=kpi.critical_threshold)
    with transaction.atomic():
        _save_with_log(kpi=kpi, actor=actor, actor_label="" if actor else "admin", reason=reason or "edited in admin",
                       expected_effect=expected_effect)
    return kpi


def _plain(number: Decimal):
    number = Decimal(number).normalize()
    return int(number) if number == number.to_integral() else float(number)


def kpis_export(*, company) -> str:
    """The company's active KPIs (and declared external metrics) as a kpis.yml text that loads back."""
    externals = [{"name": e.name, "label": e.label} for e in ExternalMetric.objects.filter(company=company)
                 .order_by("name")]
    kpis = [{"key": k.key, "label": k.label, "unit": k.unit, "metric": k.metric, "direction": k.direction,
             "target": _plain(k.target), "warning": _plain(k.warning_threshold),
             "critical": _plain(k.critical_threshold), "window": f"{k.window_days}d",
             "freshness": f"{k.freshness_minutes}m"}
            for k in KPIDefinition.objects.filter(company=company, is_active=True).order_by("key")]
    return yaml.safe_dump({**({"external_metrics": externals} if externals else {}), "kpis": kpis},
                          sort_keys=False, allow_unicode=True, default_flow_style=False)
