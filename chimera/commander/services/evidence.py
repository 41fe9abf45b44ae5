"""LOG_EVIDENCE: how each play is measured, the holdout split, the measured effect, the weekly review.

A play is measured one of three ways (`measure:` in plays.yml, see `measure_spec`):

- **holdout** (plays that act on people): when the mission is planned, its eligible audience is split by
  a hash of the mission's correlation id and the person (reproducible, stored as `HoldoutAssignment`);
  the held-out share is never contacted. After the window the per-person outcome (a paid order, or
  revenue) of the treated is compared with the held out's (`effects.holdout_rate` / `holdout_amount`).
- **counterfactual** (plays that act on the whole store): the success KPI's metric, day by day, over a
  pre-period that ends before the triggering days, forecasts the window (`effects.counterfactual`).
  Another mission moving the same KPI in the same window makes the record `confounded`: inconclusive.
  The pre-period holds only clean days: the days inside another mission's window on the same KPI (and a
  tail after it) are skipped, walking further back, so a rerun is forecast from the shop without the play;
  fewer than `effects.MIN_PRE_DAYS` clean days is inconclusive, and the record says which days were skipped.

"Before" is the play's start (`Mission.started_at`, `kpi_at_start`), never the suggestion. An audience
too small for the play's detectable effect is said before approval and runs unmeasured: inconclusive.
Only missions that reach MEASURING are evidence (a mission that did nothing never is).

- **experiment** (plays with an `experiment_start` job): the growth experiment the job started, found by the
  mission's correlation id, is the measurement: its frozen read-out once it is stopped (or its winner rolled
  out). A running experiment has no verdict yet, so the mission waits in MEASURING past its window until the
  experiment stops, at most `max_wait_days` (default 14); after that the record is inconclusive, never invented.

A change the platform can take back (a bundle, a price: `UNDO_STEPS`) is also looked at every day of its
window (`mission_look_early`): once `EARLY_MIN_DAYS` whole days are in, a loss already sure at the stricter
`EARLY_LEVEL` is recorded then and the change is taken back, rather than costing the shop the rest of the
window. The stricter level pays for looking every day; only a loss stops early, a win waits for the window.
"""

import hashlib
from datetime import UTC, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone

from autonomax.models import Company

from ..models import EvidenceRecord, HoldoutAssignment, Job, Mission, Play
from ..transitions import SYSTEM, mission_move
from . import effects
from .alerts import owners_alert

HOLDOUT_JOB_TYPES = {"email_segment"}  # job types that act on people, one by one
EXPERIMENT_JOB_TYPES = {"experiment_start"}  # job types whose experiment is the measurement
DEFAULTS = {"holdout_pct": 20, "min_holdout": 10, "outcome": "converted", "detectable_pct": 50,
            "baseline_rate": 0.1, "pre_days": 56, "max_wait_days": 14}
MAX_TRIGGER_DAYS_EXCLUDED = 7
PRE_LOOKBACK = 2  # clean pre-period days are looked for back to this many times `pre_days` before its end
MAX_TAIL_DAYS = 14  # the longest tail after another mission's window that still counts as its effect
EARLY_LEVEL = 0.99  # an early look at a reversible change: daily looks need a surer loss than the window's end
EARLY_MIN_DAYS = 3  # whole days of a window before an early look


# --- How a play is measured -------------------------------------------------------------------------------------

def measure_spec(snapshot: dict) -> dict:
    """The play's resolved `measure:` with defaults, its success KPI and minimum worthwhile effect."""
    declared = snapshot.get("measure") or {}
    steps = snapshot.get("job_plan") or []
    people = [s for s in steps if s.get("type") in HOLDOUT_JOB_TYPES]
    experiment = any(s.get("type") in EXPERIMENT_JOB_TYPES for s in steps)
    method = declared.get("method") or ("experiment" if experiment else "holdout" if people else "counterfactual")
    success = snapshot.get("success") or {}
    spec = {**DEFAULTS, **declared, "method": method, "kpi": success.get("kpi"),
            "mde": float(success.get("min_change_pct", 0)) / 100}
    if people:
        spec["segment"] = (people[0].get("params") or {}).get("segment")
    return spec


