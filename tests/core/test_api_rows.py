"""Lists rendered from `.values()` give exactly what their serializers give, in a fixed number of queries,
and only the caller's company's rows."""

import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer

from autonomax.models import Company, Role
from chimera.commander.api import MissionSerializer
from chimera.commander.models import Mission
from chimera.commander.services.cycle import cycle_run_company
from commerce.api import OrderSerializer
from commerce.models import Order
from kpis.api import KPICardSerializer
from kpis.selectors import kpi_board
from tests.conftest import _api_client
from tests.factories import CompanyFactory, OrderItemFactory, member_with_token

pytestmark = pytest.mark.usefixtures("demo_clock")


@pytest.fixture
def demo_api(db):
    call_command("seed_demo")
    company = Company.objects.get(slug="demo")
    cycle_run_company(company=company)
    OrderItemFactory(order__company=CompanyFactory(slug="other-shop"))
    _, key = member_with_token(company=company, role=Role.VIEWER)
    return company, _api_client(key)


def _as_serializer_gives(serializer, rows):
    return json.loads(JSONRenderer().render(serializer(rows, many=True).data))


def test_orders_list_is_what_the_serializer_gives(demo_api):
    company, api = demo_api
    body = api.get("/api/v1/orders/?limit=50").json()
    ids = [o["id"] for o in body["results"]]
    orders = sorted(Order.objects.filter(pk__in=ids).select_related("customer").prefetch_related("items"),
                    key=lambda o: ids.index(o.pk))
    assert body["count"] == Order.objects.filter(company=company).count() and len(ids) == 50
    assert body["results"] == _as_serializer_gives(OrderSerializer, orders)
    assert any(o["items"] for o in body["results"]) and any(o["customer"] for o in body["results"])


def test_missions_list_is_what_the_serializer_gives(demo_api):
    company, api = demo_api
    body = api.get("/api/v1/missions/").json()
    ids = [m["id"] for m in body["results"]]
    missions = sorted(Mission.objects.filter(pk__in=ids).select_related("play").prefetch_related("jobs"),
                      key=lambda m: ids.index(m.pk))
    assert ids and set(ids) == set(Mission.objects.filter(company=company).values_list("id", flat=True))
    assert body["results"] == _as_serializer_gives(MissionSerializer, missions)


def test_kpis_list_is_what_the_serializer_gives(demo_api):
    company, api = demo_api
    body = api.get("/api/v1/kpis/").json()
    assert body == _as_serializer_gives(KPICardSerializer, kpi_board(company=company))
    assert sum(len(card["points"]) for card in body) > 100


@pytest.mark.parametrize(("path", "expected"), [("/api/v1/orders/?limit=50", 3), ("/api/v1/missions/", 3),
                                              ("/api/v1/kpis/", 4)])
def test_lists_take_a_fixed_number_of_queries(demo_api, path, expected):
    _, api = demo_api
    with CaptureQueriesContext(connection) as queries:
        assert api.get(path).status_code == 200
    # the token with its membership, then the page with its count + the nested rows (lists), or the board's
    # three reads
    assert len(queries) == expected, [q["sql"][:80] for q in queries]
