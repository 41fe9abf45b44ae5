"""Simulator scenario files (`configs/scenarios/*.yml`): the shop's baseline and the hidden truth of
each play's effect. The file names nothing of the commander's internals, only the shop and plays by key.

Loading refuses a bad file whole, naming file, line and reason for every problem (like the playbook).
A play's `effects` entry is one effect or a list of them (e.g. a discount that lifts conversion and
lowers the order value).
"""

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings

from autonomax.errors import AppError
from kpis.services.config import ConfigProblem, _LineLoader  # the playbook's line-aware YAML loader

RATES = {"conversion_rate", "refund_rate", "repeat_purchase_rate", "lead_conversion"}
VOLUMES = {"visitors_per_day", "aov", "leads_per_day", "tickets_per_day"}
METRICS = RATES | VOLUMES
SHOP_DEFAULTS = {"visitors_per_day": 400.0, "conversion_rate": 0.02, "aov": 35.0, "refund_rate": 0.04,
                 "repeat_purchase_rate": 0.05, "leads_per_day": 12.0, "lead_conversion": 0.08,
                 "tickets_per_day": 5.0, "trend_per_day": 0.0, "noise": 0.15}
SHOP_KEYS = set(SHOP_DEFAULTS) | {"weekday_factors", "shocks", "fatigue"}
FATIGUE_DEFAULTS = {"window_days": 7, "response_drop_per_contact": 0.3, "unsubscribe_per_contact": 0.01}
EFFECT_KEYS = {"metric", "relative", "lag_days", "duration_days", "noise"}


class ScenarioError(AppError):
    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems), code="invalid_scenario",
                         details={"problems": [{"file": p.file, "line": p.line, "reason": p.reason} for p in problems]})


@dataclass(frozen=True)
class Shock:
    day: int
    metric: str
    factor: float
    days: int


@dataclass(frozen=True)
class Effect:
    metric: str
    relative: float
    lag_days: int = 0
    duration_days: int = 14
    noise: float = 0.0


@dataclass
class Scenario:
    name: str
    shop: dict[str, float]
    weekday_factors: list[float]
    shocks: list[Shock]
    fatigue: dict[str, float]
    effects: dict[str, list[Effect]] = field(default_factory=dict)


def scenario_path(name: str) -> Path:
    return Path(settings.BASE_DIR) / "configs" / "scenarios" / f"{name}.yml"


def scenario_load(*, path: Path | str, known_plays: set[str]) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError([ConfigProblem(file=str(path), line=1, reason=f"cannot read: {exc.strerror}")]) from exc
    return scenario_parse(text=text, file=str(path), known_plays=known_plays)


