"""Experiments: sticky server-side assignment, waffle-flag rollout, and a read-out that tells the truth.

Assignment is deterministic (a hash of experiment and unit mapped onto the
variant weights) and stored, so a lead sees the same variant in email and in
the storefront. The waffle flag is the exposure: its percentage decides which
units enter the experiment at all (the others see the control, unassigned);
rolling out the winner sets it to everyone and every unit gets the winner.

The read-out per variant against the control: a two-sided Wald interval of the
difference in conversion rate and the p-value from the same standard error
(so "significant" and "the interval excludes zero" are one statement), the
Bayesian probability of beating the control (Beta(1, 1) priors, exact closed
form), a chi-squared sample-ratio check, and a verdict that waits for the
minimum sample and run length. With several treatments, alpha is split
(Bonferroni). A winner needs significance and a probability of beating the
control of at least 1 - alpha/2, in the same direction.
"""

import hashlib
import math
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from waffle.models import Flag

from autonomax.errors import AppError, ConflictError
from autonomax.models import Company
from autonomax.services import config_change_record

from .models import Assignment, Experiment, ExperimentVariant

SRM_THRESHOLD = 0.001


def _bucket(*parts: str) -> float:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _transition(experiment: Experiment, to: str) -> None:
    if to not in Experiment.TRANSITIONS[experiment.status]:
        raise ConflictError(f"An experiment that is {experiment.status} cannot become {to}.",
                            code="invalid_transition")


@transaction.atomic
def experiment_create(*, company: Company, key: str, name: str, variants: list[dict], unit: str = "lead",
                      hypothesis: str = "", min_sample_per_variant: int = 200, min_days: int = 7,
                      alpha: float = 0.05, exposure_percent: float = 100, correlation_id: str = "") -> Experiment:
    """variants: [{key, weight, is_control?, content?}], exactly one control (default: the first)."""
    errors = {}
    if not variants or len(variants) < 2:
        errors["variants"] = "At least two variants."
    elif len({v.get("key") for v in variants}) != len(variants):
        errors["variants"] = "Variant keys must be unique."
    elif sum(1 for v in variants if v.get("is_control")) > 1:
        errors["variants"] = "At most one control."
    elif any(int(v.get("weight", 50)) <= 0 for v in variants):
        errors["variants"] = "Weights must be positive."
    if not 0 < alpha < 0.5:
        errors["alpha"] = "Between 0 and 0.5."
    if not 0 < exposure_percent <= 100:
        errors["exposure_percent"] = "Between 0 (excluded) and 100."
    if Experiment.objects.filter(company=company, key=key).exists():
        errors["key"] = "An experiment with this key exists."
    if errors:
        raise AppError(next(iter(errors.values())), code="invalid", details=errors)
    flag_name = f"exp-{company.slug}-{key}"[:100]
    experiment = Experiment.objects.create(company=company, key=key, name=name, unit=unit, hypothesis=hypothesis,
                                           flag_name=flag_name, min_sample_per_variant=min_sample_per_variant,
                                           min_days=min_days, alpha=alpha, correlation_id=correlation_id)
    has_control = any(v.get("is_control") for v in variants)
    ExperimentVariant.objects.bulk_create([
        ExperimentVariant(company=company, experiment=experiment, key=v["key"], weight=int(v.get("weight", 50)),
                          is_control=bool(v.get("is_control")) or (not has_control and i == 0),
                          content=v.get("content") or {})
        for i, v in enumerate(variants)])
    # waffle's percent stops at 99.9: full exposure is "everyone".
    Flag.objects.update_or_create(name=flag_name, defaults={
        "percent": min(exposure_percent, 99.9), "everyone": True if exposure_percent >= 100 else None,
        "note": f"exposure of experiment {name}"})
    return experiment


def experiment_for_key(*, company: Company, key: str) -> Experiment | None:
    return Experiment.objects.filter(company=company, key=key).first()


