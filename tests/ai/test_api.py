import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chimera.ai.models import AICall
from chimera.ai.services import ai_generate

from .openai_server import error, ok

pytestmark = pytest.mark.django_db
URL = "/api/v1/ai/generate"


def test_generate_works_offline_with_no_keys(owner_api, company):
    # given
    _, api = owner_api

    # when
    response = api.post(URL, {"task_type": "quick_response", "prompt": "Best price for a budget planner?"},
                        format="json")

    # then
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"content", "data", "provider", "model", "tokens_in", "tokens_out", "cost_usd",
                         "latency_ms", "fallback"}
    assert body["provider"] == "offline" and body["cost_usd"] == "0.000000" and "Budget" in body["content"]
    assert AICall.objects.get().company == company


def test_generate_with_a_configured_provider(owner_api, openai_server, models_file):
    # given
    _, api = owner_api
    server = openai_server(default=ok("Charge $19.", prompt_tokens=50, completion_tokens=5))
    models_file(providers={"alpha": server.url})

    # when
    response = api.post(URL, {"task_type": "quick_response", "prompt": "Price?", "max_tokens": 20,
                              "temperature": 0.2}, format="json")

    # then
    assert response.status_code == 200
    assert response.json()["provider"] == "alpha" and response.json()["content"] == "Charge $19."
    assert response.json()["cost_usd"] == "0.000600"
    assert server.requests[0]["max_tokens"] == 20 and server.requests[0]["temperature"] == 0.2


def test_structured_task_returns_data(owner_api):
    _, api = owner_api

    response = api.post(URL, {"task_type": "product_draft", "prompt": "Draft",
                              "context": {"keywords": ["meal planner"], "category": "printable"}}, format="json")

    assert response.status_code == 200
    assert response.json()["data"]["title"].startswith("Meal Planner")


@pytest.mark.parametrize("payload, field", [
    ({"task_type": "poetry", "prompt": "x"}, "task_type"),
    ({"task_type": "quick_response"}, "prompt"),
    ({"task_type": "quick_response", "prompt": "   "}, "prompt"),
    ({"task_type": "quick_response", "prompt": "x" * 32001}, "prompt"),
    ({"task_type": "quick_response", "prompt": "x", "max_tokens": 0}, "max_tokens"),
    ({"task_type": "quick_response", "prompt": "x", "max_tokens": 100000}, "max_tokens"),
    ({"task_type": "quick_response", "prompt": "x", "max_tokens": "many"}, "max_tokens"),
    ({"task_type": "quick_response", "prompt": "x", "temperature": 3}, "temperature"),
    ({"task_type": "quick_response", "prompt": "x", "context": ["not", "an", "object"]}, "context"),
])
def test_bad_input_is_400_with_the_field_named_and_nothing_logged(owner_api, payload, field):
    _, api = owner_api

    response = api.post(URL, payload, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid" and field in response.json()["error"]["details"]
    assert not AICall.objects.exists()


def test_prompt_plus_context_over_the_limit_is_400(owner_api):
    _, api = owner_api

    response = api.post(URL, {"task_type": "quick_response", "prompt": "x" * 31000,
                              "context": {"notes": "y" * 2000}}, format="json")

    assert response.status_code == 400 and response.json()["error"]["code"] == "prompt_too_long"
    assert not AICall.objects.exists()


def test_malformed_json_is_400(owner_api):
    _, api = owner_api

    response = api.post(URL, "{nope", content_type="application/json")

    assert response.status_code == 400 and response.json()["error"]["code"] == "parse_error"


def test_viewer_may_not_spend_and_anonymous_is_401(viewer_api, client):
    _, api = viewer_api

    assert api.post(URL, {"task_type": "quick_response", "prompt": "x"}, format="json").status_code == 403
    assert client.post(URL, {"task_type": "quick_response", "prompt": "x"}).status_code == 401
    assert not AICall.objects.exists()


def test_budget_exceeded_is_429_naming_the_budget(owner_api, openai_server, models_file):
    # given
    _, api = owner_api
    server = openai_server()
    models_file(providers={"alpha": server.url}, route=["alpha"], max_cost_usd_per_day=0)

    # when
    response = api.post(URL, {"task_type": "quick_response", "prompt": "x"}, format="json")

    # then
    assert response.status_code == 429
    error_body = response.json()["error"]
    assert error_body["code"] == "budget_exceeded" and "max_cost_usd_per_day" in error_body["details"]["budget"]


def test_all_providers_failed_is_503_with_reasons(owner_api, openai_server, models_file):
    # given
    _, api = owner_api
    server = openai_server(default=error(500))
    models_file(providers={"alpha": server.url}, route=["alpha"])

    # when
    response = api.post(URL, {"task_type": "quick_response", "prompt": "x"}, format="json")

    # then
    assert response.status_code == 503
    error_body = response.json()["error"]
    assert error_body["code"] == "all_providers_failed"
    assert error_body["details"]["providers"]["alpha"].startswith("HTTP 500")


def _data_statements(queries) -> list[str]:
    """SELECT/UPDATE/INSERT statements, leaving out the savepoints of transaction.atomic."""
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    return [s for s in statements if s in ("SELECT", "UPDATE", "INSERT", "DELETE")]


def test_offline_generate_query_count(company):
    # when
    with CaptureQueriesContext(connection) as queries:
        ai_generate(company=company, task_type="quick_response", prompt="hello")

    # then: routing preference read, the company's own AI keys (/settings/connections/, read once per call
    # because hosted providers are on the route) + call log insert (offline calls reserve no budget)
    assert _data_statements(queries) == ["SELECT", "SELECT", "INSERT"]


def test_hosted_generate_query_count(company, openai_server, models_file):
    # given
    server = openai_server()
    models_file(providers={"alpha": server.url})
    ai_generate(company=company, task_type="quick_response", prompt="first call creates the day's row")

    # when
    with CaptureQueriesContext(connection) as queries:
        ai_generate(company=company, task_type="quick_response", prompt="hello")

    # then: preference, the company's AI keys, reserve (conditional UPDATE), settle (UPDATE), call log (INSERT)
    assert _data_statements(queries) == ["SELECT", "SELECT", "UPDATE", "UPDATE", "INSERT"]
