"""The first cycle's 60-day history is computed by one grouped query per family (GROUP BY the UTC day):
its numbers must equal those of each day computed on its own by the conditional aggregate."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chimera.ai.models import AICall
from chimera.commander.models import Job, Mission
from commerce.models import Order, Refund
from kpis import registry
from kpis.models import MetricSnapshot
from kpis.registry import Window
from kpis.services import metrics_ingest
from kpis.services.ingest import DAILY_HISTORY_DAYS, daily_point_ends, metrics_compute
from support.models import Ticket
from tests.factories import CustomerFactory, LeadFactory, OrderFactory, RefundFactory, TicketFactory, UserFactory

from .factories import AICallFactory, JobFactory, MissionFactory

NOW = datetime(2026, 3, 15, 9, 30, tzinfo=UTC)
TODAY = datetime(2026, 3, 15, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def _moments(rng: random.Random, count: int) -> list[datetime]:
    """Times over the 62 days before NOW, many of them on or right beside a UTC midnight."""
    moments = []
    for _ in range(count):
        midnight = TODAY - timedelta(days=rng.randrange(0, 63))
        moments.append(midnight + rng.choice([timedelta(0), TICK, -TICK, timedelta(hours=rng.uniform(0, 24))]))
    return moments


def _shop(company, *, seed: int) -> None:
    """Orders, refunds, customers, leads, tickets, AI calls, jobs and missions with edge times."""
    rng = random.Random(seed)
    customers = [CustomerFactory(company=company, created_at=at) for at in _moments(rng, 12)]
    customers.append(CustomerFactory(company=company, created_at=TODAY - timedelta(days=200)))
    for at in _moments(rng, 90):
        customer = rng.choice(customers)
        if rng.random() < 0.1:
            OrderFactory(company=company, customer=customer, status=Order.Status.PENDING, created_at=at)
            continue
        order = OrderFactory(company=company, customer=customer, created_at=at, paid_at=at,
                             total=Decimal(rng.choice(["9.00", "19.50", "45.00"])))
        if rng.random() < 0.2:
            RefundFactory(order=order, amount=Decimal("5.00"), created_at=at + timedelta(hours=rng.choice([0, 30])),
                          status=rng.choice([Refund.Status.SUCCEEDED, Refund.Status.FAILED]))
    # A buyer created at the very midnight of its first purchase is not yet a customer "before" that day.
    first_day = CustomerFactory(company=company, created_at=TODAY - timedelta(days=5))
    OrderFactory(company=company, customer=first_day, created_at=TODAY - timedelta(days=5),
                 paid_at=TODAY - timedelta(days=5))
    OrderFactory(company=company, customer=first_day, created_at=TODAY - timedelta(days=4) - TICK,
                 paid_at=TODAY - timedelta(days=4) - TICK)

    for at in _moments(rng, 40):
        LeadFactory(company=company, created_at=at, score=rng.randrange(0, 100),
                    converted_at=at + timedelta(days=2) if rng.random() < 0.3 else None)

    resolved, open_ = Ticket.Status.RESOLVED, Ticket.Status.OPEN
    for at in _moments(rng, 50):
        kind = rng.random()
        after = timedelta(hours=rng.choice([0.5, 20, 24, 80]))
        if kind < 0.5:
            TicketFactory(company=company, created_at=at, first_response_at=at + after / 4, resolved_at=at + after,
                          status=resolved, auto_resolved=rng.random() < 0.5, csat_score=rng.choice([None, 2, 5]))
        elif kind < 0.8:
            TicketFactory(company=company, created_at=at, first_response_at=rng.choice([None, at + after]),
                          status=rng.choice([open_, Ticket.Status.WAITING_ON_CUSTOMER]))
        else:
            TicketFactory(company=company, created_at=at, status=resolved)  # resolved with no resolution time
    # Open since long before the history; resolved exactly at a midnight (still open at that midnight);
    # resolved before it was created (bad data: never open); resolved long before the history.
    TicketFactory(company=company, created_at=TODAY - timedelta(days=300), status=open_)
    TicketFactory(company=company, created_at=TODAY - timedelta(days=70), resolved_at=TODAY - timedelta(days=20),
                  status=resolved)
    TicketFactory(company=company, created_at=TODAY - timedelta(days=10, hours=3),
                  resolved_at=TODAY - timedelta(days=12), status=resolved)
    TicketFactory(company=company, created_at=TODAY - timedelta(days=400), resolved_at=TODAY - timedelta(days=390),
                  status=resolved)

    for at in _moments(rng, 30):
        call = AICallFactory(company=company, cost_usd=Decimal("0.125"), fallback=rng.random() < 0.3)
        AICall.objects.filter(pk=call.pk).update(created_at=at)
    person = UserFactory()
    for at in _moments(rng, 20):
        job = JobFactory(company=company, status=rng.choice([Job.Status.SUCCEEDED, Job.Status.FAILED]),
                         finished_at=at)
        Mission.objects.filter(pk=job.mission_id).update(
            created_at=at, decided_by=rng.choice([None, person]),
            status=rng.choice([Mission.Status.COMPLETED, Mission.Status.ESCALATED, Mission.Status.PROPOSED]))
    MissionFactory(company=company)  # created "now" (the real clock): outside every window


def _first_cycle_windows() -> list[Window]:
    """The windows of a first cycle: rolling KPI windows ending NOW, then the 60 daily points."""
    rolling = [Window(start=NOW - timedelta(days=d), end=NOW) for d in (1, 7, 30)]
    return rolling + [Window(start=end - timedelta(days=1), end=end)
                      for end in daily_point_ends(now=NOW, days=DAILY_HISTORY_DAYS)]


@pytest.fixture
def shops(company, other_company):
    company.timezone = "Pacific/Kiritimati"  # UTC+14: daily points are UTC days whatever the company's zone
    company.save(update_fields=["timezone"])
    _shop(company, seed=1)
    _shop(other_company, seed=2)
    return company, other_company


@pytest.mark.parametrize("current_zone", ["UTC", "America/Los_Angeles"])
def test_the_grouped_daily_history_equals_each_day_computed_alone(shops, current_zone):
    # given two shops with rows on, just before and just after UTC midnights, and the first cycle's windows
    company, other_company = shops
    windows = _first_cycle_windows()
    assert len(registry.day_windows(windows)[0]) == DAILY_HISTORY_DAYS  # the grouped path is the one tested
    with timezone.override(current_zone):
        # when the whole history is computed at once, and each window by itself (one conditional aggregate)
        together = metrics_compute(company=company, windows=windows)
        alone = [metrics_compute(company=company, windows=[w])[0] for w in windows]
        other_together = metrics_compute(company=other_company, windows=windows)
        other_alone = [metrics_compute(company=other_company, windows=[w])[0] for w in windows]
    # then every metric of every window is the same
    for window, grouped, single in zip(windows, together, alone, strict=True):
        assert grouped == single, window
    assert other_together == other_alone
    # and the data is not trivial: the days differ, and the two companies differ
    daily_open = [values["support.open_tickets"] for values in together[3:]]
    assert len(set(daily_open)) > 3 and len({v["revenue.gross"] for v in together[3:]}) > 3
    assert together != other_together


def test_a_ticket_resolved_exactly_at_midnight_is_open_at_that_midnight(company, other_company):
    # given one ticket open from 10 March 12:00 until exactly midnight of the 12th, and noise in another company
    TicketFactory(company=company, created_at=datetime(2026, 3, 10, 12, tzinfo=UTC),
                  resolved_at=datetime(2026, 3, 12, tzinfo=UTC), status=Ticket.Status.RESOLVED)
    TicketFactory(company=other_company, created_at=datetime(2026, 3, 1, tzinfo=UTC), status=Ticket.Status.OPEN)
    windows = _first_cycle_windows()
    # when
    values = metrics_compute(company=company, windows=windows)
    # then it counts at the midnights of the 11th and the 12th, and at no other
    open_at = {w.end.day: v["support.open_tickets"] for w, v in zip(windows[3:], values[3:], strict=True)
               if v["support.open_tickets"]}
    assert open_at == {11: Decimal("1"), 12: Decimal("1")}


def _reads(captured) -> int:
    """The SELECTs (writes depend on the data: anomalies found, and SQLite's batches of snapshots)."""
    return sum(1 for q in captured.captured_queries if q["sql"].startswith("SELECT"))


def test_the_first_cycle_queries_do_not_grow_with_days_or_rows(company, other_company):
    # given a shop with a day of history, and after it the same shop with 60 days of history
    _shop(other_company, seed=3)
    OrderFactory(company=company, created_at=NOW - timedelta(hours=1), paid_at=NOW - timedelta(hours=1))
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as small:
        metrics_ingest(company=company, now=NOW)
    MetricSnapshot.objects.filter(company=company).delete()
    _shop(company, seed=4)
    # when
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as big:
        metrics_ingest(company=company, now=NOW)
    # then
    assert _reads(big) == _reads(small)
    assert MetricSnapshot.objects.filter(company=company, window_days=1).values("at").distinct().count() \
        == DAILY_HISTORY_DAYS