@transaction.atomic
def experiment_start(*, experiment: Experiment, actor=None, now=None) -> Experiment:
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    _transition(experiment, Experiment.Status.RUNNING)
    experiment.status = Experiment.Status.RUNNING
    experiment.started_at = experiment.started_at or now or timezone.now()
    experiment.save(update_fields=["status", "started_at"])
    config_change_record(company=experiment.company, actor=actor, object_type="growth.experiment",
                         object_id=experiment.key, changes={"status": ["draft", "running"]})
    return experiment


@transaction.atomic
def experiment_stop(*, experiment: Experiment, actor=None, now=None) -> Experiment:
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    _transition(experiment, Experiment.Status.STOPPED)
    experiment.status, experiment.stopped_at = Experiment.Status.STOPPED, now or timezone.now()
    experiment.final_readout = experiment_readout(experiment=experiment, now=experiment.stopped_at)
    experiment.save(update_fields=["status", "stopped_at", "final_readout"])
    return experiment


def _variants(experiment: Experiment) -> list[ExperimentVariant]:
    return list(experiment.variants.order_by("-is_control", "key"))


def variant_for(*, experiment: Experiment, unit_id: int, now=None) -> str:
    """The variant this unit sees; stored on first assignment (sticky), the same on every channel."""
    variants = _variants(experiment)
    control = next(v for v in variants if v.is_control)
    if experiment.status == Experiment.Status.ROLLED_OUT:
        return experiment.winner
    existing = Assignment.objects.filter(experiment=experiment, unit_id=unit_id).values_list("variant", flat=True)
    if existing:
        return existing[0]
    if experiment.status != Experiment.Status.RUNNING:
        return control.key
    flag = Flag.objects.filter(name=experiment.flag_name).first()
    exposure = 100.0 if flag is None or flag.everyone else float(flag.percent or 0)
    if flag is not None and flag.everyone is False:
        exposure = 0.0
    if _bucket(experiment.flag_name, "exposure", str(unit_id)) * 100 >= exposure:
        return control.key  # outside the experiment: the control experience, not counted
    point = _bucket(experiment.key, str(experiment.pk), str(unit_id)) * sum(v.weight for v in variants)
    chosen = variants[-1]
    for variant in variants:
        if point < variant.weight:
            chosen = variant
            break
        point -= variant.weight
    try:
        with transaction.atomic():
            Assignment.objects.create(company_id=experiment.company_id, experiment=experiment, unit_id=unit_id,
                                      variant=chosen.key, assigned_at=now or timezone.now())
    except IntegrityError:  # a concurrent request assigned it first: theirs stands
        return Assignment.objects.get(experiment=experiment, unit_id=unit_id).variant
    return chosen.key


def experiment_convert(*, experiment: Experiment, unit_id: int, at=None) -> bool:
    """The unit converted (first time counts); units never assigned are not counted."""
    return bool(Assignment.objects.filter(experiment=experiment, unit_id=unit_id, converted_at__isnull=True)
                .update(converted_at=at or timezone.now()))


def experiments_convert_unit(*, company: Company, unit: str, unit_id: int, at: datetime) -> int:
    """A purchase converts the unit in every running experiment of its kind (assigned before buying)."""
    return Assignment.objects.filter(
        company=company, experiment__unit=unit, experiment__status=Experiment.Status.RUNNING, unit_id=unit_id,
        converted_at__isnull=True, assigned_at__lte=at).update(converted_at=at)


# --- Read-out --------------------------------------------------------------------------------


def prob_beat(*, conv_a: int, n_a: int, conv_b: int, n_b: int) -> float:
    """P(p_b > p_a) for Beta(1 + conv, 1 + n - conv) posteriors, exact (Evan Miller's closed form)."""
    import numpy as np  # noqa: PLC0415  (scipy and numpy load on the first read-out, not at start-up)
    from scipy import special  # noqa: PLC0415

    alpha_a, beta_a = 1 + conv_a, 1 + n_a - conv_a
    alpha_b, beta_b = 1 + conv_b, 1 + n_b - conv_b
    i = np.arange(alpha_b, dtype=float)
    terms = (special.betaln(alpha_a + i, beta_a + beta_b) - np.log(beta_b + i) - special.betaln(1 + i, beta_b)
             - special.betaln(alpha_a, beta_a))
    return float(min(max(np.exp(terms).sum(), 0.0), 1.0))


