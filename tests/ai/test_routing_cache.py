"""The routing preference is read on every AI call: it comes from the shared cache, replaced when a change
commits. These tests commit (transaction=True), as callers of the engine do."""

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from chimera.ai.models import AIRoutingPreference
from chimera.ai.services import (
    _preference_cache_key,
    ai_generate,
    ai_routing_preference_get,
    ai_routing_preference_set,
)
from tests.factories import CompanyFactory

from .openai_server import ok

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tenants():
    company, other = CompanyFactory(slug="cached"), CompanyFactory(slug="other-cached")
    yield company, other
    cache.delete_many([_preference_cache_key(company), _preference_cache_key(other)])


def _preference_reads(captured) -> int:
    return sum(1 for q in captured.captured_queries if AIRoutingPreference._meta.db_table in q["sql"])


def test_calls_after_the_first_do_not_read_the_preference_and_a_change_applies_at_once(
        tenants, openai_server, models_file):
    # given two routes, and a first call that reads the preference
    company, other = tenants
    quality, cheap = openai_server(default=ok("quality")), openai_server(default=ok("cheap"))
    models_file(providers={"quality": quality.url, "cheap": cheap.url}, route=["quality", "offline"],
                routes={"cost_optimized": ["cheap", "offline"]})
    assert ai_generate(company=company, task_type="quick_response", prompt="one").provider == "quality"
    # when the next call runs
    with CaptureQueriesContext(connection) as second:
        result = ai_generate(company=company, task_type="quick_response", prompt="two")
    # then it did not read the preference
    assert result.provider == "quality" and _preference_reads(second) == 0
    # when the preference changes (committed), then the next call follows it, still without reading it
    ai_routing_preference_set(company=company, preference="cost_optimized", reason="AI cost is critical")
    with CaptureQueriesContext(connection) as third:
        result = ai_generate(company=company, task_type="quick_response", prompt="three")
    assert result.provider == "cheap" and _preference_reads(third) == 0
    # and the other company keeps its own preference
    assert ai_generate(company=other, task_type="quick_response", prompt="four").provider == "quality"
    assert ai_routing_preference_get(company=other) == "default"


def test_a_change_rolled_back_never_reaches_the_cache(tenants):
    # given a cached default
    company, _ = tenants
    assert ai_routing_preference_get(company=company) == "default"
    # when a change is made in a transaction that rolls back
    with transaction.atomic():
        ai_routing_preference_set(company=company, preference="cost_optimized")
        # then inside it the database answers, with the uncommitted change
        assert ai_routing_preference_get(company=company) == "cost_optimized"
        transaction.set_rollback(True)
    # and after it the cached value is still the one stored
    assert ai_routing_preference_get(company=company) == "default"
    assert not AIRoutingPreference.objects.filter(company=company).exists()


def test_a_value_read_before_a_change_committed_does_not_replace_it(tenants):
    # given a change committed (the cache holds the new value)
    company, _ = tenants
    ai_routing_preference_set(company=company, preference="cost_optimized")
    # when a reader that read the database before that commit stores what it read
    cache.add(_preference_cache_key(company), "default")
    # then the committed value stays
    assert ai_routing_preference_get(company=company) == "cost_optimized"
