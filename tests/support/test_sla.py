"""Business-time arithmetic of the SLAs."""

from datetime import UTC, datetime

from support.sla import business_add, business_seconds

HOURS = {str(d): ["09:00", "17:00"] for d in range(5)}  # Monday to Friday, 9 to 5


def test_around_the_clock_is_plain_addition():
    start = datetime(2026, 12, 4, 23, 59, tzinfo=UTC)
    assert business_add(start, 120, business_hours={}) == datetime(2026, 12, 5, 0, 1, tzinfo=UTC)


def test_due_time_skips_the_night_and_the_weekend():
    friday_late = datetime(2026, 12, 4, 16, 59, tzinfo=UTC)  # a Friday

    due = business_add(friday_late, 120, business_hours=HOURS)

    assert due == datetime(2026, 12, 7, 9, 1, tzinfo=UTC)  # Monday 09:01


def test_holidays_have_no_business_time():
    monday = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)

    due = business_add(monday, 3600, business_hours=HOURS, holidays=["2026-12-07"])

    assert due == datetime(2026, 12, 8, 10, 0, tzinfo=UTC)


def test_time_zone_of_the_company_is_used():
    # 09:00 in New York is 14:00 UTC in December
    start = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    due = business_add(start, 60, business_hours=HOURS, tz="America/New_York")

    assert due == datetime(2026, 12, 7, 14, 1, tzinfo=UTC)


def test_business_seconds_counts_only_open_time():
    friday = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    monday = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)

    assert business_seconds(friday, monday, business_hours=HOURS) == 2 * 3600
    assert business_seconds(monday, friday, business_hours=HOURS) == 0
