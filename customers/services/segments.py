"""RFM scores and named segments, recomputed for a whole company in a few queries.

Scores are 1-5. Recency and frequency use fixed bounds (editable per company), so a customer's segment
changes with what they do, not with what other customers do: recency 5 = bought within 30 days, 4 within
60, 3 within 120, 2 within 240, else 1; frequency 1 = one order, 2 = two, 3 = three, 4 = four or five,
5 = six or more. Monetary is the rank of what the customer spent among the company's buyers (5 = most;
ties share the lower score).
"""

from collections import defaultdict
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from commerce.models import Customer
from commerce.selectors import customer_purchases

from ..models import CustomerProfile, CustomerSettings, Segment, SegmentMove

# First match wins; together they cover every (r, f) pair from 1 to 5.
DEFAULT_RULES = [
    {"segment": Segment.CHAMPIONS, "r": [4, 5], "f": [4, 5]},
    {"segment": Segment.LOYAL, "r": [3, 5], "f": [3, 5]},
    {"segment": Segment.NEW, "r": [4, 5], "f": [1, 2]},
    {"segment": Segment.AT_RISK, "r": [1, 2], "f": [3, 5]},
    {"segment": Segment.HIBERNATING, "r": [2, 3], "f": [1, 2]},
    {"segment": Segment.LOST, "r": [1, 1], "f": [1, 2]},
]


DEFAULT_BOUNDS = {"recency_days": [30, 60, 120, 240], "orders": [2, 3, 4, 6]}


def company_rules(company) -> tuple[list[dict], dict]:
    """(segment rules, score bounds) of the company: its own where set, else the defaults."""
    own = CustomerSettings.objects.filter(company=company).values("segment_rules", "score_bounds").first() or {}
    return own.get("segment_rules") or DEFAULT_RULES, {**DEFAULT_BOUNDS, **(own.get("score_bounds") or {})}


def recency_score(days: int, bounds) -> int:
    return 5 - sum(days > b for b in bounds)


def frequency_score(orders: int, bounds) -> int:
    return 1 + sum(orders >= b for b in bounds)


def segment_rules_validate(rules) -> list[str]:
    """Problems with a company's rules (empty when they are valid and cover every score pair)."""
    problems = []
    if not isinstance(rules, list):
        return ["rules must be a list"]
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict) or rule.get("segment") not in Segment.values:
            problems.append(f"rule {i + 1}: segment must be one of {', '.join(Segment.values)}")
            continue
        for axis in ("r", "f"):
            bounds = rule.get(axis)
            if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int) for b in bounds)
                    and 1 <= bounds[0] <= bounds[1] <= 5):
                problems.append(f"rule {i + 1}: {axis} must be [low, high] within 1-5")
    if not problems:
        uncovered = [(r, f) for r in range(1, 6) for f in range(1, 6) if segment_for(r, f, rules) is None]
        if uncovered:
            problems.append(f"no rule covers r,f = {', '.join(f'{r},{f}' for r, f in uncovered)}")
    return problems


def segment_for(r: int, f: int, rules) -> str | None:
    for rule in rules:
        if rule["r"][0] <= r <= rule["r"][1] and rule["f"][0] <= f <= rule["f"][1]:
            return str(rule["segment"])
    return None


def rank_scores(values: dict) -> dict:
    """{key: 1-5} from {key: value}: the lowest value scores 1, the highest 5, evenly by rank between;
    ties take the lowest rank. A company's only customer scores 3."""
    ordered = sorted(values.values())
    n = len(ordered)
    if n == 1:
        return dict.fromkeys(values, 3)
    first_rank = {}
    for i, value in enumerate(ordered):
        first_rank.setdefault(value, i)
    return {key: 1 + (4 * first_rank[value]) // (n - 1) for key, value in values.items()}


def rfm_compute(purchases: list[dict], *, now, bounds=None) -> dict:
    """{customer_id: {orders, first, last, recency_days, monetary, r, f, m}} from purchase rows."""
    by_customer = defaultdict(list)
    for row in purchases:
        by_customer[row["customer_id"]].append(row)
    facts = {}
    for customer_id, rows in by_customer.items():
        last = rows[-1]["paid_at"]
        facts[customer_id] = {
            "orders": len(rows), "first": rows[0]["paid_at"], "last": last,
            "recency_days": max((now - last).days, 0),
            "monetary": sum((r["net"] for r in rows), Decimal("0")),
        }
    bounds = bounds or DEFAULT_BOUNDS
    m = rank_scores({c: f["monetary"] for c, f in facts.items()})
    return {c: {**f, "r": recency_score(f["recency_days"], bounds["recency_days"]),
                "f": frequency_score(f["orders"], bounds["orders"]), "m": m[c]} for c, f in facts.items()}


@transaction.atomic
def profiles_refresh(*, company, now=None) -> dict:
    """Recompute every customer's RFM and segment; record segment moves. Returns counts. Refreshes of one
    company run one at a time (two at once would both create the same new customers' profiles)."""
    now = now or timezone.now()
    if connection.vendor == "postgresql":  # the embedded SQLite default has no advisory locks
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PROFILES_REFRESH_LOCK, company.pk])
    rules, bounds = company_rules(company)
    scores = rfm_compute(customer_purchases(company=company, until=now), now=now, bounds=bounds)
    profiles = {p.customer_id: p for p in CustomerProfile.objects.filter(company=company).select_for_update()}
    customer_ids = Customer.objects.filter(company=company).values_list("id", flat=True)
    created, moved, to_update = [], [], []
    for customer_id in customer_ids:
        s = scores.get(customer_id)
        profile = profiles.get(customer_id) or CustomerProfile(company=company, customer_id=customer_id, updated_at=now)
        segment = (segment_for(s["r"], s["f"], rules) or "") if s else ""
        if segment != profile.segment and segment:
            moved.append(SegmentMove(company=company, customer_id=customer_id, from_segment=profile.segment,
                                     to_segment=segment, moved_at=now))
            profile.segment_since = now
        profile.segment = segment
        if s:
            profile.orders, profile.first_order_at, profile.last_order_at = s["orders"], s["first"], s["last"]
            profile.recency_days, profile.monetary = s["recency_days"], s["monetary"]
            profile.r_score, profile.f_score, profile.m_score = s["r"], s["f"], s["m"]
        profile.updated_at = now
        (to_update if profile.pk else created).append(profile)
    CustomerProfile.objects.bulk_create(created)
    CustomerProfile.objects.bulk_update(to_update, RFM_FIELDS)
    SegmentMove.objects.bulk_create(moved)
    return {"profiles": len(created) + len(to_update), "moves": len(moved)}


# The advisory lock space of profiles_refresh (the second key is the company's id).
PROFILES_REFRESH_LOCK = 17_001

RFM_FIELDS = ["orders", "first_order_at", "last_order_at", "recency_days", "monetary", "r_score", "f_score",
              "m_score", "segment", "segment_since", "updated_at"]
