import json

import pytest
from pydantic import BaseModel, ValidationError

from chimera.ai.errors import StructuredOutputError
from chimera.ai.models import AICall
from chimera.ai.schemas import ProductDraftOut
from chimera.ai.services import ai_generate

from .openai_server import ok

pytestmark = pytest.mark.django_db

GOOD_DRAFT = {
    "title": "Budget Planner Notion Template for Freelancers",
    "description": "A Notion budget planner that tracks income, expenses and savings goals.",
    "tags": ["budget planner", "notion"], "assets": ["template link"], "price": "19.00",
    "rubric": {"readability": 4, "intent_match": 4, "uniqueness": 3, "seo": 5, "brand_fit": 3},
}
BRIEF = {"category": "notion template", "audience": "freelancers", "keywords": ["budget planner", "finance"]}


def test_schema_retry_carries_the_validation_error_and_then_succeeds(company, openai_server, models_file):
    # given: first answer's title does not start with the primary keyword, the second one does
    server = openai_server()
    server.queue(ok(json.dumps({**GOOD_DRAFT, "title": "Notion Template: Budget Planner"})), ok(json.dumps(GOOD_DRAFT)))
    models_file(providers={"alpha": server.url})

    # when
    result = ai_generate(company=company, task_type="product_draft", prompt="Draft a product", context=BRIEF)

    # then
    assert result.provider == "alpha" and result.data["title"] == GOOD_DRAFT["title"]
    assert len(server.requests) == 2
    assert server.requests[0]["response_format"] == {"type": "json_object"}
    retry_note = server.requests[1]["messages"][-1]["content"]
    assert "must start with the primary keyword 'budget planner'" in retry_note
    assert result.tokens_out == 74 and AICall.objects.get().tokens_out == 74  # both attempts counted


def test_invalid_twice_fails_clearly_and_is_logged(company, openai_server, models_file):
    # given
    server = openai_server(default=ok("Sure! Here is your product: a budget planner."))
    models_file(providers={"alpha": server.url})

    # when
    with pytest.raises(StructuredOutputError) as caught:
        ai_generate(company=company, task_type="product_draft", prompt="Draft a product", context=BRIEF)

    # then
    assert "invalid JSON twice" in caught.value.message and "not valid JSON" in caught.value.message
    assert len(server.requests) == 2
    call = AICall.objects.get()
    assert (call.status, call.error_code) == ("failed", "structured_output_invalid")
    assert call.cost_usd > 0, "both attempts were paid for"


def test_pydantic_schema_from_the_caller(company, openai_server, models_file):
    # given
    class Verdict(BaseModel):
        verdict: str
        score: int

    server = openai_server(default=ok('```json\n{"verdict": "ship it", "score": 4}\n```'))
    models_file(providers={"alpha": server.url})

    # when
    result = ai_generate(company=company, task_type="analysis", prompt="Should we ship?", schema=Verdict)

    # then
    assert result.data == {"verdict": "ship it", "score": 4}
    assert '"verdict"' in server.requests[0]["messages"][0]["content"]


def test_json_schema_dict_on_the_offline_provider(company, models_file):
    # given
    models_file(providers={}, route=["offline"])
    schema = {"type": "object", "required": ["headline", "points"],
              "properties": {"headline": {"type": "string", "maxLength": 60},
                             "points": {"type": "array", "items": {"type": "string"}, "minItems": 2}}}

    # when
    result = ai_generate(company=company, task_type="content_generation", schema=schema,
                         prompt="Launch plan for the habit tracker printable")

    # then
    assert set(result.data) == {"headline", "points"} and len(result.data["points"]) >= 2
    assert json.loads(result.content) == result.data


def test_product_draft_contract_rejects_long_titles_and_wrong_first_word():
    with pytest.raises(ValidationError, match="at most 70 characters"):
        ProductDraftOut.model_validate({**GOOD_DRAFT, "title": "Budget Planner " + "x" * 60})
    with pytest.raises(ValidationError, match="primary keyword"):
        ProductDraftOut.model_validate(GOOD_DRAFT, context={"primary_keyword": "habit tracker"})
    assert ProductDraftOut.model_validate(GOOD_DRAFT, context={"primary_keyword": "budget planner"}).price == 19
