"""Segment metrics (registered with the KPI engine): how many customers are in each segment at the end of a
window, and how many moved into it during the window — so plays can trigger on "at-risk grew 20%"."""

from bisect import bisect_left
from collections import defaultdict

from kpis.registry import metric_family, to_decimal

from .models import Segment, SegmentMove

SIZE = {s: f"customers.segment.{s}" for s in Segment.values}
MOVED_IN = {s: f"customers.moved_to.{s}" for s in Segment.values}


@metric_family(*SIZE.values(), *MOVED_IN.values())
def segment_metrics(*, company, windows):
    """Customers per segment at the end of the window, and moves into each segment during it."""
    history = defaultdict(list)  # customer -> [(moved_at, to_segment)], oldest first
    for customer_id, at, to in (SegmentMove.objects.filter(company=company).order_by("moved_at", "id")
                                .values_list("customer_id", "moved_at", "to_segment")):
        history[customer_id].append((at, to))
    rows = []
    for w in windows:
        sizes = dict.fromkeys(Segment.values, 0)
        moved = dict.fromkeys(Segment.values, 0)
        for moves in history.values():
            times = [at for at, _ in moves]
            before_end = bisect_left(times, w.end)
            if before_end:
                sizes[moves[before_end - 1][1]] += 1
            for _at, to in moves[bisect_left(times, w.start):before_end]:
                moved[to] += 1
        rows.append({**{SIZE[s]: to_decimal(n) for s, n in sizes.items()},
                     **{MOVED_IN[s]: to_decimal(n) for s, n in moved.items()}})
    return rows
