"""Staff orders pages: period totals against the period before, the list, and one order's payments,
refunds and deliveries — only the company's own."""

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from autonomax.models import Role
from commerce.models import IncomeStream, Order, Refund
from commerce.selectors import orders_overview, revenue_by_stream
from tests.factories import CompanyFactory, MembershipFactory, OrderFactory, OrderItemFactory, ProductFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def shop(company):
    """This period (7 days): two paid orders (one half refunded) and a pending one; the period before:
    one paid order. Another company's big order in both periods."""
    OrderFactory(company=company, total=Decimal("30"), created_at=NOW - timedelta(days=1))
    OrderFactory(company=company, total=Decimal("20"), amount_refunded=Decimal("10"),
                 status=Order.Status.REFUNDED, created_at=NOW - timedelta(days=2))
    OrderFactory(company=company, total=Decimal("99"), status=Order.Status.PENDING, created_at=NOW - timedelta(days=3))
    OrderFactory(company=company, total=Decimal("40"), created_at=NOW - timedelta(days=9))
    other = CompanyFactory(slug="other-shop")
    for days in (1, 9):
        OrderFactory(company=other, total=Decimal("1000"), created_at=NOW - timedelta(days=days))
    return company


def test_totals_compare_this_period_with_the_one_before(shop):
    # when
    overview = orders_overview(company=shop, days=7, now=NOW)
    # then
    assert overview["current"] == {"orders": 2, "gross": Decimal("50"), "refunded": Decimal("10"), "net": Decimal("40")}
    assert overview["previous"]["orders"] == 1 and overview["previous"]["net"] == Decimal("40")
    assert overview["changes"] == {"orders": Decimal("100.0"), "gross": Decimal("25.0"), "net": Decimal("0.0")}
    assert len(overview["orders"]) == 3  # the list shows every status; the totals count paid orders


def test_no_previous_period_is_no_change_not_a_division_by_zero(company):
    OrderFactory(company=company, created_at=NOW - timedelta(days=1))
    assert orders_overview(company=company, days=7, now=NOW)["changes"]["orders"] is None


def test_orders_page_lists_this_companys_orders_and_filters_by_status(shop):
    membership = MembershipFactory(company=shop, role=Role.VIEWER)
    client = Client()
    client.force_login(membership.user)
    # when
    with time_machine.travel(NOW, tick=False):
        page = client.get("/commerce/orders/?days=7")
        pending = client.get("/commerce/orders/?days=7&status=pending")
        nonsense = client.get("/commerce/orders/?days=abc&status=%00")
    # then
    html = page.content.decode()
    assert page.status_code == 200 and html.count('data-order="') == 3 and "1000" not in html
    assert pending.content.decode().count('data-order="') == 1
    assert nonsense.status_code == 200  # unknown filters fall back to the defaults


def test_order_page_shows_payment_refunds_and_deliveries_and_hides_other_companies(shop):
    membership = MembershipFactory(company=shop, role=Role.VIEWER)
    client = Client()
    client.force_login(membership.user)
    order = Order.objects.filter(company=shop, status=Order.Status.REFUNDED).get()
    OrderItemFactory(order=order, title="Budget planner")
    Refund.objects.create(company=shop, order=order, amount=Decimal("10"), reason="changed mind",
                          status=Refund.Status.SUCCEEDED, created_at=NOW)
    theirs = Order.objects.exclude(company=shop).first()
    # when
    response = client.get(f"/commerce/orders/{order.pk}/")
    # then
    html = response.content.decode()
    assert response.status_code == 200 and "Budget planner" in html and "changed mind" in html
    assert client.get(f"/commerce/orders/{theirs.pk}/").status_code == 404
    assert Client().get("/commerce/orders/").status_code == 302


def test_orders_page_queries_do_not_grow_with_orders(company, client, django_assert_max_num_queries):
    membership = MembershipFactory(company=company, role=Role.VIEWER)
    client.force_login(membership.user)
    for n in range(30):
        OrderFactory(company=company, created_at=NOW - timedelta(hours=n))
    # 11: the page, the session and user, the totals, the latest orders, the streams and what fed them
    with time_machine.travel(NOW, tick=False), django_assert_max_num_queries(11):
        assert client.get("/commerce/orders/").status_code == 200


