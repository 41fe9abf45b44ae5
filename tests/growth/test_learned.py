"""The learned lead-scoring model: trained per company on labelled outcomes, used only if it beats the rules."""

import io
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count, Q

from growth.learned import lead_model_train
from growth.models import Lead, LeadEvent, LeadScoringModel, ScoringRule
from growth.scoring import leads_rescore

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 7, 10, 0, tzinfo=UTC)


def _rule(company, label, event_type, points, **kwargs):
    return ScoringRule.objects.create(company=company, kind="event", label=label, event_type=event_type,
                                      points=points, **kwargs)


def _leads(company, n, outcome, seed):
    """n matured leads; `outcome(rng, lead_index) -> (events [(type, days_before_cutoff)], converted)`."""
    rng = random.Random(seed)
    created = NOW - timedelta(days=90)
    leads = Lead.objects.bulk_create([Lead(company=company, email=f"p{i}@{company.slug}.example", created_at=created)
                                      for i in range(n)])
    events = []
    for i, lead in enumerate(leads):
        happened, converted = outcome(rng, i)
        cutoff = NOW - timedelta(days=20)
        if converted:
            lead.converted_at = cutoff
            lead.status = Lead.Status.CONVERTED
            events.append(LeadEvent(company=company, lead=lead, type="purchase", idempotency_key=f"buy{i}",
                                    occurred_at=cutoff))
        events += [LeadEvent(company=company, lead=lead, type=kind, idempotency_key=f"e{i}-{j}",
                             occurred_at=cutoff - timedelta(days=days, hours=1), properties={"path": "/"})
                   for j, (kind, days) in enumerate(happened)]
    Lead.objects.bulk_update(leads, ["converted_at", "status"])
    LeadEvent.objects.bulk_create(events)
    return leads


def _clicks_drive_buying(rng, i):
    """The known signal: clicks decide (p = sigmoid(-6 + 3·clicks)); page views are noise."""
    clicks, views = rng.randint(0, 4), rng.randint(0, 8)
    converted = rng.random() < 1 / (1 + math.exp(6 - 3 * clicks))
    return [("email_click", rng.randint(0, 10)) for _ in range(clicks)] + \
        [("page_view", rng.randint(0, 10)) for _ in range(views)], converted


def test_a_model_that_finds_the_real_signal_beats_the_rules_and_scores_with_a_readable_breakdown(
        company, other_company):
    # given: acme's rules reward page views, but clicks are what make people buy; globex has its own leads
    _rule(company, "page view", "page_view", 5, cap=50, half_life_days=14)
    _rule(company, "email click", "email_click", 1, half_life_days=14)
    _leads(company, 400, _clicks_drive_buying, seed=1)
    theirs = _leads(other_company, 50, _clicks_drive_buying, seed=2)
    leads_rescore(company=other_company, lead_ids=[lead.pk for lead in theirs], now=NOW)
    their_scores = dict(Lead.objects.filter(company=other_company).values_list("pk", "score"))

    # when
    result = lead_model_train(company=company, now=NOW)

    # then: it beats the rules on held-out leads and is accurate and calibrated
    model, rules = result["metrics"]["model"], result["metrics"]["rules"]
    assert result["used"] and result["version"] == 1
    assert model["auc"] > rules["auc"] and model["log_loss"] < rules["log_loss"]
    assert model["accuracy"] > 0.85, model
    assert model["ece"] < 0.1 and len(model["calibration"]) == 5
    saved = LeadScoringModel.objects.get(company=company)
    assert saved.is_active and saved.n_test == 120 and saved.metrics == result["metrics"]
    weight = {}
    for feature in saved.features:
        weight[feature["label"].split(" (")[0]] = weight.get(feature["label"].split(" (")[0], 0) + feature["coef"]
    assert weight["email click"] > 1 > abs(weight["page view"])  # it learned what matters

    # then: the leads were rescored by the model; the breakdown names the model and each feature's part
    clicker = Lead.objects.filter(company=company).annotate(
        clicks=Count("events", filter=Q(events__type="email_click"))).order_by("-clicks", "pk").first()
    assert clicker.score_breakdown[0]["text"].startswith("learned model v1: ")
    assert any(item["label"].startswith("email click") and item["points"] > 0
               for item in clicker.score_breakdown[1:])
    # another company's leads and models are untouched
    assert dict(Lead.objects.filter(company=other_company).values_list("pk", "score")) == their_scores
    assert not LeadScoringModel.objects.filter(company=other_company).exists()


def _rules_are_the_truth(rng, i):
    """Buying follows the rules' own score (page views), with 10% of outcomes flipped; opens are noise."""
    views, opens = rng.randint(0, 10), rng.randint(0, 6)
    converted = (views >= 5) != (rng.random() < 0.1)
    return [("page_view", 1) for _ in range(views)] + [("email_open", rng.randint(0, 30)) for _ in range(opens)], \
        converted


def test_when_the_rules_explain_the_outcomes_the_model_is_kept_but_not_used(company):
    # given
    _rule(company, "page view", "page_view", 10, cap=100)
    _rule(company, "email open", "email_open", 1, half_life_days=7)
    _leads(company, 300, _rules_are_the_truth, seed=3)
    leads_rescore(company=company, lead_ids=list(Lead.objects.values_list("pk", flat=True)), now=NOW)
    before = dict(Lead.objects.values_list("pk", "score_breakdown"))

    # when
    result = lead_model_train(company=company, now=NOW)

    # then: stored with its metrics, not used; the rules keep scoring
    assert result["trained"] and not result["used"], result["decision"]
    saved = LeadScoringModel.objects.get()
    assert not saved.is_active and saved.decision.startswith("not used: held-out AUC")
    assert saved.metrics["rules"]["auc"] >= saved.metrics["model"]["auc"] or \
        saved.metrics["rules"]["log_loss"] <= saved.metrics["model"]["log_loss"]
    assert dict(Lead.objects.values_list("pk", "score_breakdown")) == before


def test_too_few_outcomes_train_nothing_and_the_command_says_why(company):
    _leads(company, 40, _clicks_drive_buying, seed=4)
    out = io.StringIO()

    call_command("train_lead_model", "--company", "acme", stdout=out)

    assert "acme: not trained: 40 labelled leads" in out.getvalue()
    assert not LeadScoringModel.objects.exists()


def test_the_command_reports_accuracy_and_calibration_and_versions_each_training(company):
    _rule(company, "page view", "page_view", 5, cap=50, half_life_days=14)
    _rule(company, "email click", "email_click", 1, half_life_days=14)
    _leads(company, 300, _clicks_drive_buying, seed=5)
    out = io.StringIO()

    call_command("train_lead_model", stdout=out)
    call_command("train_lead_model", stdout=out)

    text = out.getvalue()
    assert "acme: lead model v1 used: held-out AUC" in text and "acme: lead model v2" in text
    assert "accuracy" in text and "calibration (predicted->observed)" in text
    assert list(LeadScoringModel.objects.values_list("version", "is_active")) == [(2, True), (1, False)]
