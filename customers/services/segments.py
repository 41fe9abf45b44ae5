"""RFM scores and named segments, recomputed for a whole company in a few queries.

Scores are 1-5 within the company: recency (5 = bought most recently), frequency (5 = most orders),
monetary (5 = spent most), by rank among the company's buying customers; ties share the lower score,
so a one-order customer never scores high on frequency because most customers have one order.
"""

from collections import defaultdict
from decimal import Decimal

from django.db import transaction
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


def segment_rules(company) -> list[dict]:
    custom = CustomerSettings.objects.filter(company=company).values_list("segment_rules", flat=True).first()
    return custom or DEFAULT_RULES


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
    """{key: 1-5} from {key: value}, higher value scores higher; ties take the lowest rank."""
    ordered = sorted(values.values())
    n = len(ordered)
    first_rank = {}
    for i, value in enumerate(ordered):
        first_rank.setdefault(value, i)
    return {key: 1 + (5 * first_rank[value]) // n for key, value in values.items()}


def rfm_compute(purchases: list[dict], *, now) -> dict:
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
    if not facts:
        return {}
    r = rank_scores({c: -f["recency_days"] for c, f in facts.items()})
    f = rank_scores({c: f["orders"] for c, f in facts.items()})
    m = rank_scores({c: f["monetary"] for c, f in facts.items()})
    return {c: {**facts[c], "r": r[c], "f": f[c], "m": m[c]} for c in facts}


@transaction.atomic
def profiles_refresh(*, company, now=None) -> dict:
    """Recompute every customer's RFM and segment; record segment moves. Returns counts."""
    now = now or timezone.now()
    rules = segment_rules(company)
    scores = rfm_compute(customer_purchases(company=company, until=now), now=now)
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


RFM_FIELDS = ["orders", "first_order_at", "last_order_at", "recency_days", "monetary", "r_score", "f_score",
              "m_score", "segment", "segment_since", "updated_at"]
