"""Each registered metric against values computed by hand on a small fixture."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chimera.ai.models import AICall
from chimera.commander.models import Job, Mission
from commerce.models import Order, Refund
from kpis import registry
from kpis.models import MetricSnapshot
from kpis.registry import Window
from kpis.services import metrics_ingest
from kpis.services.ingest import metrics_compute
from support.models import Ticket
from tests.factories import CustomerFactory, LeadFactory, OrderFactory, RefundFactory, TicketFactory, UserFactory

from .factories import AICallFactory, JobFactory, MissionFactory

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=7)  # 2026-03-08 12:00


def at(day, hour=12, minute=0):
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def store(company):
    old = CustomerFactory(company=company, created_at=datetime(2026, 2, 1, tzinfo=UTC))
    new = CustomerFactory(company=company, created_at=at(10))
    march = CustomerFactory(company=company, created_at=at(1))
    OrderFactory(company=company, customer=old, total=Decimal("20.00"), created_at=at(9), paid_at=at(9))
    refunded = OrderFactory(company=company, customer=new, total=Decimal("30.00"), amount_refunded=Decimal("30.00"),
                            created_at=at(10), paid_at=at(10))
    OrderFactory(company=company, customer=new, total=Decimal("50.00"), created_at=at(14), paid_at=at(14))
    before = OrderFactory(company=company, customer=old, total=Decimal("100.00"), created_at=at(1), paid_at=at(1))
    OrderFactory(company=company, customer=new, status=Order.Status.PENDING, total=Decimal("999.00"),
                 created_at=at(12), paid_at=None)
    OrderFactory(company=company, customer=march, total=Decimal("10.00"), created_at=START, paid_at=START)  # included
    OrderFactory(company=company, customer=march, total=Decimal("7.00"), created_at=NOW, paid_at=NOW)  # excluded
    RefundFactory(order=refunded, amount=Decimal("30.00"), created_at=at(11))
    RefundFactory(order=refunded, amount=Decimal("5.00"), status=Refund.Status.FAILED, created_at=at(12))
    RefundFactory(order=before, amount=Decimal("100.00"), created_at=at(2))

    LeadFactory(company=company, created_at=at(9), score=40, converted_at=at(10))
    LeadFactory(company=company, created_at=at(12), score=60)
    LeadFactory(company=company, created_at=at(13), score=80)
    LeadFactory(company=company, created_at=datetime(2026, 2, 20, tzinfo=UTC), score=10, converted_at=at(1))

    resolved = Ticket.Status.RESOLVED
    TicketFactory(company=company, created_at=at(9, 10), first_response_at=at(9, 10, 30), resolved_at=at(9, 12),
                  auto_resolved=True, status=resolved)
    TicketFactory(company=company, created_at=at(10, 8), first_response_at=at(10, 9, 30), resolved_at=at(10, 18),
                  status=resolved)
    TicketFactory(company=company, created_at=at(14, 9), first_response_at=at(14, 10))
    TicketFactory(company=company, created_at=at(1))
    TicketFactory(company=company, created_at=at(2), resolved_at=at(9), status=resolved)

    for cost, fallback, when in [("0.5", False, at(9)), ("0.25", True, at(10)), ("0.25", False, at(14)),
                                 ("9", False, at(1))]:
        call = AICallFactory(company=company, cost_usd=Decimal(cost), fallback=fallback)
        AICall.objects.filter(pk=call.pk).update(created_at=when)

    for status in [Job.Status.SUCCEEDED] * 3 + [Job.Status.FAILED]:
        JobFactory(company=company, status=status, finished_at=at(12))
    JobFactory(company=company, status=Job.Status.FAILED, finished_at=at(2))

    person = UserFactory()
    for status, decided_by in [(Mission.Status.COMPLETED, None), (Mission.Status.COMPLETED, person),
                               (Mission.Status.ESCALATED, None), (Mission.Status.PROPOSED, None)]:
        mission = MissionFactory(company=company, status=status, decided_by=decided_by)
        Mission.objects.filter(pk=mission.pk).update(created_at=at(11))
    # The jobs' own missions were created "now" by the factory: move them out of the window.
    Mission.objects.filter(company=company, created_at__gt=NOW).update(created_at=at(1))
    return company


EXPECTED_7D = {
    "revenue.gross": "110", "orders.count": "4", "orders.aov": "27.5", "customers.buyers": "3",
    "customers.repeat_rate": "0.6667", "customers.new": "1",
    "refunds.amount": "30", "refunds.count": "1", "revenue.net": "80", "refunds.rate": "0.2727",
    "leads.new": "3", "leads.conversion_rate": "0.3333", "leads.avg_score": "60",
    "support.open_tickets": "2", "support.first_response_p50_minutes": "60", "support.resolution_p50_hours": "6",
    "support.auto_resolution_rate": "0.5",
    "ai.cost_usd": "1", "ai.calls": "3", "ai.fallback_rate": "0.3333", "ops.cost_to_revenue": "0.0091",
    "jobs.failure_rate": "0.25", "missions.autonomy_score": "0.3333",
}


def test_every_metric_matches_the_hand_computed_value(store):
    # given the store above and the 7 days before NOW
    # when
    [values] = metrics_compute(company=store, windows=[Window(start=START, end=NOW)])
    # then
    assert set(values) == set(registry.metric_names())
    assert {name: values[name] for name in EXPECTED_7D} == {k: Decimal(v) for k, v in EXPECTED_7D.items()}


def test_a_window_with_no_rows_reads_as_no_data_not_zero_for_ratios(company):
    # given a company with no rows at all
    # when
    [values] = metrics_compute(company=company, windows=[Window(start=START, end=NOW)])
    # then sums and counts are zero; ratios and medians have no data
    assert values["revenue.gross"] == Decimal("0") and values["orders.count"] == Decimal("0")
    for name in ["orders.aov", "refunds.rate", "leads.conversion_rate", "support.first_response_p50_minutes",
                 "ai.fallback_rate", "jobs.failure_rate", "missions.autonomy_score", "ops.cost_to_revenue"]:
        assert values[name] is None, name


def test_one_call_computes_many_windows_each_correctly(store):
    # given the 7-day window and the single day of 10 March
    windows = [Window(start=START, end=NOW), Window(start=at(10, 0), end=at(11, 0))]
    # when
    week, day = metrics_compute(company=store, windows=windows)
    # then
    assert week["revenue.gross"] == Decimal("110")
    assert day["revenue.gross"] == Decimal("30") and day["orders.count"] == Decimal("1")
    assert day["customers.new"] == Decimal("1")


def test_ingest_stores_window_snapshots_and_the_daily_series(store):
    # given the store, and a KPI over 7 days is implied by the default window
    # when
    metrics_ingest(company=store, now=NOW)
    # then the rolling 7-day snapshot holds the hand-computed value
    snap = MetricSnapshot.objects.get(company=store, metric="revenue.net", window_days=7, at=NOW)
    assert snap.value == Decimal("80") and snap.source == "platform"
    # and the daily point for 14 March (ending at midnight of the 15th) holds that day's orders
    day = MetricSnapshot.objects.get(company=store, metric="revenue.gross", window_days=1,
                                     at=datetime(2026, 3, 15, tzinfo=UTC))
    assert day.value == Decimal("50")


def test_ingest_twice_keeps_one_snapshot_per_point(store):
    # given
    metrics_ingest(company=store, now=NOW)
    count = MetricSnapshot.objects.filter(company=store).count()
    # when
    metrics_ingest(company=store, now=NOW)
    # then
    assert MetricSnapshot.objects.filter(company=store).count() == count


def test_daily_series_reads_the_stored_points_and_computes_the_rest(store, company, other_company):
    from kpis.services.ingest import metric_daily_series

    # given the ingest's stored point for 9 March (a value the orders would not give, to tell them apart)
    # and another company's point for 10 March
    MetricSnapshot.objects.create(company=company, metric="revenue.net", window_days=1, at=at(10, 0),
                                  value=Decimal("123.0000"))
    MetricSnapshot.objects.create(company=other_company, metric="revenue.net", window_days=1, at=at(11, 0),
                                  value=Decimal("999.0000"))
    ends = [at(10, 0), at(11, 0), at(15, 0)]

    # when the daily series is read on 15 March
    series = metric_daily_series(company=company, metric="revenue.net", ends=ends, now=NOW)

    # then the stored point is used, the day not stored (10 March: a 30.00 order) and the day still being
    # refreshed (14 March: 50.00) are computed from the orders
    assert series == [Decimal("123.0000"), Decimal("30.0000"), Decimal("50.0000")]
