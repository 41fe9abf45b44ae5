import json

import pytest

from chimera.ai.config import TASK_TYPES
from chimera.ai.schemas import ClassificationOut, ProductDraftOut, SupportAnswerOut
from chimera.ai.services import ai_generate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _offline_only(models_file):
    models_file(providers={}, route=["offline"])


def test_product_draft_is_built_from_the_brief(company):
    # when
    result = ai_generate(company=company, task_type="product_draft", prompt="Draft a product", context={
        "category": "notion template", "audience": "freelancers and agencies", "keywords": ["budget planner", "cash"],
        "refs": ["etsy bestsellers"]})

    # then
    draft = ProductDraftOut.model_validate(result.data, context={"primary_keyword": "budget planner"})
    assert draft.title.startswith("Budget Planner") and len(draft.title) <= 70
    assert "freelancers" in draft.description and "cash" in draft.description
    assert "budget planner" in draft.tags and draft.price == 19
    assert result.provider == "offline" and result.cost_usd == 0


def test_same_inputs_same_output(company):
    context = {"product_name": "Habit Tracker"}
    first = ai_generate(company=company, task_type="listing_copy", prompt="x", context=context)
    second = ai_generate(company=company, task_type="listing_copy", prompt="x", context=context)

    assert first.content == second.content and first.data["title"].startswith("Habit Tracker")


def test_support_answer_uses_the_best_matching_snippet(company):
    result = ai_generate(company=company, task_type="support_answer", prompt="customer question", context={
        "question": "How long does a refund take?",
        "snippets": [{"title": "Shipping", "body": "Downloads are delivered instantly by email."},
                     {"title": "Refunds", "body": "A refund takes up to 5 business days. We refund to the card."}]})

    answer = SupportAnswerOut.model_validate(result.data)
    assert answer.sources == ["Refunds"] and "5 business days" in answer.answer and not answer.escalate


def test_support_answer_escalates_without_knowledge(company):
    result = ai_generate(company=company, task_type="support_answer", prompt="Can I pay in bitcoin?", context={})

    assert result.data["escalate"] is True and result.data["confidence"] < 0.5


def test_classification_picks_a_given_label(company):
    result = ai_generate(company=company, task_type="classification", prompt="classify", context={
        "text": "The download link is broken and gives an error", "labels": {
            "refund_request": ["refund", "money back"], "bug_report": ["broken", "error", "crash"], "other": []}})

    assert ClassificationOut.model_validate(result.data).label == "bug_report"


def test_email_uses_purpose_product_and_audience(company):
    result = ai_generate(company=company, task_type="email", prompt="write it", context={
        "purpose": "launch", "product": "Habit Tracker Printable", "audience": "students"})

    assert result.data["subject"] == "New: Habit Tracker Printable is here"
    assert "students" in result.data["body"]


@pytest.mark.parametrize("task_type", [t for t in TASK_TYPES if t not in (
    "product_draft", "listing_copy", "email", "support_answer", "classification")])
def test_text_tasks_answer_from_the_prompt(company, task_type):
    result = ai_generate(company=company, task_type=task_type, prompt="Grow newsletter signups for the planner shop")

    assert result.data is None
    assert "newsletter" in result.content.lower() or "signups" in result.content.lower()
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.content)
