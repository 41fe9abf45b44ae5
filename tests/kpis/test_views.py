"""The KPI board and detail page: status colours, UNKNOWN reason, sparkline, anomaly marks, HTMX refresh."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.template.loader import render_to_string
from django.utils import timezone

from autonomax.models import Role
from kpis.selectors import kpi_board
from kpis.services import anomalies_detect, kpis_evaluate
from kpis.services.ingest import daily_point_ends
from tests.factories import CompanyFactory, MembershipFactory

from .factories import KPIDefinitionFactory, MetricSnapshotFactory


@pytest.fixture
def board(company):
    """Two KPIs: revenue CRITICAL with a 40-day daily series holding a spike, sessions UNKNOWN."""
    now = timezone.now()
    KPIDefinitionFactory(company=company, key="revenue", label="Revenue")
    KPIDefinitionFactory(company=company, key="sessions", label="Sessions", metric="analytics.sessions")
    MetricSnapshotFactory(company=company, value=Decimal("50"), at=now)
    ends = daily_point_ends(now=now, days=40)
    for i, at in enumerate(ends):
        value = 500 if i == len(ends) - 2 else 100 + (i % 5)
        MetricSnapshotFactory(company=company, window_days=1, at=at, value=Decimal(value))
    anomalies_detect(company=company, now=now)
    kpis_evaluate(company=company, now=now, send_alerts=False)
    membership = MembershipFactory(company=company, role=Role.VIEWER)
    return membership.user


def test_board_needs_login(db, client):
    # when
    response = client.get("/kpis/")
    # then
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_board_shows_status_value_reason_sparkline_and_anomalies(board, client):
    # given
    client.force_login(board)
    # when
    response = client.get("/kpis/")
    # then
    html = response.content.decode()
    assert response.status_code == 200 and response["Vary"].find("HX-Request") >= 0
    assert "<html" in html and 'hx-trigger="every 60s"' in html
    assert 'class="card kpi status-CRITICAL" data-kpi="revenue"' in html
    assert 'class="card kpi status-UNKNOWN" data-kpi="sessions"' in html
    assert "no data for metric analytics.sessions" in html
    assert "<polyline" in html and 'class="anomaly"' in html and "1 anomaly" in html


def test_htmx_refresh_gets_only_the_fragment(board, client):
    # given
    client.force_login(board)
    # when
    response = client.get("/kpis/", HTTP_HX_REQUEST="true")
    # then
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.strip().startswith('<section id="kpi-board"') and "HX-Request" in response["Vary"]


def test_detail_shows_history_anomalies_and_evaluations(board, client):
    # given
    client.force_login(board)
    # when
    response = client.get("/kpis/revenue/")
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "spike" in html and "below the critical threshold" in html
    chart = response.context["chart"]
    assert len(chart["labels"]) == len(chart["values"]) == 40 and chart["anomalies"] == [38]
    assert chart["values"][38] == 500.0 and chart["thresholds"]["target"] is not None
    assert chart["evaluations"]["values"] and 'id="kpi-chart-data"' in html and 'id="kpi-daily-chart"' in html


def test_detail_of_another_companys_kpi_is_not_found(board, client):
    # given a KPI of another company
    KPIDefinitionFactory(company=CompanyFactory(slug="other"), key="secret")
    client.force_login(board)
    # when / then
    assert client.get("/kpis/secret/").status_code == 404
    assert client.get("/kpis/nope/").status_code == 404


def test_strip_partial_renders_compact_cards(board, company):
    # when
    html = render_to_string("kpis/_strip.html", {"kpi_cards": kpi_board(company=company)})
    # then
    assert html.count('class="card kpi status-') == 2 and "/kpis/revenue/" in html and "<svg" in html


def test_board_query_count_does_not_grow_with_kpis(board, company, client, django_assert_max_num_queries):
    # given 10 more KPIs
    for i in range(10):
        KPIDefinitionFactory(company=company, key=f"extra-{i}", metric="orders.count")
    kpis_evaluate(company=company, send_alerts=False)
    client.force_login(board)
    # when / then: session, user, membership, KPIs, series, anomalies (+ savepoint-free reads)
    with django_assert_max_num_queries(8):
        assert client.get("/kpis/", HTTP_HX_REQUEST="true").status_code == 200


def test_sparkline_without_history_says_so(company):
    # given a KPI with no daily series
    KPIDefinitionFactory(company=company, key="fresh")
    kpis_evaluate(company=company, now=timezone.now() - timedelta(minutes=1), send_alerts=False)
    # when
    html = render_to_string("kpis/_board.html", {"kpi_cards": kpi_board(company=company)})
    # then
    assert "no history yet" in html


@time_machine.travel(datetime(2026, 11, 7, 12, 0, tzinfo=UTC), tick=False)  # "today" stays one day throughout
def test_external_metric_points_are_one_per_day_the_last_value_standing(company):
    # given two pushed values on one day and one on the next
    from kpis.services.ingest import day_start

    KPIDefinitionFactory(company=company, key="sessions", metric="analytics.sessions", freshness_minutes=4320)
    today = day_start(timezone.now())
    for at, value in [(today - timedelta(hours=20), 300), (today - timedelta(hours=2), 350), (today, 410)]:
        MetricSnapshotFactory(company=company, metric="analytics.sessions", window_days=1, source="ga", at=at,
                              value=Decimal(value))
    kpis_evaluate(company=company, send_alerts=False)
    # when
    [card] = kpi_board(company=company)
    # then
    assert [(p["at"], p["value"]) for p in card["points"]] == [
        (today, Decimal("350")), (today + timedelta(days=1), Decimal("410"))]
    assert (card["status"], card["value"]) == ("OK", Decimal("410"))
