import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from autonomax.models import ConfigChange, Role
from chimera.ai.models import AIRoutingPreference, AISpendDay
from chimera.ai.selectors import ai_spend_by_day, ai_spend_summary
from chimera.ai.services import ai_generate, ai_routing_preference_set

from ..factories import MembershipFactory
from .openai_server import ok

pytestmark = pytest.mark.django_db


def _login(client, company, role=Role.OWNER):
    membership = MembershipFactory(company=company, role=role)
    client.force_login(membership.user)
    return membership


def test_panel_shows_spend_calls_by_provider_and_rates(client, company):
    # given
    _login(client, company)
    ai_generate(company=company, task_type="quick_response", prompt="hello world")

    # when
    response = client.get("/ai/")

    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "AI spend today" in html and "Calls by provider" in html and "offline" in html
    assert "Failure rate" in html and "Fallback rate" in html
    assert "skipped: OPENAI_API_KEY is not set" in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_panel_fragment_for_htmx_and_over_budget_notice(client, company, openai_server, models_file):
    # given
    _login(client, company, role=Role.VIEWER)
    models_file(providers={"alpha": openai_server().url}, max_cost_usd_per_day=0)
    ai_generate(company=company, task_type="quick_response", prompt="hello")

    # when
    response = client.get("/ai/", HTTP_HX_REQUEST="true")

    # then
    html = response.content.decode()
    assert "<html" not in html and 'id="ai-spend-panel"' in html
    assert "Over budget" in html


def test_panel_needs_login(client):
    response = client.get("/ai/")

    assert response.status_code == 302 and "/login/" in response["Location"]


def test_operator_moves_routing_to_cost_optimized_and_it_is_recorded(client, company):
    # given
    membership = _login(client, company, role=Role.OPERATOR)

    # when
    response = client.post("/ai/routing/", {"preference": "cost_optimized"})

    # then
    assert response.status_code == 302
    assert AIRoutingPreference.objects.get(company=company).preference == "cost_optimized"
    change = ConfigChange.objects.get(object_type="ai.routing_preference")
    assert change.actor == membership.user and change.changes == {"preference": ["default", "cost_optimized"]}


def test_viewer_cannot_change_routing(client, company):
    _login(client, company, role=Role.VIEWER)

    client.post("/ai/routing/", {"preference": "cost_optimized"})

    assert not AIRoutingPreference.objects.exists() and not ConfigChange.objects.exists()


def test_cost_optimized_preference_sends_every_task_down_that_route(company, openai_server, models_file):
    # given
    quality, cheap = openai_server(default=ok("quality")), openai_server(default=ok("cheap"))
    models_file(providers={"quality": quality.url, "cheap": cheap.url}, route=["quality", "offline"],
                routes={"cost_optimized": ["cheap", "offline"]})
    ai_routing_preference_set(company=company, preference="cost_optimized", reason="AI cost KPI is critical")

    # when
    result = ai_generate(company=company, task_type="content_generation", prompt="blog post")

    # then
    assert result.provider == "cheap" and quality.requests == []
    assert ConfigChange.objects.get().reason == "AI cost KPI is critical"


def test_setting_the_same_preference_twice_records_one_change(company):
    ai_routing_preference_set(company=company, preference="cost_optimized")
    ai_routing_preference_set(company=company, preference="cost_optimized")

    assert ConfigChange.objects.count() == 1


def test_spend_summary_counts_and_query_count(company, django_assert_max_num_queries):
    # given
    ai_generate(company=company, task_type="quick_response", prompt="one")
    ai_generate(company=company, task_type="quick_response", prompt="two")

    # when
    with django_assert_max_num_queries(4):
        summary = ai_spend_summary(company=company)

    # then
    assert summary["calls"] == 2 and summary["failure_rate"] == 0 and summary["fallback_rate"] == 0
    assert summary["calls_by_provider"][0]["provider"] == "offline"
    assert summary["over_budget"] is False and summary["remaining_usd"] == summary["cap_usd"]


def test_admin_lists_calls_and_changes_routing_through_the_service(admin_client, company):
    # given
    ai_generate(company=company, task_type="quick_response", prompt="hello")

    # when
    listing = admin_client.get("/admin/chimera_ai/aicall/?status=succeeded")
    saved = admin_client.post("/admin/chimera_ai/airoutingpreference/add/",
                              {"company": company.pk, "preference": "cost_optimized"})

    # then
    assert listing.status_code == 200 and "quick_response" in listing.content.decode()
    assert saved.status_code == 302
    assert AIRoutingPreference.objects.get(company=company).preference == "cost_optimized"
    assert ConfigChange.objects.get(object_type="ai.routing_preference").reason == "changed in the admin"


def test_provider_status_shows_cooldown(company, openai_server, models_file, breaker_clock):
    # given
    from chimera.ai.selectors import ai_provider_status

    from .openai_server import error

    models_file(providers={"alpha": openai_server(default=error(429, headers={"Retry-After": "120"})).url})
    ai_generate(company=company, task_type="quick_response", prompt="hi")

    # when
    status = {row["name"]: row for row in ai_provider_status()}

    # then
    assert status["alpha"]["available"] and status["alpha"]["cooldown_s"] == 120
    assert "HTTP 429" in status["alpha"]["cooldown_reason"]
    assert status["offline"]["cooldown_s"] == 0 and "quick_response" in status["offline"]["routes"]


def test_spend_per_day_against_the_cap_for_this_company_only(company, other_company, django_assert_num_queries):
    # given: a daily cap, spend on two of the last 30 days, one day too old, and the other company's bigger spend
    company.ai_max_cost_usd_per_day = Decimal("2")
    company.save()
    today = date(2026, 11, 20)
    for day, spent in ((today, "0.5"), (today - timedelta(days=3), "1.25"), (today - timedelta(days=30), "9")):
        AISpendDay.objects.create(company=company, day=day, spent_usd=Decimal(spent))
    AISpendDay.objects.create(company=other_company, day=today, spent_usd=Decimal("7"))

    # when
    with django_assert_num_queries(1):
        chart = ai_spend_by_day(company=company, today=today)

    # then
    assert len(chart["labels"]) == 30 and chart["labels"][0] == "2026-10-22" and chart["labels"][-1] == "2026-11-20"
    assert chart["spent_usd"][-1] == 0.5 and chart["spent_usd"][-4] == 1.25 and sum(chart["spent_usd"]) == 1.75
    assert chart["cap_usd"] == 2.0


def test_panel_embeds_the_spend_chart_data(client, company, other_company):
    # given
    _login(client, company)
    AISpendDay.objects.create(company=other_company, day=date(2026, 11, 20), spent_usd=Decimal("7"))
    AISpendDay.objects.create(company=company, day=date(2026, 11, 20), spent_usd=Decimal("0.25"))

    # when
    with time_machine.travel(datetime(2026, 11, 20, 12, tzinfo=UTC), tick=False):
        response = client.get("/ai/")

    # then
    html = response.content.decode()
    assert 'id="ai-spend-chart"' in html
    data = json.loads(re.search(r'id="ai-spend-chart-data" type="application/json">(.*?)</script>', html).group(1))
    assert data["spent_usd"][-1] == 0.25 and sum(data["spent_usd"]) == 0.25