@pytest.mark.django_db
def test_income_streams_show_their_actual_automation_next_to_the_target(company):
    from commerce.models import IncomeStream, ServiceTask
    from commerce.selectors import income_stream_automation

    other = CompanyFactory(slug="other-shop")
    digital = IncomeStream.objects.create(company=company, kind="digital_products", name="Templates")
    services = IncomeStream.objects.create(company=company, kind="services", name="Setup calls")
    now = timezone.now()
    for _ in range(3):
        OrderFactory(company=company, income_stream=digital, fulfilled_at=now)
    OrderFactory(company=company, income_stream=digital)  # paid, never delivered: not automated
    for i in range(4):
        order = OrderFactory(company=company, income_stream=services, fulfilled_at=now)
        if i:
            ServiceTask.objects.create(company=company, order=order, product=ProductFactory(company=company))
    foreign = IncomeStream.objects.create(company=other, kind="digital_products", name="Theirs")
    OrderFactory(company=other, income_stream=foreign, fulfilled_at=now)

    rows = income_stream_automation(company=company, since=now - timedelta(days=30))
    assert rows == [
        {"kind": "digital_products", "name": "Templates", "orders": 4, "automated": 3, "actual_pct": 75.0,
         "target_pct": 100, "inputs": []},
        {"kind": "services", "name": "Setup calls", "orders": 4, "automated": 1, "actual_pct": 25.0, "target_pct": 70,
         "inputs": []},
    ]


def test_revenue_by_stream_per_day_counts_only_this_companys_paid_orders(shop, django_assert_num_queries):
    # given: this company's orders get streams; the other company has a stream of the same kind
    consulting = IncomeStream.objects.create(company=shop, kind=IncomeStream.Kind.CONSULTING, name="Consulting")
    OrderFactory(company=shop, income_stream=consulting, total=Decimal("200"), created_at=NOW - timedelta(days=1))
    theirs = CompanyFactory(slug="stream-rival")
    rival = IncomeStream.objects.create(company=theirs, kind=IncomeStream.Kind.CONSULTING, name="Rival consulting")
    OrderFactory(company=theirs, income_stream=rival, total=Decimal("5000"), created_at=NOW - timedelta(days=1))
    # when
    with django_assert_num_queries(1):
        chart = revenue_by_stream(company=shop, start=NOW - timedelta(days=7), end=NOW)
    # then: one label per day (start and end days included); the pending and older orders are left out
    assert chart["labels"][0] == "2026-11-13" and chart["labels"][-1] == "2026-11-20" and len(chart["labels"]) == 8
    streams = {s["name"]: s["values"] for s in chart["streams"]}
    assert set(streams) == {"Consulting", "No stream"}
    assert streams["Consulting"][6] == 200.0 and sum(streams["Consulting"]) == 200.0
    assert streams["No stream"][6] == 30.0 and streams["No stream"][5] == 20.0 and sum(streams["No stream"]) == 50.0


def test_orders_page_embeds_the_revenue_chart_data_with_constant_queries(shop, django_assert_num_queries):
    membership = MembershipFactory(company=shop, role=Role.VIEWER)
    client = Client()
    client.force_login(membership.user)
    with time_machine.travel(NOW, tick=False):
        client.get("/commerce/orders/?days=7")  # warm the session and the company lookups
        with CaptureQueriesContext(connection) as first:
            client.get("/commerce/orders/?days=7")
        for days in (2, 5):
            OrderFactory(company=shop, total=Decimal("7"), created_at=NOW - timedelta(days=days))
        # when
        with django_assert_num_queries(len(first.captured_queries)):
            page = client.get("/commerce/orders/?days=7")
    # then
    html = page.content.decode()
    assert 'id="revenue-stream-chart"' in html and 'id="revenue-stream-chart-data"' in html
    data = json.loads(re.search(r'id="revenue-stream-chart-data" type="application/json">(.*?)</script>',
                                html).group(1))
    assert sum(sum(s["values"]) for s in data["streams"]) == 64.0  # 30 + 20 + 7 + 7, not the other shop's 1000
