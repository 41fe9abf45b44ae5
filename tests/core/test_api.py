import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from autonomax.models import Company, ConfigChange, Role

from ..factories import LeadFactory, OrderItemFactory, TicketFactory, member_with_token

pytestmark = pytest.mark.django_db


def test_missing_auth_is_401_with_error_shape(client):
    response = client.get("/api/v1/orders/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_bad_token_is_401(client):
    response = client.get("/api/v1/orders/", HTTP_AUTHORIZATION="Token ax_not-a-real-key")

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid or revoked token."


def test_malformed_json_is_400_and_nothing_changes(owner_api, company):
    _, api = owner_api

    response = api.post(f"/api/v1/companies/{company.slug}/halt/", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert Company.objects.get(pk=company.pk).execution_halted is False


def test_wrong_type_is_400_with_field_details(owner_api, company):
    _, api = owner_api

    response = api.post(f"/api/v1/companies/{company.slug}/halt/", {"halted": "perhaps"}, format="json")

    assert response.status_code == 400
    assert "halted" in response.json()["error"]["details"]


def test_viewer_cannot_halt(viewer_api, company):
    _, api = viewer_api

    response = api.post(f"/api/v1/companies/{company.slug}/halt/", {"halted": True}, format="json")

    assert response.status_code == 403
    assert Company.objects.get(pk=company.pk).execution_halted is False


def test_owner_halts_and_change_is_logged(owner_api, company):
    membership, api = owner_api

    response = api.post(f"/api/v1/companies/{company.slug}/halt/", {"halted": True, "reason": "bad copy"},
                        format="json")

    assert response.status_code == 200
    assert response.json()["execution_halted"] is True
    change = ConfigChange.objects.get(company=company)
    assert change.actor == membership.user
    assert change.reason == "bad copy"


def _list_queries(api, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(path)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("path, make", [
    ("/api/v1/orders/", lambda c: OrderItemFactory(order__company=c)),
    ("/api/v1/leads/", lambda c: LeadFactory(company=c)),
    ("/api/v1/tickets/", lambda c: TicketFactory(company=c)),
    ("/api/v1/products/", lambda c: OrderItemFactory(order__company=c)),
])
def test_list_query_count_does_not_grow_with_rows(owner_api, company, path, make):
    _, api = owner_api
    make(company)
    few = _list_queries(api, path)
    for _ in range(15):
        make(company)

    many = _list_queries(api, path)

    assert many == few


def test_token_auth_does_not_hash_passwords(company, django_assert_max_num_queries):
    # the token check is one indexed select (plus the membership lookup)
    _, key = member_with_token(company=company, role=Role.OWNER)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    with django_assert_max_num_queries(4):
        assert api.get("/api/v1/companies/").status_code == 200


def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert b"/api/v1/orders/" in response.content


def test_oversize_body_is_400_and_nothing_changes(owner_api, company, settings):
    _, api = owner_api
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"halted": true, "reason": "' + "x" * 5000 + '"}'

    response = api.post(f"/api/v1/companies/{company.slug}/halt/", body, content_type="application/json")

    assert response.status_code == 400
    assert Company.objects.get(pk=company.pk).execution_halted is False


@pytest.mark.parametrize("path", ["/api/v1/ai/generate", "/api/v1/products/draft", "/api/v1/metrics/",
                                  "/api/v1/missions/999999/approve/"])
def test_oversize_body_gets_the_json_error_shape(owner_api, settings, path):
    # given: a body over the upload limit
    _, api = owner_api
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"prompt": "' + "x" * 5000 + '"}'

    # when
    response = api.post(path, body, content_type="application/json")

    # then: a 400 in the API's one error shape, not Django's HTML error page
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "body_too_large"


def test_huge_limit_is_capped_not_a_server_error(owner_api):
    # given
    membership, api = owner_api
    OrderItemFactory(order__company=membership.company)

    # when: a limit far beyond any database integer
    response = api.get("/api/v1/orders/?limit=99999999999999999999")

    # then: the page size is capped
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize("path", ["/api/v1/kpis/abc/", "/api/v1/orders/1.5/", "/api/v1/nothing-here/"])
def test_unknown_api_url_gets_the_json_error_shape(owner_api, path):
    # given
    _, api = owner_api

    # when: no route matches the URL
    response = api.get(path)

    # then
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_api_docs_page_loads_swagger_ui_from_our_own_static_files(client):
    # when
    response = client.get("/api/docs/")

    # then: no CDN (the page was blank without internet access)
    page = response.content.decode()
    assert response.status_code == 200
    assert "cdn.jsdelivr.net" not in page
    bundle = re.search(r'"(/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle[^"]*)"', page).group(1)
    assert client.get(bundle).status_code == 200


def test_openapi_schema_documents_the_error_shape_on_every_operation(client):
    # when
    schema = client.get("/api/schema/?format=json").json()

    # then: API clients (and schema-driven tools) know errors come as {"error": {code, message, details}}
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"]["4XX"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"}, (method, path)


def test_halt_with_a_misspelt_field_is_400_and_nothing_changes(owner_api, company):
    _, api = owner_api

    response = api.post(f"/api/v1/companies/{company.slug}/halt/", {"haltd": False}, format="json")

    assert response.status_code == 400
    assert "haltd" in response.json()["error"]["details"]
    assert Company.objects.get(pk=company.pk).execution_halted is False
