"""The company's own intent classifier: scikit-learn, trained on the tickets people labelled, next to the AI
engine's classification as fallback and check.

- Labels: a person setting or correcting a ticket's intent (`ticket_intent_label`) makes that ticket a label.
- Model: word and character n-gram TF-IDF into a logistic regression, calibrated (CalibratedClassifierCV);
  its class probability is the confidence. `intent_cv_report` measures accuracy and calibration (Brier, ECE)
  on a grouped cross-validation.
- Versions: every training stores a new `IntentModel` row (the pickled pipeline, how many labels, the
  cross-validated accuracy); the newest version is the one used. Only this module writes the pickle, and
  only this module reads it back.
- Use (in the copilot): the AI engine down or over budget → the model's intent; the AI unsure → the model's
  intent when it is surer; the two disagreeing → the intent confidence is multiplied by (1 - the other's
  confidence), so a disagreement lowers the answer confidence below the auto-send threshold.
"""

import io
import logging
import pickle
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from autonomax.errors import AppError
from autonomax.models import Company

from .models import IntentModel, Ticket, TicketEvent, TicketMessage

logger = logging.getLogger(__name__)

INTENT_LABELS = ("faq", "order_status", "refund", "tech_support", "sales", "other")
MIN_LABELLED = 20  # fewer labelled tickets than this train no model
MIN_INTENTS = 2
AI_UNSURE = 0.5  # below this AI confidence the model's intent wins when the model is surer


def intent_pipeline(smallest_class: int = 0):
    """A fresh, unfitted pipeline: word 1-2-grams and character 2-5-grams (typos, inflections) into a logistic
    regression, calibrated by CalibratedClassifierCV (3 folds; isotonic once every intent has 20 labels,
    sigmoid below) when every intent has at least 3 labels, else its plain probabilities."""
    from sklearn.calibration import CalibratedClassifierCV  # noqa: PLC0415 - keep the import off start-up
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import FeatureUnion, make_pipeline  # noqa: PLC0415

    features = FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode")),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, strip_accents="unicode")),
    ])
    model = LogisticRegression(C=10.0, max_iter=2000)
    if smallest_class >= 3:
        model = CalibratedClassifierCV(model, method="isotonic" if smallest_class >= 20 else "sigmoid", cv=3)
    return make_pipeline(features, model)


def ticket_text(subject: str, body: str) -> str:
    return f"{subject or ''}\n{body or ''}".strip()


@dataclass(frozen=True)
class IntentGuess:
    intent: str
    confidence: float
    version: int


@dataclass(frozen=True)
class IntentVerdict:
    """The intent the copilot acts on, where it came from, and what each side said."""

    intent: str
    confidence: float
    source: str  # ai, model (AI down), ai+model (agree), ai_over_model, model_over_ai (disagree)
    ai_intent: str = ""
    ai_confidence: float | None = None
    check: IntentGuess | None = None


def intent_combine(*, ai_intent: str | None, ai_confidence: float, check: IntentGuess | None) -> IntentVerdict:
    """The AI engine's intent checked by the company's model (`ai_intent` None: the AI engine is down)."""
    if ai_intent is None:
        if check is None:
            raise ValueError("no classification at all")
        return IntentVerdict(check.intent, round(check.confidence, 4), "model", check=check)
    if check is None:
        return IntentVerdict(ai_intent, round(ai_confidence, 4), "ai", ai_intent, ai_confidence)
    if check.intent == ai_intent:
        return IntentVerdict(ai_intent, round(max(ai_confidence, check.confidence), 4), "ai+model", ai_intent,
                             ai_confidence, check)
    if ai_confidence < AI_UNSURE and check.confidence > ai_confidence:
        return IntentVerdict(check.intent, round(check.confidence * (1 - ai_confidence), 4), "model_over_ai",
                             ai_intent, ai_confidence, check)
    return IntentVerdict(ai_intent, round(ai_confidence * (1 - check.confidence), 4), "ai_over_model", ai_intent,
                         ai_confidence, check)


# --- labels -----------------------------------------------------------------------------------------------

