"""The playbook: kpis.yml, agents.yml and plays.yml validated together with file/line errors, loaded per
company as one numbered version, exported back.

Loading is all-or-nothing: the three files are parsed and cross-validated
(every KPI a play names exists in kpis.yml, every bot a play uses is in
agents.yml and handles the step's job type, every job type a bot handles has
code that runs it, no play below operational level runs on autopilot) before
anything is written, and the writes for all companies happen in one transaction.
Each load that changes a file is a new PlaybookVersion (who, why, the files'
hashes); missions are pinned to the version they were suggested under.
"""

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml
from django.conf import settings
from django.db import transaction

from autonomax.errors import AppError
from autonomax.models import Company
from autonomax.services import config_change_record, model_changes

from ..models import Agent, Play, PlaybookVersion

LEVELS = {c.value for c in Play.Level}
AUTONOMY = {c.value for c in Play.Autonomy}
STATUSES = {"ok", "warning", "critical"}
OPS = {"<", "<=", ">", ">="}
QUEUES = {"default", "ai", "email", "webhooks"}
# Fields an admin edit may change (and that bump the play's version).
PLAY_FIELDS = ["label", "description", "owner", "level", "autonomy", "trigger", "impact", "effort", "job_plan",
               "measure_after_hours", "kpis", "prior_alpha", "prior_beta", "success_criterion", "measure", "status"]
MEASURE_METHODS = {"holdout", "counterfactual", "experiment"}
MEASURE_OUTCOMES = {"converted", "revenue"}


class PlaybookError(AppError):
    def __init__(self, errors: list[str]):
        super().__init__("The playbook is invalid:\n" + "\n".join(errors), code="playbook_invalid",
                         details={"errors": errors})
        self.errors = errors


def default_dir() -> Path:
    return Path(getattr(settings, "AUTONOMAX_CONFIG_DIR", settings.BASE_DIR / "configs"))


PLAYBOOK_FILES = ("kpis.yml", "agents.yml", "plays.yml")
REMOVED_REASON = "removed from plays.yml"


@dataclass
class Playbook:
    agents: list[dict]
    plays: list[dict]
    kpis: list = field(default_factory=list)
    external_metrics: list[dict] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)


