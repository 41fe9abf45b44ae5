"""The learned lead-scoring model: a logistic regression per company, used only when it beats the rules.

Features are the rules' own building blocks, read from the lead's folded scoring state (so scoring stays
incremental): per event rule its capped, decayed points and log(1 + count), per field rule whether it
matches. Purchase rules are left out: a purchase is the outcome.

Labelled outcomes: converted leads (positive) and leads that have not bought `NEGATIVE_AFTER_DAYS`
after arriving (negative), each seen at its last event before the outcome (a buyer just before buying).
With enough of both, the model is fitted on 70% and judged on the held-out 30% against the rules (their
score turned into a probability by a one-variable logistic fit on the same training leads). It is used
only if it has both the higher AUC and the lower log loss there; every training is kept, versioned,
with its metrics (AUC, log loss, accuracy, Brier score, calibration), used or not.

When used, a lead's score is 100 × the probability, and the breakdown names each feature's part: the
score points it adds against an average lead, other things equal.
"""

import math
from datetime import timedelta

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from autonomax.models import Company

from .capture import growth_settings_for
from .models import Lead, LeadEvent, LeadScoringModel
from .scoring import (
    Rule,
    _signed,
    _us,
    field_rule_matches,
    leads_rescore,
    rule_raw_points,
    rules_fingerprint,
    rules_for,
    score_evaluate,
    score_state_fold,
)

MIN_LABELLED = 200
MIN_PER_CLASS = 30
NEGATIVE_AFTER_DAYS = 30
TEST_SHARE = 0.3
SEED = 0


def _feature_specs(rules: list[Rule]) -> list[tuple[str, str, Rule | None]]:
    """(name, label, rule) of every feature, in a fixed order."""
    specs = []
    for rule in rules:
        if rule.kind == "event" and rule.event_type != LeadEvent.Type.PURCHASE:
            specs.append((f"{rule.key}:points", f"{rule.label} (recent points)", rule))
            specs.append((f"{rule.key}:count", f"{rule.label} (how many)", rule))
        elif rule.kind == "field":
            specs.append((rule.key, rule.label, rule))
    return specs


def model_features(*, lead: Lead, state: dict, rules: list[Rule], now) -> dict[str, float]:
    now_us = _us(now)
    values = {}
    for name, _, rule in _feature_specs(rules):
        if rule.kind == "field":
            values[name] = 1.0 if field_rule_matches(rule=rule, lead=lead) else 0.0
        else:
            entry = state["rules"].get(rule.key) or {"n": 0, "times": []}
            if name.endswith(":count"):
                values[name] = math.log1p(entry["n"])
            else:
                raw = rule_raw_points(rule=rule, entry=entry, now_us=now_us)
                values[name] = max(min(raw, rule.cap), -rule.cap) if rule.cap is not None else raw
    return values


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def model_score(*, model: LeadScoringModel, lead: Lead, state: dict, rules: list[Rule],
                now) -> tuple[int, list[dict]]:
    """(score 0-100, breakdown) from the learned model: each feature's part in score points."""
    values = model_features(lead=lead, state=state, rules=rules, now=now)
    parts = [(f, f["coef"] * (values.get(f["name"], 0.0) - f["mean"]) / f["scale"]) for f in model.features]
    z = model.intercept + sum(c for _, c in parts)
    p = _sigmoid(z)
    auc = model.metrics.get("model", {}).get("auc")
    auc_rules = model.metrics.get("rules", {}).get("auc")
    breakdown = [{"rule": f"model:v{model.version}", "label": "learned model", "points": 0, "count": 1,
                  "text": f"learned model v{model.version}: {p:.0%} likely to buy (held-out AUC {auc:.2f}, "
                          f"rules {auc_rules:.2f})"}]
    items = []
    for feature, contribution in parts:
        points = round(100 * (p - _sigmoid(z - contribution)))
        if points:
            items.append({"rule": feature["name"], "label": feature["label"], "points": points, "count": 1,
                          "text": f"{_signed(points)} {feature['label']}: {values.get(feature['name'], 0.0):.2g} "
                                  f"against an average lead's {feature['mean']:.2g}"})
    breakdown += sorted(items, key=lambda item: -abs(item["points"]))
    return max(0, min(100, round(100 * p))), breakdown


def lead_model_active(*, company: Company, fingerprint: str) -> LeadScoringModel | None:
    return LeadScoringModel.objects.filter(company=company, is_active=True, rules_fingerprint=fingerprint).first()


