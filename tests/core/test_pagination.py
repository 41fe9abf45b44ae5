"""Lists fetch their page and its total count in one query, and answer exactly what DRF's limit/offset
pagination answers: at the start, in the middle, on the last page, past the end, and with no rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from autonomax.pagination import CappedLimitOffsetPagination
from commerce.models import Order
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def _paginate(paginator, queryset, query: str):
    request = Request(APIRequestFactory().get(f"/api/v1/orders/?{query}"))
    with CaptureQueriesContext(connection) as queries:
        page = paginator.paginate_queryset(queryset, request)
    return paginator.get_paginated_response(list(page)).data, len(queries)


@pytest.fixture
def orders(company, other_company):
    OrderFactory.create_batch(3, company=other_company)
    return [OrderFactory(company=company) for _ in range(7)]


@pytest.mark.parametrize("query", ["limit=3", "limit=3&offset=3", "limit=3&offset=6", "limit=3&offset=7",
                                   "limit=3&offset=50", "limit=10"])
@pytest.mark.parametrize("values", [False, True], ids=["models", "values"])
def test_the_page_and_count_are_what_drf_gives(company, orders, query, values):
    # given the company's orders, as models or as `.values()` rows
    queryset = Order.objects.filter(company=company).order_by("-id")
    if values:
        queryset = queryset.values("id", "total")
    # when
    ours, queries = _paginate(CappedLimitOffsetPagination(), queryset, query)
    drf, _ = _paginate(LimitOffsetPagination(), queryset, query)
    # then the same response: count, links and rows (no extra key or attribute on them)
    assert ours == drf
    assert ours["count"] == 7
    if values:
        assert all(set(row) == {"id", "total"} for row in ours["results"])
    else:
        assert all(not hasattr(order, "_pagination_total") for order in ours["results"])
    # and one query when the page has rows; a separate count only for a page past the end
    assert queries == (1 if ours["results"] else 2)


def test_no_rows_count_zero(company, other_company):
    # given only another company's orders
    OrderFactory(company=other_company)
    # when
    ours, queries = _paginate(CappedLimitOffsetPagination(), Order.objects.filter(company=company), "limit=5")
    # then
    assert ours == {"count": 0, "next": None, "previous": None, "results": []} and queries == 2


def test_distinct_rows_are_counted_apart(company, orders):
    # given a DISTINCT query, whose count a COUNT over its FROM and WHERE could get wrong
    queryset = Order.objects.filter(company=company).order_by("status").values("status").distinct()
    # when
    ours, queries = _paginate(CappedLimitOffsetPagination(), queryset, "limit=5")
    # then DRF's own way: COUNT, then the page
    assert ours["count"] == 1 and queries == 2


def test_an_offset_beyond_any_table_is_an_empty_page_not_a_database_error(company, orders):
    # given an offset past a 64-bit integer (the schema sweep sends such numbers)
    queryset = Order.objects.filter(company=company).order_by("-id")
    query = "limit=3&offset=112720987130747395130769014784"
    # when
    ours, queries = _paginate(CappedLimitOffsetPagination(), queryset, query)
    # then what DRF answers: the count and no rows, from the count alone
    assert ours == _paginate(LimitOffsetPagination(), queryset, query)[0]
    assert ours["count"] == 7 and ours["results"] == [] and queries == 1
