"""The routing preference and the company's own AI keys are read on every AI call: each process keeps a copy,
dropped when a change commits here and re-read within `CHECK_EVERY_S` when another process's change
published a new version token in the shared cache. These tests commit (transaction=True), as callers of the
engine do."""

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from autonomax.connections import connection_remove, connection_save
from autonomax.models import Connection, Role
from chimera.ai import company_settings
from chimera.ai.company_settings import CHECK_EVERY_S, ai_company_settings_forget
from chimera.ai.models import AIRoutingPreference
from chimera.ai.services import ai_generate, ai_routing_preference_get, ai_routing_preference_set
from tests.factories import CompanyFactory, MembershipFactory

from .conftest import ManualClock
from .openai_server import ok

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tenants():
    return CompanyFactory(slug="cached"), CompanyFactory(slug="other-cached")


@pytest.fixture
def settings_clock(monkeypatch) -> ManualClock:
    """The copies' clock, moved only by the test."""
    clock = ManualClock()
    monkeypatch.setattr(company_settings, "_clock", clock)
    return clock


def _reads(captured, model) -> int:
    return sum(1 for q in captured.captured_queries if f'"{model._meta.db_table}"' in q["sql"]
               or f" {model._meta.db_table} " in q["sql"])


def _routes(openai_server, models_file):
    quality, cheap = openai_server(default=ok("quality")), openai_server(default=ok("cheap"))
    models_file(providers={"quality": quality.url, "cheap": cheap.url}, route=["quality", "offline"],
                routes={"cost_optimized": ["cheap", "offline"]})


def test_calls_after_the_first_read_neither_preference_nor_keys_and_a_change_applies_at_once(
        tenants, openai_server, models_file, settings_clock):
    # given two routes, and a first call of the day (it creates the day's ledger row)
    company, other = tenants
    _routes(openai_server, models_file)
    assert ai_generate(company=company, task_type="quick_response", prompt="one").provider == "quality"
    ai_company_settings_forget()
    # when a call reads the settings, and the next one runs
    with CaptureQueriesContext(connection) as reading:
        ai_generate(company=company, task_type="quick_response", prompt="two")
    with CaptureQueriesContext(connection) as cached:
        result = ai_generate(company=company, task_type="quick_response", prompt="three")
    # then the first read the preference and the keys, once each; the next read neither: only the ledger's
    # reservation and the call log remain
    assert _reads(reading, AIRoutingPreference) == 1 and _reads(reading, Connection) == 1
    assert result.provider == "quality"
    assert _reads(cached, AIRoutingPreference) == 0 and _reads(cached, Connection) == 0
    assert len(cached) == len(reading) - 2
    # when the preference changes (committed), then the very next call follows it (no clock moved)
    ai_routing_preference_set(company=company, preference="cost_optimized", reason="AI cost is critical")
    assert ai_generate(company=company, task_type="quick_response", prompt="four").provider == "cheap"
    # and the other company keeps its own preference
    assert ai_generate(company=other, task_type="quick_response", prompt="five").provider == "quality"
    assert ai_routing_preference_get(company=other) == "default"


def test_a_change_committed_by_another_process_applies_within_the_check_interval(tenants, settings_clock):
    # given this process holds both companies' preferences
    company, other = tenants
    assert ai_routing_preference_get(company=company) == "default"
    assert ai_routing_preference_get(company=other) == "default"
    # when another process commits a change: its row, then its new version token in the shared cache
    AIRoutingPreference.objects.create(company=company, preference="cost_optimized")
    cache.set(company_settings._version_key(company), "another-process-token")
    # then this process keeps its copy until the check interval has passed, without a query
    with CaptureQueriesContext(connection) as within:
        assert ai_routing_preference_get(company=company) == "default"
    assert len(within) == 0
    settings_clock.advance(CHECK_EVERY_S)
    assert ai_routing_preference_get(company=company) == "cost_optimized"
    # and the other company's copy, whose token did not change, is kept without reading the database
    with CaptureQueriesContext(connection) as other_check:
        assert ai_routing_preference_get(company=other) == "default"
    assert len(other_check) == 0


def test_a_change_rolled_back_never_reaches_the_copies(tenants):
    # given a copy of the default
    company, _ = tenants
    assert ai_routing_preference_get(company=company) == "default"
    # when a change is made in a transaction that rolls back
    with transaction.atomic():
        ai_routing_preference_set(company=company, preference="cost_optimized")
        # then inside it the database answers, with the uncommitted change
        assert ai_routing_preference_get(company=company) == "cost_optimized"
        transaction.set_rollback(True)
    # and after it the copy is still the value stored
    assert ai_routing_preference_get(company=company) == "default"
    assert not AIRoutingPreference.objects.filter(company=company).exists()


def test_a_copy_read_before_a_change_committed_is_replaced_at_the_next_check(tenants, settings_clock):
    # given a reader that took the version token, then read the database, while a change committed in between
    company, _ = tenants
    token_before = company_settings._shared_version(company)
    stale = company_settings._read(company)
    ai_routing_preference_set(company=company, preference="cost_optimized")
    company_settings._copies[company_settings._company_key(company)] = company_settings._Copy(
        version=token_before, checked_at=settings_clock(), settings=stale)
    # when the check interval has passed, then the committed value is read
    settings_clock.advance(CHECK_EVERY_S)
    assert ai_routing_preference_get(company=company) == "cost_optimized"


def test_the_company_keys_apply_at_the_next_call_when_saved_and_when_removed(
        tenants, openai_server, models_file, monkeypatch, settings_clock):
    # given an OpenAI-compatible server that accepts only the company's own key, and no key in the environment
    company, other = tenants
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = openai_server()
    server.valid_keys = {"sk-company-own"}
    models_file(providers={"openai": {"base_url": server.url, "api_key_env": "OPENAI_API_KEY"}})
    owner = MembershipFactory(company=company, role=Role.OWNER).user
    assert ai_generate(company=company, task_type="quick_response", prompt="before").provider == "offline"
    # when the owner saves the company's key, then the next call uses it (no clock moved); the other company not
    connection_save(company=company, kind="ai", values={"openai_api_key": "sk-company-own"}, actor=owner)
    assert ai_generate(company=company, task_type="quick_response", prompt="saved").provider == "openai"
    assert ai_generate(company=other, task_type="quick_response", prompt="other").provider == "offline"
    # when the owner removes it, then the next call is back on the environment's (none: offline)
    connection_remove(company=company, kind="ai", actor=owner)
    assert ai_generate(company=company, task_type="quick_response", prompt="removed").provider == "offline"