def diff_test(*, conv_a: int, n_a: int, conv_b: int, n_b: int, alpha: float) -> dict:
    """Difference b - a in rate: Wald interval and two-sided p-value from the same standard error."""
    from scipy import stats  # noqa: PLC0415

    p_a, p_b = conv_a / n_a, conv_b / n_b
    diff = p_b - p_a
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    z_crit = float(stats.norm.ppf(1 - alpha / 2))
    if se == 0:
        p_value = 1.0 if diff == 0 else 0.0
    else:
        p_value = float(2 * stats.norm.sf(abs(diff) / se))
    return {"diff": diff, "ci_low": diff - z_crit * se, "ci_high": diff + z_crit * se, "p_value": p_value,
            "significant": p_value < alpha}


def srm_p(*, counts: list[int], weights: list[int]) -> float | None:
    from scipy import stats  # noqa: PLC0415

    total = sum(counts)
    if total == 0:
        return None
    expected = [total * w / sum(weights) for w in weights]
    return float(stats.chisquare(counts, f_exp=expected).pvalue)


def readout_compute(*, variants: list[dict], started_at, now, min_sample: int, min_days: int, alpha: float,
                    running: bool) -> dict:
    """variants: [{key, weight, is_control, n, conversions}] -> the read-out (see the module doc)."""
    control = next(v for v in variants if v["is_control"])
    treatments = [v for v in variants if not v["is_control"]]
    alpha_each = alpha / max(len(treatments), 1)
    rows = []
    for v in variants:
        row = {"key": v["key"], "is_control": v["is_control"], "weight": v["weight"], "n": v["n"],
               "conversions": v["conversions"], "rate": v["conversions"] / v["n"] if v["n"] else None}
        if not v["is_control"] and v["n"] and control["n"]:
            test = diff_test(conv_a=control["conversions"], n_a=control["n"], conv_b=v["conversions"], n_b=v["n"],
                             alpha=alpha_each)
            row.update(prob_beat_control=prob_beat(conv_a=control["conversions"], n_a=control["n"],
                                                   conv_b=v["conversions"], n_b=v["n"]), **test)
        rows.append(row)
    srm = srm_p(counts=[v["n"] for v in variants], weights=[v["weight"] for v in variants])
    days = (now - started_at).total_seconds() / 86400 if started_at else 0.0
    reasons = []
    if srm is not None and srm < SRM_THRESHOLD:
        verdict, winner = "unhealthy", None
        reasons.append(f"sample ratio mismatch: p = {srm:.2g} < {SRM_THRESHOLD} (assignment or tracking is broken)")
    elif days < min_days and running:
        verdict, winner = "running", None
        reasons.append(f"ran {days:.1f} of at least {min_days} days")
    elif min(v["n"] for v in variants) < min_sample or days < min_days:
        verdict, winner = "insufficient_data", None
        reasons.append(f"each variant needs at least {min_sample} units and {min_days} days")
    else:
        confident = 1 - alpha_each / 2
        better = [r for r in rows if r.get("significant") and r["diff"] > 0 and r["prob_beat_control"] >= confident]
        worse = [r for r in rows if not r["is_control"] and r.get("significant") and r["diff"] < 0
                 and r["prob_beat_control"] <= 1 - confident]
        if better:
            winner = max(better, key=lambda r: r["diff"])["key"]
            verdict = "winner"
        elif treatments and len(worse) == len(treatments):
            verdict, winner = "winner", control["key"]
        else:
            verdict, winner = "no_difference", None
            reasons.append("no variant differs from the control at the chosen significance")
    return {"variants": rows, "srm_p": srm, "days": round(days, 2), "min_sample_per_variant": min_sample,
            "min_days": min_days, "alpha": alpha, "alpha_per_comparison": alpha_each, "verdict": verdict,
            "winner": winner, "reasons": reasons}


