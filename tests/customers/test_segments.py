"""RFM scores and segments on crafted histories; segment metrics; a second company never mixes in."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from customers.models import CustomerProfile, CustomerSettings, Segment, SegmentMove
from customers.services.segments import (
    DEFAULT_RULES,
    profiles_refresh,
    rank_scores,
    rfm_compute,
    segment_for,
    segment_rules_validate,
)
from kpis.registry import Window
from tests.factories import CompanyFactory, CustomerFactory, OrderFactory

NOW = datetime(2026, 11, 7, 10, 0, tzinfo=UTC)


def test_ties_share_the_lowest_score_so_one_order_never_scores_high():
    # Seven of ten customers have one order: none of them may look frequent.
    scores = rank_scores({i: (1 if i < 7 else i) for i in range(10)})
    assert {scores[i] for i in range(7)} == {1}
    assert [scores[i] for i in (7, 8, 9)] == [4, 4, 5]


def test_the_default_rules_name_every_score_pair():
    assert segment_rules_validate(DEFAULT_RULES) == []
    assert segment_for(5, 5, DEFAULT_RULES) == "champions"
    assert segment_for(3, 4, DEFAULT_RULES) == "loyal"
    assert segment_for(5, 1, DEFAULT_RULES) == "new"
    assert segment_for(1, 5, DEFAULT_RULES) == "at_risk"
    assert segment_for(3, 1, DEFAULT_RULES) == "hibernating"
    assert segment_for(1, 1, DEFAULT_RULES) == "lost"


def test_rules_that_leave_a_gap_or_name_no_segment_are_refused():
    assert "no rule covers" in segment_rules_validate(DEFAULT_RULES[:-1])[0]
    assert "segment must be" in segment_rules_validate([{"segment": "vip", "r": [1, 5], "f": [1, 5]}])[0]
    assert "r must be" in segment_rules_validate([{"segment": "lost", "r": [0, 9], "f": [1, 5]}])[0]


def test_rfm_on_a_crafted_history():
    rows = []
    # c1: five recent orders (champion); c2: one order yesterday (new); c3: four orders long ago (at risk);
    # c4: one order a year ago (lost); c5: two orders 3 months ago.
    for days in (1, 5, 9, 14, 20):
        rows.append({"customer_id": 1, "paid_at": NOW - timedelta(days=days), "net": Decimal("30")})
    rows.append({"customer_id": 2, "paid_at": NOW - timedelta(days=1), "net": Decimal("20")})
    for days in (200, 220, 240, 260):
        rows.append({"customer_id": 3, "paid_at": NOW - timedelta(days=days), "net": Decimal("25")})
    rows.append({"customer_id": 4, "paid_at": NOW - timedelta(days=365), "net": Decimal("10")})
    for days in (90, 95):
        rows.append({"customer_id": 5, "paid_at": NOW - timedelta(days=days), "net": Decimal("15")})
    rows.sort(key=lambda r: r["paid_at"])
    scores = rfm_compute(rows, now=NOW)
    assert scores[1]["orders"] == 5 and scores[1]["recency_days"] == 1 and scores[1]["monetary"] == Decimal("150")
    named = {c: segment_for(s["r"], s["f"], DEFAULT_RULES) for c, s in scores.items()}
    assert named == {1: "champions", 2: "new", 3: "at_risk", 4: "lost", 5: "hibernating"}


@pytest.mark.django_db
def test_refresh_records_moves_and_ignores_the_other_company():
    company, other = CompanyFactory(slug="acme"), CompanyFactory(slug="globex")
    loyal = CustomerFactory(company=company, email="loyal@example.com")
    once = CustomerFactory(company=company, email="once@example.com")
    never = CustomerFactory(company=company, email="never@example.com")
    for days in (2, 10, 20, 30, 40):
        OrderFactory(company=company, customer=loyal, created_at=NOW - timedelta(days=days))
    OrderFactory(company=company, customer=once, created_at=NOW - timedelta(days=300))
    stranger = CustomerFactory(company=other, email="loyal@example.com")
    for days in range(1, 30):
        OrderFactory(company=other, customer=stranger, created_at=NOW - timedelta(days=days), total=Decimal("999"))

    assert profiles_refresh(company=company, now=NOW) == {"profiles": 3, "moves": 2}
    profiles = {p.customer_id: p for p in CustomerProfile.objects.filter(company=company)}
    assert profiles[loyal.pk].orders == 5 and profiles[loyal.pk].monetary == Decimal("95.00")
    assert profiles[loyal.pk].rfm_score == "545"
    assert profiles[loyal.pk].segment == Segment.CHAMPIONS
    assert profiles[once.pk].segment == Segment.LOST
    assert profiles[never.pk].segment == "" and profiles[never.pk].orders == 0
    assert not CustomerProfile.objects.filter(company=company, customer=stranger).exists()

    # Half a year with no new orders: the champion is at risk; the move is recorded once.
    later = NOW + timedelta(days=200)
    profiles_refresh(company=company, now=later)
    profiles_refresh(company=company, now=later)
    moves = list(SegmentMove.objects.filter(company=company, customer=loyal).values_list("from_segment", "to_segment"))
    assert moves == [(Segment.CHAMPIONS, Segment.AT_RISK), ("", Segment.CHAMPIONS)]


@pytest.mark.django_db
def test_a_company_can_change_its_rules():
    company = CompanyFactory(slug="acme")
    c = CustomerFactory(company=company)
    OrderFactory(company=company, customer=c, created_at=NOW - timedelta(days=1))
    CustomerSettings.objects.create(company=company, segment_rules=[{"segment": "loyal", "r": [1, 5], "f": [1, 5]}])
    profiles_refresh(company=company, now=NOW)
    assert CustomerProfile.objects.get(customer=c).segment == "loyal"


@pytest.mark.django_db
def test_segment_metrics_count_sizes_at_window_end_and_moves_within():
    from customers.metrics import segment_metrics

    company, other = CompanyFactory(slug="acme"), CompanyFactory(slug="globex")
    a, b = CustomerFactory(company=company), CustomerFactory(company=company)
    x = CustomerFactory(company=other)
    SegmentMove.objects.create(company=company, customer=a, to_segment="new", moved_at=NOW - timedelta(days=20))
    SegmentMove.objects.create(company=company, customer=a, from_segment="new", to_segment="at_risk",
                               moved_at=NOW - timedelta(days=3))
    SegmentMove.objects.create(company=company, customer=b, to_segment="champions", moved_at=NOW - timedelta(days=10))
    SegmentMove.objects.create(company=other, customer=x, to_segment="at_risk", moved_at=NOW - timedelta(days=2))
    last_week, before = Window(NOW - timedelta(days=7), NOW), Window(NOW - timedelta(days=14), NOW - timedelta(days=7))
    now_row, before_row = segment_metrics(company=company, windows=[last_week, before])
    assert now_row["customers.segment.at_risk"] == 1 and now_row["customers.moved_to.at_risk"] == 1
    assert now_row["customers.segment.champions"] == 1 and now_row["customers.moved_to.champions"] == 0
    assert before_row["customers.segment.new"] == 1 and before_row["customers.segment.at_risk"] == 0
    assert before_row["customers.moved_to.champions"] == 1


@pytest.mark.django_db
def test_a_burst_of_paid_orders_refreshes_the_segments_once_after_the_first(django_capture_on_commit_callbacks):
    # given a refresh already queued for the company by an earlier order of the burst (its mark is set), and
    # another company with nothing queued
    from django.core.cache import cache

    from autonomax.services import event_record
    from customers.tasks import _refresh_mark, customer_profiles_refresh_task

    company, other = CompanyFactory(), CompanyFactory()
    cache.set(_refresh_mark(company.pk), 1)
    paid = OrderFactory(company=company, customer=CustomerFactory(company=company))
    other_paid = OrderFactory(company=other, customer=CustomerFactory(company=other))

    # when both orders' payments are recorded (tasks run inline in the tests)
    with django_capture_on_commit_callbacks(execute=True):
        event_record(company=company, name="order.paid", payload={"order_id": paid.pk})
        event_record(company=other, name="order.paid", payload={"order_id": other_paid.pk})

    # then the burst's order waits for the queued refresh; the other company's ran at once
    assert not CustomerProfile.objects.filter(company=company).exists()
    assert CustomerProfile.objects.filter(company=other).count() == 1
    # and when the queued refresh runs, it covers the order and clears the mark for the next burst
    customer_profiles_refresh_task(company.pk)
    assert CustomerProfile.objects.get(company=company).orders == 1
    assert cache.get(_refresh_mark(company.pk)) is None
