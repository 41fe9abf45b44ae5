"""POST /api/v1/products/draft: control characters and impossible keywords are refused at the edge."""

import pytest

from chimera.ai.models import AICall
from commerce.models import ProductDraft

pytestmark = pytest.mark.django_db

BRIEF = {"category": "notion templates", "audience": "freelance designers", "keywords": ["budget planner"]}


@pytest.mark.parametrize("field, value, where, code_point", [
    ("keywords", ["bud\u001dget"], "keywords[0]", "001D"),
    ("keywords", ["budget", "plan\u0007ner"], "keywords[1]", "0007"),
    ("category", "notion\u0085templates", "category", "0085"),
    ("audience", "free\tlancers", "audience", "0009"),
])
def test_control_character_in_the_brief_is_a_422_naming_the_field(operator_api, field, value, where, code_point):
    # given
    _, api = operator_api

    # when
    response = api.post("/api/v1/products/draft", {**BRIEF, field: value}, format="json")

    # then
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "control_characters"
    assert error["details"] == {where: f"contains the control character U+{code_point}"}
    assert not ProductDraft.objects.exists()
    assert not AICall.objects.exists()  # refused before any AI spend


def test_a_first_keyword_longer_than_a_title_is_refused(operator_api):
    _, api = operator_api

    response = api.post("/api/v1/products/draft", {**BRIEF, "keywords": ["k" * 71]}, format="json")

    assert response.status_code == 400
    assert "keywords" in response.json()["error"]["details"]
    assert not ProductDraft.objects.exists()


@pytest.mark.parametrize("keyword", ["ßtraße planner", "x" * 70, "budget\u2028planner"])
def test_unusual_but_printable_keywords_make_a_draft(operator_api, keyword):
    _, api = operator_api

    response = api.post("/api/v1/products/draft", {**BRIEF, "keywords": [keyword]}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["title"].lower().startswith(keyword.lower())
