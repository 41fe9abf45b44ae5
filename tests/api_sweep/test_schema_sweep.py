"""A property-based sweep of the API schema (schemathesis, in-process): no generated request gets a 5xx.

Bounded and deterministic: CASES_PER_OPERATION examples per operation from a fixed seed, as a signed-in
owner of a company with a little data (so detail routes find rows for some ids). A failure lists each
operation, status and request, so the input can be replayed.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings

from autonomax.wsgi import application
from tests.commerce.factories import ProductDraftFactory
from tests.factories import CompanyFactory, OrderFactory, ProductFactory, member_with_token

pytestmark = pytest.mark.django_db

CASES_PER_OPERATION = 20


@pytest.fixture
def in_test_transaction():
    """Called in-process, the app must not close the test's connection at each request (as Django's test
    client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def owner_key(settings, in_test_transaction):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    company = CompanyFactory(slug="acme")
    membership, key = member_with_token(company=company)
    for _ in range(3):
        ProductFactory(company=company)
        OrderFactory(company=company)
        ProductDraftFactory(company=company)
    CompanyFactory(slug="other")  # a second company's slug exists too
    return key


def _sweep(operation, *, headers, calls, errors):
    @settings(max_examples=CASES_PER_OPERATION, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def call(case):
        response = case.call(headers=headers)
        calls.append(operation.label)
        if response.status_code >= 500:
            errors.append(f"{operation.label} -> {response.status_code}: {case.as_curl_command(headers)}"
                          f"\n  {response.text[:300]}")

    call()


def test_no_generated_request_gets_a_server_error(owner_key):
    # given the schema the API serves
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    headers = {"Authorization": f"Token {owner_key}"}
    errors, calls, operations = [], [], 0

    # when every operation is called with generated inputs
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        _sweep(operation, headers=headers, calls=calls, errors=errors)

    # then: none answered 5xx
    print(f"schema sweep: {len(calls)} cases over {operations} operations, {len(errors)} server errors")
    assert operations >= 25
    assert len(calls) >= operations * CASES_PER_OPERATION // 2
    assert errors == [], "\n".join(errors[:20])