class _Checker:
    """Walks composed YAML nodes so every error names its file and line."""

    def __init__(self, filename: str):
        self.filename = filename
        self.errors: list[str] = []

    def error(self, node, reason: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.errors.append(f"{self.filename}:{line}: {reason}")

    def parse(self, text: str):
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            self.errors.append(f"{self.filename}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}")
            return None, None
        if node is None:
            self.errors.append(f"{self.filename}:1: the file is empty")
            return None, None
        return node, yaml.safe_load(text)

    def mapping(self, node) -> dict:
        """key -> (key node, value node) of a mapping node."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "expected a mapping")
            return {}
        return {k.value: (k, v) for k, v in node.value}

    def seq(self, node, what: str) -> list:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list")
            return []
        return node.value


def _number(checker, node, value, name, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        checker.error(node, f"{name} must be a number, got {value!r}")
        return
    if (low is not None and value < low) or (high is not None and value > high):
        checker.error(node, f"{name} must be between {low} and {high}, got {value}")


def _check_agents(checker: _Checker, node, data) -> tuple[set, dict]:
    top = checker.mapping(node)
    commanders, bots = set(), {}
    for section, kind in (("commanders", "commander"), ("bots", "bot")):
        if section not in top:
            checker.error(node, f"missing '{section}'")
            continue
        for i, item in enumerate(checker.seq(top[section][1], section)):
            fields = checker.mapping(item)
            raw = data[section][i] if isinstance(data.get(section), list) else {}
            for required in ("id", "label", "role"):
                if required not in fields:
                    checker.error(item, f"{kind} is missing '{required}'")
            agent_id = raw.get("id") if isinstance(raw, dict) else None
            if not isinstance(agent_id, str) or not agent_id:
                continue
            if agent_id in commanders or agent_id in bots:
                checker.error(fields["id"][1], f"duplicate agent id '{agent_id}'")
            if kind == "commander":
                commanders.add(agent_id)
                continue
            handles = raw.get("handles")
            if not isinstance(handles, list) or not handles or not all(isinstance(h, str) for h in handles):
                checker.error(fields.get("handles", (None, item))[1],
                              f"bot '{agent_id}' needs 'handles': a list of job types")
                handles = []
            queue = raw.get("queue", "default")
            if queue not in QUEUES:
                checker.error(fields["queue"][1], f"unknown queue '{queue}' (one of {sorted(QUEUES)})")
            if "timeout_minutes" in fields:
                _number(checker, fields["timeout_minutes"][1], raw["timeout_minutes"], "timeout_minutes", 1, 1440)
            from .bots import BOTS  # noqa: PLC0415 - the code that runs each job type

            handles_nodes = fields["handles"][1].value if "handles" in fields and isinstance(
                fields["handles"][1], yaml.SequenceNode) else []
            for h_index, job_type in enumerate(handles):
                if job_type not in BOTS:
                    node_at = handles_nodes[h_index] if h_index < len(handles_nodes) else item
                    checker.error(node_at, f"bot '{agent_id}' handles '{job_type}', but no bot code runs that job "
                                           f"type (known: {sorted(BOTS)})")
            bots[agent_id] = set(handles)
            reports_to = raw.get("commander")
            if reports_to is not None and reports_to not in {c for c in commanders}:
                checker.error(fields["commander"][1], f"bot '{agent_id}' reports to unknown commander '{reports_to}'")
    return commanders, bots


def _check_kpi_ref(checker: _Checker, node, key, kpi_keys: set | None, where: str) -> None:
    if kpi_keys is not None and key not in kpi_keys:
        checker.error(node, f"{where} names KPI '{key}', which kpis.yml does not define "
                            f"(known: {', '.join(sorted(kpi_keys))})")


def _check_plays(checker: _Checker, node, data, commanders: set, bots: dict, kpi_keys: set | None = None) -> None:
    top = checker.mapping(node)
    if "plays" not in top:
        checker.error(node, "missing 'plays'")
        return
    seen = set()
    for i, item in enumerate(checker.seq(top["plays"][1], "plays")):
        fields = checker.mapping(item)
        raw = data["plays"][i]
        if not isinstance(raw, dict):
            continue
        for required in ("key", "label", "owner", "trigger", "job_plan", "kpis", "impact", "effort",
                         "measure_after_hours", "success"):
            if required not in fields:
                checker.error(item, f"play '{raw.get('key', '?')}' is missing '{required}'")
        key = raw.get("key")
        if isinstance(key, str):
            if key in seen:
                checker.error(fields["key"][1], f"duplicate play key '{key}'")
            seen.add(key)
        if "owner" in fields and raw["owner"] not in commanders:
            checker.error(fields["owner"][1],
                          f"unknown commander '{raw['owner']}' (agents.yml has {sorted(commanders)})")
        if raw.get("level", "operational") not in LEVELS:
            checker.error(fields["level"][1], f"level must be one of {sorted(LEVELS)}")
        if raw.get("autonomy", "suggest") not in AUTONOMY:
            checker.error(fields["autonomy"][1], f"autonomy must be one of {sorted(AUTONOMY)}")
        elif raw.get("autonomy") == Play.Autonomy.AUTO and raw.get("level", "operational") != Play.Level.OPERATIONAL:
            checker.error(fields["autonomy"][1],
                          f"play '{raw.get('key', '?')}' is {raw.get('level')}: only operational plays may be "
                          f"autonomy: auto ({raw.get('level')} missions always need "
                          f"{'an owner' if raw.get('level') == Play.Level.STRATEGIC else 'a person'} to approve)")
        for name in ("impact", "effort"):
            if name in fields:
                _number(checker, fields[name][1], raw[name], name, 0, 1)
        if "measure_after_hours" in fields:
            _number(checker, fields["measure_after_hours"][1], raw["measure_after_hours"], "measure_after_hours", 1,
                    24 * 90)
        if "prior" in fields:
            prior = checker.mapping(fields["prior"][1])
            for name in ("alpha", "beta"):
                if name not in prior:
                    checker.error(fields["prior"][1], f"prior needs '{name}'")
                else:
                    _number(checker, prior[name][1], raw["prior"][name], f"prior.{name}", 0.01, 1000)
        kpis = raw.get("kpis")
        if "kpis" in fields and (not isinstance(kpis, list) or not kpis):
            checker.error(fields["kpis"][1], "kpis must be a non-empty list of KPI keys")
        elif "kpis" in fields:
            for k_node, key_ in zip(fields["kpis"][1].value, kpis, strict=False):
                _check_kpi_ref(checker, k_node, key_, kpi_keys, f"play '{raw.get('key', '?')}' kpis")
        if "trigger" in fields:
            conditions = checker.seq(fields["trigger"][1], "trigger")
            if not conditions:
                checker.error(fields["trigger"][1], "trigger needs at least one condition")
            for j, cond_node in enumerate(conditions):
                cond_fields = checker.mapping(cond_node)
                cond = raw["trigger"][j]
                if not isinstance(cond, dict) or "kpi" not in cond:
                    checker.error(cond_node, "a condition needs 'kpi'")
                    continue
                _check_kpi_ref(checker, cond_fields["kpi"][1], cond["kpi"], kpi_keys,
                               f"play '{raw.get('key', '?')}' trigger")
                if "status" in cond:
                    status = cond["status"]
                    status = status if isinstance(status, list) else [status]
                    if not status or not set(status) <= STATUSES:
                        checker.error(cond_fields["status"][1], f"status must be some of {sorted(STATUSES)}")
                elif "op" in cond:
                    if cond["op"] not in OPS:
                        checker.error(cond_fields["op"][1], f"op must be one of {sorted(OPS)}")
                    if "value" not in cond:
                        checker.error(cond_node, "a condition with 'op' needs 'value'")
                    else:
                        _number(checker, cond_fields["value"][1], cond["value"], "value")
                else:
                    checker.error(cond_node, "a condition needs 'status' or 'op' + 'value'")
        if "success" in fields:
            success = raw["success"]
            s_fields = checker.mapping(fields["success"][1])
            if isinstance(success, dict):
                if "kpi" not in success:
                    checker.error(fields["success"][1], "success needs 'kpi'")
                else:
                    _check_kpi_ref(checker, s_fields["kpi"][1], success["kpi"], kpi_keys,
                                   f"play '{raw.get('key', '?')}' success")
                if "min_change_pct" not in success:
                    checker.error(fields["success"][1], "success needs 'min_change_pct'")
                else:
                    _number(checker, s_fields["min_change_pct"][1], success["min_change_pct"], "min_change_pct", 0,
                            1000)
        if "measure" in fields:
            _check_measure(checker, fields["measure"][1], raw["measure"])
        if "job_plan" in fields:
            steps = checker.seq(fields["job_plan"][1], "job_plan")
            if not steps:
                checker.error(fields["job_plan"][1], "job_plan needs at least one step")
            for j, step_node in enumerate(steps):
                step = raw["job_plan"][j]
                step_fields = checker.mapping(step_node)
                if not isinstance(step, dict):
                    continue
                bot, job_type = step.get("bot"), step.get("type")
                if bot not in bots:
                    checker.error(step_fields.get("bot", (None, step_node))[1], f"unknown bot '{bot}'")
                elif job_type not in bots[bot]:
                    checker.error(step_fields.get("type", (None, step_node))[1],
                                  f"bot '{bot}' does not handle job type '{job_type}'")
                if "params" in step and not isinstance(step["params"], dict):
                    checker.error(step_fields["params"][1], "params must be a mapping")


def _check_measure(checker: _Checker, node, measure) -> None:
    """`measure:` {method: holdout|counterfactual|experiment, holdout_pct, min_holdout, outcome, detectable_pct,
    baseline_rate, pre_days, max_wait_days}."""
    fields = checker.mapping(node)
    if not isinstance(measure, dict):
        return
    method = measure.get("method")
    if method is not None and method not in MEASURE_METHODS:
        checker.error(fields.get("method", (None, node))[1], f"measure.method must be one of {sorted(MEASURE_METHODS)}")
    if "outcome" in measure and measure["outcome"] not in MEASURE_OUTCOMES:
        checker.error(fields["outcome"][1], f"measure.outcome must be one of {sorted(MEASURE_OUTCOMES)}")
    for name, low, high in (("holdout_pct", 1, 50), ("min_holdout", 1, 100000), ("detectable_pct", 0.1, 1000),
                            ("baseline_rate", 0.0001, 0.9999), ("pre_days", 14, 365), ("max_wait_days", 0, 365)):
        if name in fields:
            _number(checker, fields[name][1], measure[name], f"measure.{name}", low, high)
    unknown = set(measure) - {"method", "outcome", "holdout_pct", "min_holdout", "detectable_pct", "baseline_rate",
                              "pre_days", "max_wait_days"}
    for name in sorted(unknown):
        checker.error(fields[name][0], f"unknown measure field '{name}'")


def playbook_read(*, directory: Path | str | None = None) -> Playbook:
    """Parse and cross-validate kpis.yml + agents.yml + plays.yml; raise PlaybookError listing every problem."""
    from kpis.services.config import KPIConfigError, kpi_config_parse  # noqa: PLC0415 - the kpis app's parser

    directory = Path(directory or default_dir())
    errors: list[str] = []
    parsed, texts = {}, {}
    for name in PLAYBOOK_FILES:
        path = directory / name
        if not path.exists():
            errors.append(f"{path}:0: file not found")
            continue
        texts[name] = path.read_text()
        if name == "kpis.yml":
            continue
        checker = _Checker(str(path))
        node, data = checker.parse(texts[name])
        parsed[name] = (checker, node, data)
        errors.extend(checker.errors)
    specs, externals, kpi_keys = [], [], None
    if "kpis.yml" in texts:
        try:
            specs, externals = kpi_config_parse(text=texts["kpis.yml"], file=str(directory / "kpis.yml"))
            kpi_keys = {spec.key for spec in specs}
        except KPIConfigError as exc:
            errors.extend(str(problem) for problem in exc.problems)
    if errors:
        raise PlaybookError(errors)
    a_checker, a_node, a_data = parsed["agents.yml"]
    commanders, bots = _check_agents(a_checker, a_node, a_data)
    p_checker, p_node, p_data = parsed["plays.yml"]
    _check_plays(p_checker, p_node, p_data, commanders, bots, kpi_keys)
    errors = a_checker.errors + p_checker.errors
    if errors:
        raise PlaybookError(errors)
    agents = [{**a, "kind": "commander"} for a in a_data["commanders"]] + [{**b, "kind": "bot"} for b in a_data["bots"]]
    hashes = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in texts.items()}
    return Playbook(agents=agents, plays=p_data["plays"], kpis=specs, external_metrics=externals, hashes=hashes)


def _play_fields(raw: dict, bots: dict) -> dict:
    prior = raw.get("prior") or {}
    job_plan = []
    for order, step in enumerate(raw["job_plan"]):
        job_plan.append({"type": step["type"], "bot": step["bot"], "params": step.get("params") or {},
                         "order": order, "queue": bots[step["bot"]].get("queue", "default"),
                         "timeout_minutes": bots[step["bot"]].get("timeout_minutes", 15)})
    return {
        "label": raw["label"],
        "description": (raw.get("description") or "").strip(),
        "owner": raw["owner"],
        "level": raw.get("level", Play.Level.OPERATIONAL),
        "autonomy": raw.get("autonomy", Play.Autonomy.SUGGEST),
        "trigger": raw["trigger"],
        "impact": Decimal(str(raw["impact"])),
        "effort": Decimal(str(raw["effort"])),
        "job_plan": job_plan,
        "measure_after_hours": int(raw["measure_after_hours"]),
        "kpis": raw["kpis"],
        "prior_alpha": Decimal(str(prior.get("alpha", 1))),
        "prior_beta": Decimal(str(prior.get("beta", 1))),
        "success_criterion": raw["success"],
        "measure": raw.get("measure") or {},
    }


@transaction.atomic
def playbook_load(*, companies, directory: Path | str | None = None, actor=None, actor_label: str = "load_playbook",
                  reason: str = "playbook loaded from files") -> dict:
    """Load the validated playbook (KPIs, agents, plays) into each company, as one new playbook version when
    any file changed. Returns counts of created/updated/unchanged/removed plays and the version numbers.

    A play whose definition changes gets a new version (running missions keep
    their snapshot). A play no longer in plays.yml is disabled (it stops being
    suggested); it is active again when it comes back to the file.
    """
    from kpis.services.config import kpis_apply  # noqa: PLC0415 - KPIs are the kpis app's to write

    book = playbook_read(directory=directory)
    bots = {a["id"]: a for a in book.agents if a["kind"] == "bot"}
    counts = {"created": 0, "updated": 0, "unchanged": 0, "removed": 0, "agents": 0, "versions": {}}
    for company in companies:
        latest = PlaybookVersion.objects.select_for_update().filter(company=company).order_by("-number").first()
        kpis_apply(company=company, specs=book.kpis, externals=book.external_metrics, actor=actor,
                   actor_label=actor_label, reason=reason)
        for raw in book.agents:
            Agent.objects.update_or_create(
                company=company, key=raw["id"],
                defaults={"kind": raw["kind"], "label": raw["label"], "role": str(raw.get("role", "")).strip(),
                          "values": raw.get("values") or [], "handles": raw.get("handles") or [],
                          "queue": raw.get("queue", "default"), "timeout_minutes": raw.get("timeout_minutes", 15),
                          "commander": raw.get("commander", "")},
            )
            counts["agents"] += 1
        existing = {p.key: p for p in Play.objects.select_for_update().filter(company=company)}
        for raw in book.plays:
            fields = _play_fields(raw, bots)
            play = existing.get(raw["key"])
            if play is None:
                play = Play.objects.create(company=company, key=raw["key"], **fields)
                config_change_record(company=company, actor=actor, actor_label=actor_label, object_type="play",
                                     object_id=play.key, changes={k: [None, str(v)] for k, v in fields.items()},
                                     reason=reason, expected_effect=raw.get("expected_effect", ""))
                counts["created"] += 1
                continue
            for name, value in fields.items():
                setattr(play, name, value)
            changes = model_changes(play, list(fields))
            if not changes:
                counts["unchanged"] += 1
                continue
            play.version += 1
            play.save()
            config_change_record(company=company, actor=actor, actor_label=actor_label, object_type="play",
                                 object_id=play.key, changes=changes, reason=reason,
                                 expected_effect=raw.get("expected_effect", ""))
            counts["updated"] += 1
        counts["removed"] += _plays_sync_presence(company=company, existing=existing,
                                                  keys={r["key"] for r in book.plays}, actor=actor,
                                                  actor_label=actor_label)
        if latest is None or latest.files != book.hashes:
            latest = PlaybookVersion.objects.create(
                company=company, number=(latest.number + 1) if latest else 1, files=book.hashes,
                counts={k: v for k, v in counts.items() if k != "versions"},
                actor=actor if getattr(actor, "is_authenticated", False) else None, actor_label=actor_label,
                reason=reason)
        counts["versions"][company.slug] = latest.number
    return counts


def _plays_sync_presence(*, company: Company, existing: dict, keys: set, actor, actor_label: str) -> int:
    """Disable the plays gone from the file; re-activate those that came back after such a removal."""
    removed = 0
    for key, play in existing.items():
        if key not in keys and play.status == Play.Status.ACTIVE:
            config_change_record(company=company, actor=actor, actor_label=actor_label, object_type="play",
                                 object_id=key, changes={"status": [play.status, Play.Status.DISABLED]},
                                 reason=REMOVED_REASON, expected_effect="the play is no longer suggested")
            play.status = Play.Status.DISABLED
            play.save(update_fields=["status", "updated_at"])
            removed += 1
        elif key in keys and play.status == Play.Status.DISABLED and _last_status_change_reason(play) == REMOVED_REASON:
            config_change_record(company=company, actor=actor, actor_label=actor_label, object_type="play",
                                 object_id=key, changes={"status": [play.status, Play.Status.ACTIVE]},
                                 reason="back in plays.yml", expected_effect="the play is suggested again")
            play.status = Play.Status.ACTIVE
            play.save(update_fields=["status", "updated_at"])
    return removed


def _last_status_change_reason(play: Play) -> str:
    from autonomax.models import ConfigChange  # noqa: PLC0415

    change = (ConfigChange.objects.filter(company=play.company_id, object_type="play", object_id=play.key,
                                          changes__has_key="status").order_by("-created_at", "-pk").first())
    return change.reason if change else ""


@transaction.atomic
def play_update(*, play: Play, actor, reason: str, expected_effect: str, **fields) -> Play:
    """An edit by a person (admin): bumps the version and records who, when, why and the expected effect."""
    if not reason.strip():
        raise AppError("Say why you change the play (reason).", code="reason_required")
    unknown = set(fields) - set(PLAY_FIELDS)
    if unknown:
        raise AppError(f"Unknown play fields: {sorted(unknown)}", code="invalid")
    play = Play.objects.select_for_update().get(pk=play.pk)
    for name, value in fields.items():
        setattr(play, name, value)
    if play.autonomy == Play.Autonomy.AUTO and play.level != Play.Level.OPERATIONAL:
        raise AppError(f"A {play.level} play cannot be autonomy: auto: only operational plays run on autopilot.",
                       code="autonomy_too_wide")
    changes = model_changes(play, list(fields))
    if not changes:
        return play
    play.version += 1
    play.save()
    config_change_record(company=play.company, actor=actor, object_type="play", object_id=play.key,
                         changes={**changes, "version": [play.version - 1, play.version]}, reason=reason,
                         expected_effect=expected_effect)
    return play


def play_review_clear(*, play: Play, actor, reason: str) -> Play:
    """A person clears `under_review`: the play may trigger again."""
    return play_update(play=play, actor=actor, reason=reason or "review cleared",
                       expected_effect="the play triggers again", status=Play.Status.ACTIVE)


def playbook_export(*, company: Company) -> dict[str, str]:
    """The company's whole playbook as YAML texts {'kpis.yml', 'agents.yml', 'plays.yml'}, loadable again."""
    from kpis.services.config import kpis_export  # noqa: PLC0415
    agents = list(Agent.objects.filter(company=company))
    commanders = [{"id": a.key, "label": a.label, "role": a.role, "values": a.values}
                  for a in agents if a.kind == Agent.Kind.COMMANDER]
    bots = [{"id": a.key, "label": a.label, "role": a.role, "values": a.values, "handles": a.handles,
             "queue": a.queue, "timeout_minutes": a.timeout_minutes,
             **({"commander": a.commander} if a.commander else {})}
            for a in agents if a.kind == Agent.Kind.BOT]
    plays = []
    for p in Play.objects.filter(company=company):
        plays.append({
            "key": p.key, "label": p.label, "description": p.description, "owner": p.owner, "level": p.level,
            "autonomy": p.autonomy, "trigger": p.trigger, "impact": float(p.impact), "effort": float(p.effort),
            "measure_after_hours": p.measure_after_hours, "kpis": p.kpis,
            "prior": {"alpha": float(p.prior_alpha), "beta": float(p.prior_beta)},
            "success": p.success_criterion,
            **({"measure": p.measure} if p.measure else {}),
            "job_plan": [{"type": s["type"], "bot": s["bot"], "params": s.get("params") or {}} for s in p.job_plan],
        })
    dump = {"sort_keys": False, "allow_unicode": True, "default_flow_style": False}
    return {
        "kpis.yml": kpis_export(company=company),
        "agents.yml": yaml.safe_dump({"commanders": commanders, "bots": bots}, **dump),
        "plays.yml": yaml.safe_dump({"plays": plays}, **dump),
    }