def scenario_parse(*, text: str, file: str, known_plays: set[str]) -> Scenario:
    problems: list[ConfigProblem] = []

    def problem(line, reason):
        problems.append(ConfigProblem(file=file, line=line, reason=reason))

    def number(value, line, name, *, low=None, high=None, integer=False):
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            problem(line, f"{name} must be {'a whole number' if integer else 'a number'}, not {value!r}")
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            problem(line, f"{name} must be between {low} and {high}, not {value}")
            return None
        return value

    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ScenarioError([ConfigProblem(file=file, line=(mark.line + 1) if mark else 1,
                                           reason=f"invalid YAML: {getattr(exc, 'problem', None) or exc}")]) from exc
    if not isinstance(data, dict) or not isinstance(data.get("shop"), dict):
        raise ScenarioError([ConfigProblem(file=file, line=1, reason="expected a mapping with a `shop:` mapping")])
    for unknown in sorted(set(data["__lines__"]) - {"shop", "effects"}):
        problem(data["__lines__"][unknown], f"unknown section {unknown!r} (expected shop and effects)")

    raw, lines = data["shop"], data["shop"]["__lines__"]
    for unknown in sorted(set(lines) - SHOP_KEYS):
        problem(lines[unknown], f"unknown shop field {unknown!r}")
    shop = dict(SHOP_DEFAULTS)
    for key in SHOP_DEFAULTS:
        if key in raw:
            high = 1 if key in RATES or key == "noise" else None
            low = -0.1 if key == "trend_per_day" else 0
            high = 0.1 if key == "trend_per_day" else high
            value = number(raw[key], lines[key], key, low=low, high=high)
            shop[key] = float(value) if value is not None else shop[key]

    weekday = raw.get("weekday_factors", [1.0] * 7)
    if not (isinstance(weekday, list) and len(weekday) == 7
            and all(isinstance(w, int | float) and not isinstance(w, bool) and w > 0 for w in weekday)):
        problem(lines.get("weekday_factors", raw["__line__"]),
                "weekday_factors must be 7 positive numbers, Monday first")
        weekday = [1.0] * 7

    shocks = []
    for item in raw.get("shocks") or []:
        if not isinstance(item, dict):
            problem(lines["shocks"], "each shock must be a mapping {day, metric, factor, days}")
            continue
        line = item["__line__"]
        for unknown in sorted(set(item["__lines__"]) - {"day", "metric", "factor", "days"}):
            problem(item["__lines__"][unknown], f"unknown shock field {unknown!r}")
        if item.get("metric") not in METRICS:
            problem(line, f"shock metric must be one of {', '.join(sorted(METRICS))}, not {item.get('metric')!r}")
        day = number(item.get("day"), line, "shock day", low=0, integer=True)
        factor = number(item.get("factor"), line, "shock factor", low=0)
        days = number(item.get("days", 1), line, "shock days", low=1, integer=True)
        if None not in (day, factor, days) and item.get("metric") in METRICS:
            shocks.append(Shock(day=day, metric=item["metric"], factor=float(factor), days=days))

    fatigue = dict(FATIGUE_DEFAULTS)
    if "fatigue" in raw:
        item = raw["fatigue"]
        if not isinstance(item, dict):
            problem(lines["fatigue"], "fatigue must be a mapping")
        else:
            for unknown in sorted(set(item["__lines__"]) - set(FATIGUE_DEFAULTS)):
                problem(item["__lines__"][unknown], f"unknown fatigue field {unknown!r}")
            for key in FATIGUE_DEFAULTS:
                if key in item:
                    integer = key == "window_days"
                    value = number(item[key], item["__lines__"][key], key, low=1 if integer else 0,
                                   high=None if integer else 1, integer=integer)
                    fatigue[key] = value if value is not None else fatigue[key]

    effects: dict[str, list[Effect]] = {}
    raw_effects = data.get("effects") or {"__lines__": {}}
    if not isinstance(raw_effects, dict):
        problem(data["__lines__"].get("effects", 1), "effects must be a mapping of play key to effect")
        raw_effects = {"__lines__": {}}
    for key, line in raw_effects["__lines__"].items():
        if key not in known_plays:
            problem(line, f"unknown play {key!r}: the playbook has {', '.join(sorted(known_plays))}")
            continue
        entries = raw_effects[key] if isinstance(raw_effects[key], list) else [raw_effects[key]]
        for entry in entries:
            if not isinstance(entry, dict):
                problem(line, f"the effect of {key!r} must be a mapping {{metric, relative, ...}} or a list of them")
                continue
            at = entry["__line__"]
            for unknown in sorted(set(entry["__lines__"]) - EFFECT_KEYS):
                problem(entry["__lines__"][unknown], f"unknown effect field {unknown!r}")
            if entry.get("metric") not in METRICS:
                problem(at, f"effect metric must be one of {', '.join(sorted(METRICS))}, not {entry.get('metric')!r}")
            relative = number(entry.get("relative"), at, "relative", low=-0.95, high=5)
            lag = number(entry.get("lag_days", 0), at, "lag_days", low=0, integer=True)
            duration = number(entry.get("duration_days", 14), at, "duration_days", low=1, integer=True)
            noise = number(entry.get("noise", 0.0), at, "noise", low=0, high=1)
            if None not in (relative, lag, duration, noise) and entry.get("metric") in METRICS:
                effects.setdefault(key, []).append(Effect(metric=entry["metric"], relative=float(relative),
                                                          lag_days=lag, duration_days=duration, noise=float(noise)))
    if problems:
        raise ScenarioError(problems)
    return Scenario(name=Path(file).stem, shop=shop, weekday_factors=[float(w) for w in weekday], shocks=shocks,
                    fatigue=fatigue, effects=effects)