def ticket_intent_label(*, ticket: Ticket, intent: str, user) -> Ticket:
    """A person sets (or confirms) a ticket's intent; the ticket becomes a label for the company's model."""
    if intent not in INTENT_LABELS:
        raise AppError("Unknown intent.", code="invalid", details={"intent": [f"one of {', '.join(INTENT_LABELS)}"]})
    at = timezone.now()
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        before = ticket.intent
        ticket.intent, ticket.intent_labelled_at = intent, at
        ticket.intent_labelled_by = user if getattr(user, "is_authenticated", False) else None
        ticket.save(update_fields=["intent", "intent_labelled_at", "intent_labelled_by"])
        TicketEvent.objects.create(ticket=ticket, kind=TicketEvent.Kind.INTENT, actor="person",
                                   user=ticket.intent_labelled_by, created_at=at,
                                   data={"from": before, "to": intent, "correction": before != intent})
    return ticket


def labelled_examples(*, company: Company) -> tuple[list[str], list[str], list[str]]:
    """(texts, intents, customer emails) of the company's tickets a person labelled; the text is the subject
    and the first customer message, what the intent was given for."""
    tickets = list(Ticket.objects.filter(company=company, intent_labelled_at__isnull=False)
                   .order_by("pk").values_list("pk", "subject", "intent", "customer_email"))
    first: dict[int, str] = {}
    for ticket_id, body in (TicketMessage.objects.filter(ticket_id__in=[t[0] for t in tickets],
                                                         author=TicketMessage.Author.CUSTOMER)
                            .order_by("ticket_id", "created_at", "pk").values_list("ticket_id", "body")):
        first.setdefault(ticket_id, body)
    return ([ticket_text(subject, first.get(pk, "")) for pk, subject, _, _ in tickets],
            [intent for _, _, intent, _ in tickets], [email for *_, email in tickets])


# --- training and measuring -------------------------------------------------------------------------------

def intent_cv_report(texts: list[str], intents: list[str], groups: list[str], *, folds: int = 5,
                     extra: dict[str, list[str]] | None = None) -> dict:
    """Cross-validated accuracy of the pipeline, overall, per intent and per any `extra` grouping (e.g.
    language): out-of-fold predictions from a grouped split, so tickets of one group (one customer, one
    template) are never in both train and test. Also the Brier score and the expected calibration error of
    the predicted probability."""
    import numpy as np  # noqa: PLC0415
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict  # noqa: PLC0415

    y = np.array(intents)
    n_groups = len(set(groups))
    folds = max(2, min(folds, n_groups, min(Counter(intents).values())))
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=14)
    in_fold = min(Counter(intents).values()) * (folds - 1) // folds  # the smallest intent in a training fold
    proba = cross_val_predict(intent_pipeline(in_fold), texts, y, groups=groups, cv=cv, method="predict_proba")
    classes = np.array(sorted(set(intents)))
    predicted = classes[proba.argmax(axis=1)]
    confidence = proba.max(axis=1)
    right = predicted == y
    report = {"tickets": len(y), "folds": folds, "groups": n_groups, "accuracy": round(float(right.mean()), 4),
              "per_intent": _accuracy_by(right, list(y))}
    for name, values in (extra or {}).items():
        report[f"per_{name}"] = _accuracy_by(right, values)
    onehot = (classes[None, :] == y[:, None]).astype(float)
    report["brier"] = round(float(((proba - onehot) ** 2).sum(axis=1).mean()), 4)
    report["ece"] = _ece(confidence, right)
    report["predicted"] = [str(p) for p in predicted]
    report["confidence"] = [round(float(c), 4) for c in confidence]
    return report


def _accuracy_by(right, keys: list[str]) -> dict[str, float]:
    totals, hits = Counter(keys), Counter(k for k, r in zip(keys, right, strict=True) if r)
    return {str(k): round(hits[k] / totals[k], 3) for k in sorted(totals)}


def _ece(confidence, right, bins: int = 10) -> float:
    """Expected calibration error: mean |accuracy - confidence| over equal-width confidence bins, weighted."""
    total, error = len(right), 0.0
    for lo in range(bins):
        mask = (confidence > lo / bins) & (confidence <= (lo + 1) / bins)
        if mask.any():
            error += mask.sum() / total * abs(right[mask].mean() - confidence[mask].mean())
    return round(float(error), 4)