def _audience(*, company: Company, segment: str | None) -> list[dict]:
    from growth.services import email_segment_recipients  # noqa: PLC0415 - the commander reaches growth by its services

    return email_segment_recipients(company=company, segment=segment) if segment else []


def holdout_split_sizes(*, audience: int, spec: dict) -> tuple[int, int]:
    """(treated, control) for an audience: the share held out, never below the minimum count; (audience, 0)
    when the audience cannot spare the minimum on both sides."""
    minimum = int(spec["min_holdout"])
    if audience < 2 * minimum:
        return audience, 0
    control = max(minimum, round(audience * float(spec["holdout_pct"]) / 100))
    return audience - control, control


def measure_plan(*, company: Company, snapshot: dict, kpis: dict, audiences: dict | None = None) -> dict:
    """What the mission's measurement will be, said before approval: method, sizes, whether it is measurable.

    `audiences` caches segment sizes within one suggestion run (one query per segment, not per play).
    """
    spec = measure_spec(snapshot)
    kpi = kpis.get(spec["kpi"]) or {}
    plan = {"method": spec["method"], "kpi": spec["kpi"], "metric": kpi.get("metric"),
            "direction": kpi.get("direction") or "up", "window_days": kpi.get("window_days"),
            "mde": spec["mde"], "measurable": True, "note": ""}
    if spec["method"] == "holdout":
        audiences = {} if audiences is None else audiences
        segment = spec.get("segment")
        if segment not in audiences:
            audiences[segment] = len(_audience(company=company, segment=segment))
        size = audiences[segment]
        treated, control = holdout_split_sizes(audience=size, spec=spec)
        detectable = effects.detectable_effect(treated_n=treated, control_n=control,
                                               baseline_rate=float(spec["baseline_rate"]))
        wanted = float(spec["detectable_pct"]) / 100
        plan.update({"segment": segment, "audience": size, "treated": treated, "control": control,
                     "holdout_pct": spec["holdout_pct"], "outcome": spec["outcome"],
                     "detectable": detectable})
        if control == 0 or detectable is None or detectable > wanted:
            plan["measurable"] = False
            plan["note"] = (f"This play cannot be measured on {size} {'person' if size == 1 else 'people'}: a "
                            f"{spec['holdout_pct']}% holdout of at least {spec['min_holdout']} could only detect "
                            f"{'no' if detectable is None else f'a {detectable:.0%}'} change and the play needs "
                            f"{wanted:.0%}. It will run unmeasured (everyone contacted, no verdict).")
        else:
            plan["note"] = (f"Measured against a {spec['holdout_pct']}% holdout: {control} of {size} people get "
                            f"nothing; it can detect about a {detectable:.0%} change.")
    elif spec["method"] == "experiment":
        plan["max_wait_days"] = int(spec["max_wait_days"])
        plan["note"] = (f"Measured by the experiment the play starts: its read-out once the experiment is stopped "
                        f"(waiting at most {plan['max_wait_days']} days past the window, then inconclusive).")
    else:
        plan["pre_days"] = int(spec["pre_days"])
        plan["note"] = (f"Measured against a forecast of {spec['kpi']} from the {spec['pre_days']} days before the "
                        f"start (weekdays and trend).")
    return plan


