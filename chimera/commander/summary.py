"""A mission in one plain sentence — why, what it will do, how it is measured — and a preview of its effect
(the email as it will read, the discount code, a price before and after), from what the mission stored when
it was suggested. The formula stays in the explanation, folded under "score details"."""

from decimal import Decimal, InvalidOperation

from .models import Mission

SEGMENT_WORDS = {
    "lapsed_customers": "customers who bought 30-180 days ago and not since",
    "pending_checkouts": "people who started a checkout and did not pay",
    "warm_leads": "warm leads",
}
SAMPLE = {"name": "Ada", "email": "ada@example.com", "company": ""}


def _number(value) -> str:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return str(value)
    return f"{number:,.2f}".rstrip("0").rstrip(".") if number % 1 else f"{number:,.0f}"


def _amount(value, unit: str) -> str:
    """A KPI value as people read it: ratios as percentages, counts bare, other units after the number."""
    if unit == "ratio":
        try:
            return f"{Decimal(str(value)) * 100:.1f}%".replace(".0%", "%")
        except (InvalidOperation, TypeError, ValueError):
            return str(value)
    return f"{_number(value)} {unit}" if unit and unit != "count" else _number(value)


def _why(trigger_values: dict) -> str:
    parts = []
    for key, kpi in list((trigger_values or {}).items())[:2]:
        label, unit = kpi.get("label") or key, kpi.get("unit") or ""
        if kpi.get("value") is None:
            parts.append(f"{label} is unknown")
            continue
        side = "above" if (kpi.get("direction") or "up") == "down" else "below"
        target = f", {side} the {_amount(kpi['target'], unit)} target" if kpi.get("target") is not None else ""
        parts.append(f"{label} is {_amount(kpi['value'], unit)}{target}")
    return " and ".join(parts)


def _offer(discount: dict) -> str:
    return (f"{discount['percent_off']}% off" if discount.get("percent_off")
            else f"{discount.get('amount_off', '')} off")


def _step(step: dict, plan: dict, price: dict | None) -> str:
    params, kind = step.get("params") or {}, step.get("type", "")
    if kind == "email_segment":
        segment = params.get("segment", "")
        who = SEGMENT_WORDS.get(segment, segment.replace("_", " "))
        count = plan.get("audience")
        text = f"email {count} {who}" if count is not None else f"email {who}"
        if params.get("discount"):
            d = params["discount"]
            text += f", with a new {_offer(d)} code {d.get('prefix', '')}-… valid {d.get('valid_days', '?')} days"
        return text
    if kind == "price_change":
        change = f"{params.get('change_pct', 0):+}%".replace("+-", "-")
        if price:
            return f"change the price of {price['name']} from {price['before']} to {price['after']} ({change})"
        return f"change the price of the {params.get('product', 'best_seller').replace('_', ' ')} by {change}"
    if kind == "bundle_create":
        return f"offer a bundle of the {params.get('size', 3)} best sellers at {params.get('discount_pct', 20)}% off"
    if kind == "listing_copy":
        return f"draft new listing copy for {params.get('products', 1)} product(s) for a person to review"
    if kind == "faq_macros":
        return f"write canned answers for the top {params.get('top', 5)} ticket intents"
    if kind == "ai_routing":
        return "route routine AI tasks to the cheapest capable model"
    if kind == "shopify_sync":
        return "sync the change to Shopify"
    return kind.replace("_", " ")


def _measured(mission: Mission, plan: dict) -> str:
    hours = int((mission.play_snapshot or {}).get("measure_after_hours") or 0)
    after = f"{hours // 24} days" if hours >= 48 else f"{hours} hours"
    if plan.get("method") == "holdout":
        if not plan.get("measurable", True):
            return "too few people to measure, so it runs unmeasured"
        return (f"measured against a held-out {_number(plan.get('holdout_pct'))}% ({plan.get('control')} people "
                f"get nothing) after {after}")
    if plan.get("method"):
        label = ((mission.trigger_values or {}).get(plan.get("kpi")) or {}).get("label") or plan.get("kpi")
        return f"measured against a forecast of {label} after {after}"
    return f"measured after {after}"


def email_preview(step: dict) -> dict | None:
    """The email as a reader will get it (sample name; the code is made when the job runs)."""
    params = step.get("params") or {}
    if step.get("type") != "email_segment" or not params.get("body"):
        return None
    d = params.get("discount") or {}
    values = {**SAMPLE, "offer": _offer(d) if d else "", "code": f"{d.get('prefix', 'CODE')}-XXXX",
              "valid_until": f"{d.get('valid_days', '?')} days from sending"}
    body = params["body"]
    for key, value in values.items():
        body = body.replace("{" + key + "}", str(value))
    return {"subject": params.get("subject", ""), "body": body}


def mission_summary(*, mission: Mission, prices: dict | None = None) -> dict:
    """{sentence, email, price}: `prices` maps a price_change pick to {name, before, after} when known."""
    snapshot = mission.play_snapshot or {}
    plan = mission.measure_plan or {}
    steps = snapshot.get("job_plan") or []
    price = None
    for step in steps:
        if step.get("type") == "price_change" and prices:
            price = prices.get((step.get("params") or {}).get("product", "best_seller"))
    what = ", then ".join(_step(step, plan, price) for step in steps if step.get("type") != "shopify_sync") \
        or snapshot.get("label", "")
    why = _why(mission.trigger_values)
    sentence = f"{why}: {what}; {_measured(mission, plan)}." if why else f"{what[:1].upper()}{what[1:]}; " \
        f"{_measured(mission, plan)}."
    email = next((e for e in (email_preview(s) for s in steps) if e), None)
    return {"sentence": sentence[:1].upper() + sentence[1:], "email": email, "price": price}