def _dump(pipeline) -> bytes:
    buffer = io.BytesIO()
    pickle.dump(pipeline, buffer, protocol=pickle.HIGHEST_PROTOCOL)
    return buffer.getvalue()


@lru_cache(maxsize=64)
def _load(model_id: int, created_at: str):
    """The fitted pipeline of one stored version. Keyed by id and creation time: SQLite reuses the id of a
    deleted row, and a cached pipeline must never stand in for another."""
    blob = IntentModel.objects.filter(pk=model_id).values_list("blob", flat=True).first()
    return pickle.loads(bytes(blob)) if blob is not None else None  # noqa: S301 - written by intent_model_store


def intent_model_store(*, company: Company, pipeline, trained_on: int, metrics: dict) -> IntentModel:
    """Store a fitted pipeline as the company's next version."""
    with transaction.atomic():
        Company.objects.select_for_update().filter(pk=company.pk).first()  # one version number at a time
        last = IntentModel.objects.filter(company=company).aggregate(v=Max("version"))["v"] or 0
        return IntentModel.objects.create(
            company=company, version=last + 1, trained_on=trained_on, labels=list(pipeline.classes_),
            metrics=metrics, blob=_dump(pipeline), created_at=timezone.now())


@dataclass
class TrainResult:
    model: IntentModel | None
    reason: str = ""  # why no model was trained


def intent_model_train(*, company: Company, force: bool = False) -> TrainResult:
    """Train the company's model on its labelled tickets, with a cross-validated report, as a new version.
    Nothing new since the last version (same number of labels) → no new version unless `force`."""
    texts, intents, emails = labelled_examples(company=company)
    counts = Counter(intents)
    if len(texts) < MIN_LABELLED or len(counts) < MIN_INTENTS:
        return TrainResult(None, f"needs {MIN_LABELLED} labelled tickets over {MIN_INTENTS} intents "
                                 f"(has {len(texts)} over {len(counts)})")
    latest = intent_model_latest(company=company)
    labelled_until = Ticket.objects.filter(company=company).aggregate(at=Max("intent_labelled_at"))["at"]
    if not force and latest is not None and latest.trained_on == len(texts) and (
            labelled_until is None or labelled_until <= latest.created_at):
        return TrainResult(None, f"no new labels since version {latest.version}")
    metrics = {"labels": dict(sorted(counts.items()))}
    if min(counts.values()) >= 2 and len(set(emails)) >= 2:
        cv = intent_cv_report(texts, intents, emails)
        metrics |= {k: cv[k] for k in ("folds", "accuracy", "per_intent", "brier", "ece")}
    pipeline = intent_pipeline(min(counts.values())).fit(texts, intents)
    model = intent_model_store(company=company, pipeline=pipeline, trained_on=len(texts), metrics=metrics)
    logger.info("company %s: intent model v%s on %s tickets (cv accuracy %s)", company.pk, model.version,
                len(texts), metrics.get("accuracy"))
    return TrainResult(model)


def intent_model_latest(*, company: Company) -> IntentModel | None:
    return (IntentModel.objects.filter(company=company).defer("blob").order_by("-version").first())


def intent_predict(*, company: Company, text: str) -> IntentGuess | None:
    """The company's newest model's intent and probability for `text`; None when it has no model."""
    latest = intent_model_latest(company=company)
    if latest is None:
        return None
    pipeline = _load(latest.pk, latest.created_at.isoformat())
    if pipeline is None:
        return None
    proba = pipeline.predict_proba([text])[0]
    best = int(proba.argmax())
    return IntentGuess(str(pipeline.classes_[best]), round(float(proba[best]), 4), latest.version)


def intent_models_train_all() -> dict[str, str]:
    """Nightly: a new version for every company with new labels. {company slug: version or why not}."""
    out = {}
    company_ids = (Ticket.objects.filter(intent_labelled_at__isnull=False).values_list("company_id", flat=True)
                   .distinct())
    for company in Company.objects.filter(pk__in=company_ids).order_by("pk"):
        result = intent_model_train(company=company)
        out[company.slug] = f"v{result.model.version}" if result.model else result.reason
    return out