def experiment_readout(*, experiment: Experiment, now=None) -> dict:
    """The read-out from the stored assignments (one query for the counts)."""
    now = now or timezone.now()
    counts = {row["variant"]: row for row in Assignment.objects.filter(experiment=experiment).values("variant")
              .annotate(n=Count("id"), conversions=Count("id", filter=Q(converted_at__isnull=False)))}
    variants = [{"key": v.key, "weight": v.weight, "is_control": v.is_control,
                 "n": counts.get(v.key, {}).get("n", 0), "conversions": counts.get(v.key, {}).get("conversions", 0)}
                for v in _variants(experiment)]
    result = readout_compute(variants=variants, started_at=experiment.started_at,
                             now=experiment.stopped_at or now, min_sample=experiment.min_sample_per_variant,
                             min_days=experiment.min_days, alpha=experiment.alpha,
                             running=experiment.status == Experiment.Status.RUNNING)
    return {"id": experiment.pk, "key": experiment.key, "status": experiment.status, **result}


@transaction.atomic
def experiment_rollout(*, experiment: Experiment, actor, variant: str | None = None, now=None) -> Experiment:
    """Roll out the read-out's winner (or a named variant): the flag goes to everyone; who and when recorded."""
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    _transition(experiment, Experiment.Status.ROLLED_OUT)
    readout = experiment_readout(experiment=experiment, now=now)
    chosen = variant or readout["winner"]
    if not chosen:
        raise ConflictError(f"No winner to roll out (verdict: {readout['verdict']}); name a variant to override.",
                            code="no_winner")
    if chosen not in {v.key for v in _variants(experiment)}:
        raise AppError(f"Unknown variant {chosen!r}.", code="invalid", details={"variant": "unknown"})
    now = now or timezone.now()
    experiment.status, experiment.winner = Experiment.Status.ROLLED_OUT, chosen
    experiment.rolled_out_by = actor if getattr(actor, "is_authenticated", False) else None
    experiment.rolled_out_at = now
    experiment.stopped_at = experiment.stopped_at or now
    experiment.final_readout = experiment.final_readout or readout
    experiment.save(update_fields=["status", "winner", "rolled_out_by", "rolled_out_at", "stopped_at",
                                   "final_readout"])
    Flag.objects.update_or_create(name=experiment.flag_name, defaults={
        "everyone": True, "percent": 99.9, "note": f"winner {chosen} rolled out to 100%"})
    config_change_record(company=experiment.company, actor=actor, object_type="growth.experiment",
                         object_id=experiment.key, changes={"winner": [None, chosen], "flag": ["percent", "100%"]},
                         reason=f"verdict {readout['verdict']}", expected_effect=f"everyone sees {chosen}")
    return experiment


# A finished experiment's verdict in the commander's evidence vocabulary.
EVIDENCE_VERDICTS = {"no_difference": "no_effect", "insufficient_data": "inconclusive", "unhealthy": "inconclusive",
                     "running": "inconclusive"}


def experiment_evidence(*, experiment: Experiment) -> dict:
    """What a finished experiment measured, as evidence: the best treatment against the control (absolute
    difference in conversion rate), its interval, p-value and probability of beating the control, and a
    verdict: win (a treatment won), loss (the control beat every treatment), no_effect or inconclusive."""
    readout = experiment.final_readout
    rows = readout["variants"]
    control = next(r for r in rows if r["is_control"])
    treatments = [r for r in rows if not r["is_control"] and r.get("diff") is not None]
    best = max(treatments, key=lambda r: r["diff"], default=None)
    if readout["verdict"] == "winner":
        verdict = "loss" if readout["winner"] == control["key"] else "win"
    else:
        verdict = EVIDENCE_VERDICTS[readout["verdict"]]
    return {"experiment": experiment.key, "correlation_id": experiment.correlation_id, "method": "experiment",
            "verdict": verdict, "winner": readout["winner"], "treatment": best and best["key"],
            "effect": best and best["diff"], "ci_low": best and best["ci_low"], "ci_high": best and best["ci_high"],
            "p_value": best and best["p_value"], "prob_improvement": best and best["prob_beat_control"],
            "treated_n": best and best["n"], "control_n": control["n"], "control_rate": control["rate"],
            "ci_level": 1 - readout["alpha_per_comparison"], "window_start": experiment.started_at,
            "window_end": experiment.stopped_at, "reasons": readout["reasons"]}
