import json

import pytest
from django.core.management import CommandError, call_command

from chimera.ai.models import AICall

from ..factories import CompanyFactory

pytestmark = pytest.mark.django_db


def test_chimera_generate_prints_the_api_json(company, capsys):
    # when
    call_command("chimera_generate", "Email about the new planner", "--task-type", "email", "--company", "acme",
                 "--context", '{"purpose": "launch", "product": "Meal Planner"}', "--correlation-id", "cli-1")

    # then
    body = json.loads(capsys.readouterr().out)
    assert body["provider"] == "offline" and body["data"]["subject"] == "New: Meal Planner is here"
    assert {"content", "model", "tokens_in", "tokens_out", "cost_usd", "latency_ms"} <= set(body)
    assert AICall.objects.get().correlation_id == "cli-1"


def test_chimera_generate_picks_the_only_company(company, capsys):
    call_command("chimera_generate", "hello there", "--task-type", "quick_response")

    assert json.loads(capsys.readouterr().out)["provider"] == "offline"


def test_chimera_generate_errors_print_the_error_json(company, capsys):
    with pytest.raises(CommandError, match="unknown task_type"):
        call_command("chimera_generate", "x", "--task-type", "poetry", "--company", "acme")

    assert json.loads(capsys.readouterr().out)["error"]["code"] == "unknown_task_type"


def test_chimera_generate_needs_a_company_when_there_are_several(company):
    CompanyFactory(slug="other")

    with pytest.raises(CommandError, match="--company"):
        call_command("chimera_generate", "x", "--task-type", "quick_response")