def _examples(*, company: Company, rules: list[Rule], now) -> tuple[list[list[float]], list[int], list[int]]:
    """Features, labels and the rules' scores of every labelled lead, each seen before its outcome."""
    group = growth_settings_for(company=company)
    # In a fixed order: the held-out split is seeded, so the same leads always train the same model.
    leads = list(Lead.objects.filter(company=company).filter(
        Q(converted_at__isnull=False) | Q(created_at__lte=now - timedelta(days=NEGATIVE_AFTER_DAYS))).order_by("pk"))
    events: dict[int, list[dict]] = {lead.pk: [] for lead in leads}
    for row in (LeadEvent.objects.filter(company=company, lead_id__in=events).order_by("occurred_at", "pk")
                .values("lead_id", "type", "occurred_at", "properties")):
        events[row["lead_id"]].append(row)
    names = [name for name, _, _ in _feature_specs(rules)]
    rows, labels, rule_scores = [], [], []
    for lead in leads:
        before = [e for e in events[lead.pk] if lead.converted_at is None or e["occurred_at"] < lead.converted_at]
        # Everyone is seen at their last event before the outcome: a buyer just before buying, the others when
        # they last did something (seeing them "now" would let staleness alone tell them apart).
        seen_at = max((e["occurred_at"] for e in before), default=lead.created_at)
        lead.last_activity_at = None  # it includes the purchase
        state = score_state_fold(state=None, events=before, rules=rules, now=seen_at)
        values = model_features(lead=lead, state=state, rules=rules, now=seen_at)
        rows.append([values[name] for name in names])
        labels.append(int(lead.converted_at is not None))
        rule_scores.append(score_evaluate(lead=lead, state=state, rules=rules, group=group, now=seen_at)[0])
    return rows, labels, rule_scores


def _metrics(y, p) -> dict:
    import numpy as np  # noqa: PLC0415 - numpy and scikit-learn load only when a model is trained
    from sklearn.calibration import calibration_curve  # noqa: PLC0415
    from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score  # noqa: PLC0415

    y, p = np.asarray(y), np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    observed, predicted = calibration_curve(y, p, n_bins=5, strategy="quantile")
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum(abs(y[bins == b].mean() - p[bins == b].mean()) * (bins == b).mean() for b in set(bins.tolist()))
    return {"auc": round(float(roc_auc_score(y, p)), 4), "log_loss": round(float(log_loss(y, p, labels=[0, 1])), 4),
            "accuracy": round(float(accuracy_score(y, p >= 0.5)), 4),
            "brier": round(float(brier_score_loss(y, p)), 4), "ece": round(float(ece), 4),
            "calibration": [{"predicted": round(float(a), 3), "observed": round(float(b), 3)}
                            for a, b in zip(predicted, observed, strict=True)]}


def lead_model_train(*, company: Company, now=None) -> dict:
    """Train, judge against the rules on held-out leads, store the version; rescore the leads when the model
    in use changes. Returns what happened (`trained`: False with the reason when outcomes are too few)."""
    now = now or timezone.now()
    rules = rules_for(company=company)
    rows, labels, rule_scores = _examples(company=company, rules=rules, now=now)
    positives = sum(labels)
    negatives = len(labels) - positives
    if len(labels) < MIN_LABELLED or min(positives, negatives) < MIN_PER_CLASS:
        return {"trained": False, "reason": f"{len(labels)} labelled leads ({positives} converted, {negatives} not): "
                                            f"needs {MIN_LABELLED}, with {MIN_PER_CLASS} of each"}
    import numpy as np  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.model_selection import train_test_split  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    x, y, r = np.asarray(rows, dtype=float), np.asarray(labels), np.asarray(rule_scores, dtype=float)[:, None]
    train, test = train_test_split(np.arange(len(y)), test_size=TEST_SHARE, stratify=y, random_state=SEED)
    scaler = StandardScaler().fit(x[train])
    model = LogisticRegression(max_iter=2000).fit(scaler.transform(x[train]), y[train])
    rules_as_probability = LogisticRegression().fit(r[train], y[train])
    metrics = {"model": _metrics(y[test], model.predict_proba(scaler.transform(x[test]))[:, 1]),
               "rules": _metrics(y[test], rules_as_probability.predict_proba(r[test])[:, 1]),
               "positives": positives, "negatives": negatives}
    m, rr = metrics["model"], metrics["rules"]
    beats = m["auc"] > rr["auc"] and m["log_loss"] < rr["log_loss"]
    decision = (f"{'used' if beats else 'not used'}: held-out AUC {m['auc']:.3f} vs rules {rr['auc']:.3f}, "
                f"log loss {m['log_loss']:.3f} vs {rr['log_loss']:.3f}")
    specs = _feature_specs(rules)
    features = [{"name": name, "label": label, "mean": float(mean), "scale": float(scale), "coef": float(coef)}
                for (name, label, _), mean, scale, coef in zip(specs, scaler.mean_, scaler.scale_, model.coef_[0],
                                                              strict=True)]
    with transaction.atomic():
        was_active = LeadScoringModel.objects.filter(company=company, is_active=True).exists()
        LeadScoringModel.objects.filter(company=company, is_active=True).update(is_active=False)
        version = (LeadScoringModel.objects.filter(company=company).aggregate(v=Max("version"))["v"] or 0) + 1
        saved = LeadScoringModel.objects.create(
            company=company, version=version, trained_at=now, rules_fingerprint=rules_fingerprint(rules),
            features=features, intercept=float(model.intercept_[0]), metrics=metrics, n_train=len(train),
            n_test=len(test), is_active=beats, decision=decision)
    if beats or was_active:
        ids = list(Lead.objects.filter(company=company).values_list("pk", flat=True))
        for start in range(0, len(ids), 500):
            leads_rescore(company=company, lead_ids=ids[start:start + 500], now=now, reason=f"lead model v{version}")
    return {"trained": True, "version": saved.version, "used": beats, "decision": decision, "metrics": metrics}