def _bucket(mission: Mission, subject: str) -> float:
    digest = hashlib.sha256(f"{mission.correlation_id}:{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@transaction.atomic
def mission_measure_start(*, mission: Mission, now=None) -> Mission:
    """The play starts (it is planned): record "before" and, for a holdout, split the audience once.

    Called again (a retry, a second planning) it changes nothing: the stored split is the split.
    """
    from kpis.selectors import kpi_current  # noqa: PLC0415

    if mission.started_at:
        return mission
    now = now or timezone.now()
    kpis = kpi_current(company=mission.company)
    plan = mission.measure_plan or measure_plan(company=mission.company, snapshot=mission.play_snapshot, kpis=kpis)
    keys = {plan.get("kpi"), *mission.play_snapshot.get("kpis", [])} - {None}
    mission.kpi_at_start = {k: {"value": None if (kpis.get(k) or {}).get("value") is None else str(kpis[k]["value"]),
                                "status": (kpis.get(k) or {}).get("status")} for k in sorted(keys)}
    if plan["method"] == "holdout" and not mission.assignments.exists():
        spec = measure_spec(mission.play_snapshot)
        people = sorted({p["email"].lower() for p in _audience(company=mission.company, segment=plan.get("segment"))})
        buckets = sorted((_bucket(mission, email), email) for email in people)
        treated, control = holdout_split_sizes(audience=len(people), spec=spec)
        detectable = effects.detectable_effect(treated_n=treated, control_n=control,
                                               baseline_rate=float(spec["baseline_rate"]))
        measurable = bool(control) and detectable is not None and detectable <= float(spec["detectable_pct"]) / 100
        if not measurable:
            control = 0  # unmeasured: nobody is held out for nothing
        HoldoutAssignment.objects.bulk_create([
            HoldoutAssignment(company_id=mission.company_id, mission=mission, subject=email, bucket=bucket,
                              group=HoldoutAssignment.Group.CONTROL if i < control
                              else HoldoutAssignment.Group.TREATED)
            for i, (bucket, email) in enumerate(buckets)
        ], ignore_conflicts=True)
        plan = {**plan, "audience": len(people), "treated": len(people) - control, "control": control,
                "detectable": detectable, "measurable": measurable}
        if not measurable and plan.get("measurable", True) is not False:
            plan["note"] = f"The audience at the start ({len(people)}) is too small to measure: it runs unmeasured."
    mission.measure_plan = plan
    mission.started_at = now
    mission.save(update_fields=["kpi_at_start", "measure_plan", "started_at", "updated_at"])
    return mission


def holdout_excluded(*, mission: Mission) -> list[str]:
    """The held-out people of a mission: a bot acting on people never contacts them."""
    return list(mission.assignments.filter(group=HoldoutAssignment.Group.CONTROL).values_list("subject", flat=True))


# --- Measuring ----------------------------------------------------------------------------------------------------

def _seed(mission: Mission) -> int:
    return int(hashlib.sha256(str(mission.correlation_id).encode()).hexdigest()[:8], 16)


def _window(mission: Mission) -> tuple:
    hours = mission.play_snapshot.get("measure_after_hours", 72)
    end = mission.measure_due_at
    start = mission.started_at or (end - timedelta(hours=hours))
    return start, end


def _measure_holdout(*, mission: Mission, plan: dict, start, end, level: float) -> effects.Measured:
    from commerce.selectors import purchases_by_email  # noqa: PLC0415

    groups = {HoldoutAssignment.Group.TREATED: [], HoldoutAssignment.Group.CONTROL: []}
    for subject, group in mission.assignments.values_list("subject", "group"):
        groups[group].append(subject)
    treated, control = groups[HoldoutAssignment.Group.TREATED], groups[HoldoutAssignment.Group.CONTROL]
    bought = purchases_by_email(company=mission.company, emails=treated + control, since=start, until=end)
    mde, direction = plan["mde"], "up"  # the per-person outcomes (a purchase, revenue) are better up
    if plan.get("outcome") == "revenue":
        return effects.holdout_amount(treated=[float(bought.get(e, {}).get("revenue", 0)) for e in treated],
                                      control=[float(bought.get(e, {}).get("revenue", 0)) for e in control],
                                      mde=mde, direction=direction, level=level)
    return effects.holdout_rate(treated_n=len(treated), treated_x=sum(1 for e in treated if e in bought),
                                control_n=len(control), control_x=sum(1 for e in control if e in bought),
                                mde=mde, direction=direction, seed=_seed(mission), level=level)


def _daily(*, company: Company, metric: str, ends: list) -> list:
    """(day, value) of the metric for each UTC day ending at `ends`: the daily points the KPI board shows."""
    from kpis.services.ingest import metric_daily_series  # noqa: PLC0415

    values = metric_daily_series(company=company, metric=metric, ends=ends) if ends else []
    return [((e - timedelta(days=1)).date(), None if v is None else float(v))
            for e, v in zip(ends, values, strict=True)]


def _whole_days(start, end) -> list:
    """Ends (UTC midnights) of the whole UTC days inside [start, end]."""
    first = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    if first - timedelta(days=1) == start:
        first = start  # start is a midnight: its own day is whole
    days = int((end - first).total_seconds() // 86400)
    return [first + timedelta(days=k + 1) for k in range(max(0, days))]


def _same_kpi_missions(*, mission: Mission, plan: dict, since, until) -> list[tuple[int, object, object]]:
    """(pk, started_at, window end) of the company's other missions on the play's KPI that started before
    `until` and whose window (to `completed_at`, else `measure_due_at`; still open: `until`) ends after
    `since`. One query, whatever the number of missions."""
    rows = (Mission.objects.filter(company=mission.company, measure_plan__kpi=plan.get("kpi"),
                                   started_at__isnull=False, started_at__lt=until)
            .exclude(pk=mission.pk)
            .annotate(window_end=Coalesce("completed_at", "measure_due_at"))
            .filter(Q(window_end__isnull=True) | Q(window_end__gt=since))
            .order_by("pk").values_list("pk", "started_at", "window_end"))
    return [(pk, started, ended or until) for pk, started, ended in rows]


def _confounders(*, others: list, start, end) -> list[int]:
    """Other missions on the KPI whose window overlaps this one's: their effect is in the window."""
    return sorted(pk for pk, started, ended in others if started < end and ended > start)


def _clean_pre_ends(*, others: list, pre_end, pre_days: int) -> tuple[list, int, dict[int, int]]:
    """Up to `pre_days` day ends walking back from `pre_end` (at most `PRE_LOOKBACK` × `pre_days` days back),
    skipping the days inside another mission's window on the KPI or its tail (`_contaminated_span`): those
    days hold that play's effect, and a forecast fitted on them (a trend on a previous run's lift) is not the
    shop without the play. Returns the clean ends (oldest first), the days skipped, and per mission pk the
    skipped days inside its span."""
    spans = [(pk, *_contaminated_span(started, ended)) for pk, started, ended in others]
    clean, skipped, by_mission = [], 0, {}
    for k in range(PRE_LOOKBACK * pre_days):
        day_end = pre_end - timedelta(days=k)
        hits = [pk for pk, s, e in spans if day_end > s and day_end - timedelta(days=1) < e]
        if not hits:
            clean.append(day_end)
            if len(clean) == pre_days:
                break
            continue
        skipped += 1
        for pk in hits:
            by_mission[pk] = by_mission.get(pk, 0) + 1
    return clean[::-1], skipped, by_mission


def _contaminated_span(started, ended) -> tuple:
    """A mission's window plus a tail as long as the window (at most `MAX_TAIL_DAYS`): a store change does not
    stop acting when its measurement ends (copy, a price, an offer wear off over the following days)."""
    return started, ended + max(timedelta(0), min(ended - started, timedelta(days=MAX_TAIL_DAYS)))


def _skipped_note(*, skipped: int, by_mission: dict[int, int], kpi) -> str:
    which = ", ".join(f"{pk} ({days} d)" for pk, days in sorted(by_mission.items()))
    return (f"{skipped} pre-period days skipped as contaminated: inside the window (or its tail) of "
            f"mission(s) {which} on {kpi}")


def _measure_counterfactual(*, mission: Mission, plan: dict, start, end, level: float
                            ) -> tuple[effects.Measured, list[int]]:
    if not plan.get("metric"):
        return effects.Measured(method="counterfactual", note=f"{plan.get('kpi')} has no metric to forecast"), []
    # Whole UTC days, like the KPI board's daily points (a day the play started in the middle of is neither).
    post_ends = _whole_days(start, end)
    # The pre-period ends before the triggering days: those were picked for being bad (regression to the mean).
    trigger_days = min(int(plan.get("window_days") or 1), MAX_TRIGGER_DAYS_EXCLUDED)
    pre_last = min(start, mission.created_at) - timedelta(days=trigger_days)
    pre_end = pre_last.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    pre_days = int(plan.get("pre_days", DEFAULTS["pre_days"]))
    lookback_start = pre_end - timedelta(days=PRE_LOOKBACK * pre_days)
    others = _same_kpi_missions(mission=mission, plan=plan, since=lookback_start - timedelta(days=MAX_TAIL_DAYS),
                                until=end)
    pre_ends, skipped, by_mission = _clean_pre_ends(others=others, pre_end=pre_end, pre_days=pre_days)
    series = _daily(company=mission.company, metric=plan["metric"], ends=pre_ends + post_ends)
    measured = effects.counterfactual(pre=series[:len(pre_ends)], post=series[len(pre_ends):], mde=plan["mde"],
                                      direction=plan.get("direction", "up"), level=level)
    if skipped:
        note = _skipped_note(skipped=skipped, by_mission=by_mission, kpi=plan.get("kpi"))
        if len(pre_ends) < effects.MIN_PRE_DAYS:
            note = (f"only {len(pre_ends)} clean days in the {PRE_LOOKBACK * pre_days} days before the pre-period's "
                    f"end, the forecast needs {effects.MIN_PRE_DAYS}: {note}")
        measured.note = f"{measured.note}; {note}" if measured.note else note
        measured.chart["pre_skipped"] = {"days": skipped,
                                         "missions": {str(pk): days for pk, days in sorted(by_mission.items())}}
    confounders = _confounders(others=others, start=start, end=end)
    if confounders:
        measured.verdict = effects.Verdict.INCONCLUSIVE
    return measured, confounders


def _finished_experiment(mission: Mission) -> dict | None:
    """The newest finished experiment the mission's jobs started (growth's frozen read-out), or None."""
    from growth.selectors import experiments_evidence  # noqa: PLC0415 - the commander reaches growth by its selectors

    found = experiments_evidence(company=mission.company, correlation_id=str(mission.correlation_id))
    return found[0] if found else None


def _experiment_waits(*, mission: Mission, plan: dict, now) -> bool:
    """A mission measured by its experiment waits while no finished experiment is there, up to the limit."""
    if plan.get("method") != "experiment" or _finished_experiment(mission) is not None:
        return False
    limit = mission.measure_due_at + timedelta(days=int(plan.get("max_wait_days", DEFAULTS["max_wait_days"])))
    return now < limit


def _relative(value, base):
    return None if value is None or not base else value / base


def _measure_experiment(*, mission: Mission, plan: dict) -> tuple[effects.Measured, float, tuple]:
    """(measured, interval level, window) from the experiment's frozen read-out: effects relative to the
    control's rate; no finished experiment past the wait is inconclusive with no estimate."""
    found = _finished_experiment(mission)
    if found is None:
        note = (f"no experiment of this mission had finished {plan.get('max_wait_days')} days after the window: "
                f"no verdict")
        return effects.Measured(method="experiment", note=note), effects.LEVEL, (None, None)
    base = found["control_rate"]
    measured = effects.Measured(
        method="experiment", verdict=found["verdict"], effect=found["effect"],
        effect_rel=_relative(found["effect"], base), ci_low=_relative(found["ci_low"], base),
        ci_high=_relative(found["ci_high"], base), ci_low_abs=found["ci_low"], ci_high_abs=found["ci_high"],
        prob_improvement=found["prob_improvement"], treated_n=found["treated_n"], control_n=found["control_n"],
        note="; ".join(found["reasons"]))
    return measured, found["ci_level"], (found["window_start"], found["window_end"])


def _pct(value) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f}%"


def _skipped_words(record: EvidenceRecord) -> str:
    skipped = (record.chart or {}).get("pre_skipped")
    if not skipped:
        return ""
    return (f" ({skipped['days']} days inside the windows of mission(s) {', '.join(skipped['missions'])} on "
            f"{record.kpi} skipped as contaminated)")


def evidence_sentence(*, record: EvidenceRecord) -> str:
    """The record in plain words: "measured +6.1% paid orders (90% interval +1.2% to +11.0%) against a 20% holdout"."""
    if record.method == EvidenceRecord.Method.UNMEASURED or record.effect_rel is None:
        return f"{record.get_verdict_display()}: not measured ({record.notes or 'no estimate'})"
    against = (f"against a holdout of {record.control_n} (treated {record.treated_n})"
               if record.method == EvidenceRecord.Method.HOLDOUT
               else f"in an experiment against its control ({record.control_n}, treated {record.treated_n})"
               if record.method == EvidenceRecord.Method.EXPERIMENT
               else f"against a forecast from {record.pre_days} days before the start{_skipped_words(record)}")
    level = f"{record.ci_level:.0%}"
    what = "conversion rate" if record.method == EvidenceRecord.Method.EXPERIMENT else record.kpi
    text = (f"{record.get_verdict_display()}: measured {_pct(record.effect_rel)} {what} ({level} interval "
            f"{_pct(record.ci_low)} to {_pct(record.ci_high)}) {against}")
    if record.prob_improvement is not None:
        text += f"; probability it helps {record.prob_improvement:.0%}"
    if record.confounded_with:
        text += (f"; confounded: mission(s) {', '.join(map(str, record.confounded_with))} moved {record.kpi} in "
                 f"the same window, so no verdict")
    elif record.verdict == EvidenceRecord.Verdict.INCONCLUSIVE and record.needed:
        text += f"; about {record.needed:g}x the data would settle it"
    return text


def _kpi_rows(kpis: dict, keys) -> dict:
    return {k: {"value": None if (kpis.get(k) or {}).get("value") is None else str(kpis[k]["value"]),
                "status": (kpis.get(k) or {}).get("status"), "direction": (kpis.get(k) or {}).get("direction")}
            for k in sorted(keys)}


def _change(before: dict, after: dict) -> dict:
    change = {}
    for key in sorted(set(before) | set(after)):
        b, a = (before.get(key) or {}).get("value"), (after.get(key) or {}).get("value")
        try:
            b_f, a_f = float(b), float(a)
        except (TypeError, ValueError):
            change[key] = {"before": b, "after": a, "abs": None, "pct": None}
            continue
        pct = None if b_f == 0 else round((a_f - b_f) / abs(b_f) * 100, 2)
        change[key] = {"before": b, "after": a, "abs": round(a_f - b_f, 4), "pct": pct}
    return change


def mission_measure(*, mission: Mission, kpis: dict) -> EvidenceRecord:
    """Measure one mission whose window has passed; the record, never a bare success flag."""
    plan = mission.measure_plan or measure_plan(company=mission.company, snapshot=mission.play_snapshot, kpis=kpis)
    start, end = _window(mission)
    confounders: list[int] = []
    level = effects.LEVEL
    if not plan.get("measurable", True):
        measured = effects.Measured(method="unmeasured", note=plan.get("note") or "the play ran unmeasured")
    elif plan["method"] == "experiment":
        measured, level, (exp_start, exp_end) = _measure_experiment(mission=mission, plan=plan)
        start, end = exp_start or start, exp_end or end
    elif plan["method"] == "holdout":
        measured = _measure_holdout(mission=mission, plan=plan, start=start, end=end, level=level)
    else:
        measured, confounders = _measure_counterfactual(mission=mission, plan=plan, start=start, end=end,
                                                        level=level)
    return _record_save(mission=mission, plan=plan, kpis=kpis, measured=measured, start=start, end=end, level=level,
                        confounders=confounders)


def mission_look_early(*, mission: Mission, kpis: dict, now) -> EvidenceRecord | None:
    """A reversible change looked at before its window ends: the record when it is already a sure loss (at
    `EARLY_LEVEL`, after `EARLY_MIN_DAYS` whole days, not confounded), else None and nothing is written."""
    plan = mission.measure_plan or {}
    start, _ = _window(mission)
    if plan.get("method") != "counterfactual" or len(_whole_days(start, now)) < EARLY_MIN_DAYS:
        return None
    measured, confounders = _measure_counterfactual(mission=mission, plan=plan, start=start, end=now,
                                                    level=EARLY_LEVEL)
    if measured.verdict != effects.Verdict.LOSS:  # a confounded look is inconclusive
        return None
    days = f"{len(_whole_days(start, now))} of {len(_whole_days(start, mission.measure_due_at))} days"
    return _record_save(mission=mission, plan=plan, kpis=kpis, measured=measured, start=start, end=now,
                        level=EARLY_LEVEL, confounders=confounders, prefix=f"stopped early, {days} into its window: ")


def _record_save(*, mission: Mission, plan: dict, kpis: dict, measured: effects.Measured, start, end, level: float,
                 confounders: list[int], prefix: str = "") -> EvidenceRecord:
    keys = {plan.get("kpi"), *mission.play_snapshot.get("kpis", [])} - {None}
    before = mission.kpi_at_start or {k: v for k, v in mission.trigger_values.items() if k in keys}
    after = _kpi_rows(kpis, keys)
    record = EvidenceRecord(
        company=mission.company, mission=mission, play=mission.play, correlation_id=mission.correlation_id,
        kpi_before=before, kpi_after=after, change=_change(before, after),
        success=measured.verdict == effects.Verdict.WIN, method=measured.method, kpi=plan.get("kpi") or "",
        direction=plan.get("direction", "up"), window_start=start, window_end=end,
        treated_n=measured.treated_n, control_n=measured.control_n, pre_days=measured.pre_days,
        effect=measured.effect, effect_rel=measured.effect_rel, ci_low=measured.ci_low, ci_high=measured.ci_high,
        ci_low_abs=measured.ci_low_abs, ci_high_abs=measured.ci_high_abs, ci_level=level,
        prob_improvement=measured.prob_improvement, mde=plan.get("mde"), verdict=measured.verdict,
        needed=measured.needed, confounded_with=confounders, chart=measured.chart, notes=measured.note)
    record.notes = prefix + evidence_sentence(record=record)
    record.save()
    return record


@transaction.atomic
def evidence_log_due(*, company: Company, kpis: dict, now=None) -> list[EvidenceRecord]:
    """Record evidence for every measuring mission whose window has passed, and for the reversible changes
    already measured as a sure loss (`mission_look_early`); take back the store changes of those measured as a
    loss (`mission_undo`), let the policy review the plays, and after a people play let growth check whether
    people need a longer rest between emails."""
    from .bots import UNDO_STEPS  # noqa: PLC0415 - bots import the jobs, which import this module
    from .jobs import mission_undo  # noqa: PLC0415 - jobs import missions, which import this module
    from .policy import plays_review  # noqa: PLC0415 - the policy reads evidence; evidence calls it once here

    now = now or timezone.now()
    measuring = (Mission.objects.select_for_update().filter(company=company, status=Mission.Status.MEASURING,
                                                            measure_due_at__isnull=False)
                 .select_related("play", "company").order_by("pk"))
    reversible = Exists(Job.objects.filter(mission=OuterRef("pk"), type__in=UNDO_STEPS,
                                           status=Job.Status.SUCCEEDED))
    records = []
    for mission in measuring.filter(Q(measure_due_at__lte=now) | reversible):
        if mission.measure_due_at <= now:
            plan = mission.measure_plan or measure_spec(mission.play_snapshot)
            if _experiment_waits(mission=mission, plan=plan, now=now):
                continue  # its experiment is still running: no verdict to record yet
            record = mission_measure(mission=mission, kpis=kpis)
        else:
            record = mission_look_early(mission=mission, kpis=kpis, now=now)
            if record is None:
                continue
        records.append(record)
        mission_move(mission=mission, to=Mission.Status.COMPLETED, by=SYSTEM, completed_at=now)
        if record.verdict == EvidenceRecord.Verdict.LOSS:
            # A change measured as a loss does not stay in the store (a bundle, a price): it is taken back.
            mission_undo(mission=mission, reason=f"measured a loss: {record.notes}")
    if records:
        plays_review(company=company, plays={r.play for r in records}, now=now)
    if any((r.mission.measure_plan or {}).get("method") == "holdout" for r in records):
        _rest_learn(company=company, now=now)
    return records


def _rest_learn(*, company: Company, now) -> None:
    """After a people play's evidence: whether the unsubscribes say people need a longer rest between emails
    (growth's `marketing_rest_learn`); the owners are told when it changes."""
    from growth.rest import marketing_rest_learn  # noqa: PLC0415 - the commander reaches growth by its services

    changed = marketing_rest_learn(company=company, now=now)
    if changed:
        owners_alert(company=company, subject=f"Plays now rest people {changed['rest_days']} days between emails",
                     body=f"{changed['reason']}\n\nWas {changed['was']} days. Change it, or stop the platform "
                          f"from raising it, in Growth settings.")


# --- The weekly review --------------------------------------------------------------------------------------------

def weekly_review(*, company: Company, end=None) -> dict:
    """The week's evidence with effects and intervals; each play's learned posterior; the policy's offline check."""
    from .policy import play_posteriors, policy_offline_estimate  # noqa: PLC0415

    end = end or timezone.now()
    start = end - timedelta(days=7)
    records = list(EvidenceRecord.objects.filter(company=company, recorded_at__gte=start, recorded_at__lt=end)
                   .select_related("play", "mission").order_by("-recorded_at", "-pk"))
    plays = {}
    for r in records:
        entry = plays.setdefault(r.play_id, {"play": r.play, "wins": 0, "losses": 0, "notes": [], "verdicts": {}})
        entry["wins" if r.verdict == EvidenceRecord.Verdict.WIN else "losses"] += \
            r.verdict in (EvidenceRecord.Verdict.WIN, EvidenceRecord.Verdict.LOSS)
        entry["verdicts"][r.verdict] = entry["verdicts"].get(r.verdict, 0) + 1
        entry["notes"].append(r.notes)
    posteriors = play_posteriors(company=company, plays=[e["play"] for e in plays.values()], now=end)
    rows = []
    for play_id, entry in plays.items():
        play = entry["play"]
        post = posteriors[play_id]
        probability = post.prob_positive
        verdict = ("stop (under review)" if play.status == Play.Status.UNDER_REVIEW
                   else "continue" if probability >= 0.5 else "watch")
        rows.append({**entry, "all_wins": post.wins, "all_losses": post.losses, "runs": post.runs,
                     "probability": round(probability, 2), "posterior": post, "verdict": verdict})
    rows.sort(key=lambda r: (-r["wins"], r["losses"], r["play"].key))
    return {"company": company, "start": start, "end": end, "records": records,
            "improved": [r for r in records if r.verdict == EvidenceRecord.Verdict.WIN],
            "unmoved": [r for r in records if r.verdict != EvidenceRecord.Verdict.WIN],
            "plays": rows, "offline": policy_offline_estimate(company=company, end=end)}


def weekly_review_send(*, company: Company, end=None) -> int:
    """Email the week's review to the company's owners."""
    review = weekly_review(company=company, end=end)
    body = render_to_string("commander/weekly_review.txt", review)
    return owners_alert(company=company, subject=f"Weekly review {review['start']:%Y-%m-%d} to "
                        f"{review['end']:%Y-%m-%d}", body=body)


def weekly_reviews_send(*, end=None) -> int:
    """The weekly review for every active company; returns the number of emails sent."""
    return sum(weekly_review_send(company=company, end=end) for company in Company.objects.filter(is_active=True))
