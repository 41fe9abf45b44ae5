"""Business-time arithmetic for the SLAs: due times that skip nights, weekends and holidays.

Business hours are per weekday (0 = Monday) in the company's time zone, e.g.
``{"0": ["09:00", "17:00"], ...}``; an empty table means around the clock. Holidays are
whole dates with no business time. Pure functions, no database.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS_AHEAD = 400  # a table with no open hours at all would otherwise loop forever


def _hours_table(business_hours: dict) -> dict[int, tuple[time, time]]:
    table = {}
    for key, span in (business_hours or {}).items():
        if not span:
            continue
        start, end = (time.fromisoformat(str(v)) for v in span)
        if end > start:
            table[int(key)] = (start, end)
    return table


def _holidays(holidays) -> set[date]:
    return {date.fromisoformat(str(d)) for d in holidays or []}


def _open_spans(day: date, *, table, holidays, tz) -> list[tuple[datetime, datetime]]:
    """The business spans of one local date, as aware datetimes."""
    if day in holidays:
        return []
    if not table:
        start = datetime.combine(day, time.min, tzinfo=tz)
        return [(start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz))]
    span = table.get(day.weekday())
    if span is None:
        return []
    return [(datetime.combine(day, span[0], tzinfo=tz), datetime.combine(day, span[1], tzinfo=tz))]


def business_add(start: datetime, seconds: float, *, business_hours: dict, holidays=(), tz: str = "UTC") -> datetime:
    """The moment `seconds` of business time after `start`."""
    zone = ZoneInfo(tz or "UTC")
    table, days_off = _hours_table(business_hours), _holidays(holidays)
    if not table and not days_off:
        return start + timedelta(seconds=seconds)
    remaining = timedelta(seconds=seconds)
    local = start.astimezone(zone)
    day = local.date()
    for _ in range(MAX_DAYS_AHEAD):
        for span_start, span_end in _open_spans(day, table=table, holidays=days_off, tz=zone):
            begin = max(span_start, local)
            if begin >= span_end:
                continue
            if begin + remaining <= span_end:
                return (begin + remaining).astimezone(start.tzinfo)
            remaining -= span_end - begin
        day += timedelta(days=1)
    raise ValueError("the business hours leave no open time within a year")


def business_seconds(start: datetime, end: datetime, *, business_hours: dict, holidays=(), tz: str = "UTC") -> float:
    """Business seconds between `start` and `end` (0 when end <= start)."""
    if end <= start:
        return 0.0
    zone = ZoneInfo(tz or "UTC")
    table, days_off = _hours_table(business_hours), _holidays(holidays)
    if not table and not days_off:
        return (end - start).total_seconds()
    total = timedelta()
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    day = local_start.date()
    while day <= local_end.date():
        for span_start, span_end in _open_spans(day, table=table, holidays=days_off, tz=zone):
            begin, finish = max(span_start, local_start), min(span_end, local_end)
            if finish > begin:
                total += finish - begin
        day += timedelta(days=1)
    return total.total_seconds()
