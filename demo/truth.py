"""The hidden truth of a scenario in money: what each play is worth to the shop, in expected net revenue
over its effects' durations, from the shop's baseline. Only the oracle policy and the report read it.

An effect on a rate or volume moves the revenue that flows through it: conversion and visitors move
new buyers' revenue, the repeat rate moves returning buyers', lead conversion moves converted leads',
order value moves all of it, the refund rate moves refunds (with the opposite sign).
"""

from .scenario import Scenario
from .shop import LAPSED_AFTER_DAYS, LEAD_CONVERSION_DAYS

PERSON_METRICS = {"repeat_purchase_rate", "lead_conversion"}  # only a contact moves these


def revenue_flows(scenario: Scenario, *, lapsed_customers: float) -> dict[str, float]:
    """Expected gross revenue per day by flow, at the baseline (weekday average, no trend, no shock)."""
    shop = scenario.shop
    weekday = sum(scenario.weekday_factors) / 7
    aov = shop["aov"]
    new = shop["visitors_per_day"] * weekday * shop["conversion_rate"] * aov
    repeat = lapsed_customers * shop["repeat_purchase_rate"] / LAPSED_AFTER_DAYS * aov
    leads = shop["leads_per_day"] * weekday * shop["lead_conversion"] * aov
    return {"new": new, "repeat": repeat, "leads": leads, "all": new + repeat + leads}


def _lifted_days(effect) -> float:
    """Days of the flow the effect lifts. A lead converts only in its first LEAD_CONVERSION_DAYS: a nurture
    reaches the leads in the pipeline that day (aged 0 to LEAD_CONVERSION_DAYS - 1), each for the days it has
    left, and none of the leads who arrive after it."""
    if effect.metric != "lead_conversion":
        return float(effect.duration_days)
    days = LEAD_CONVERSION_DAYS
    return sum(max(0, min(effect.duration_days, days - age - effect.lag_days)) for age in range(days)) / days


def play_values(scenario: Scenario, *, lapsed_customers: float = 300.0) -> dict[str, dict]:
    """play key -> {value (expected net revenue change), relative (share of net revenue over the effect's
    days), metric_relative (its largest effect on a shop metric), harmful, resend_after_days}; plays without
    effects are absent (worth nothing)."""
    flows = revenue_flows(scenario, lapsed_customers=lapsed_customers)
    refund = scenario.shop["refund_rate"]
    net_per_day = flows["all"] * (1 - refund)
    values = {}
    for play, effects in scenario.effects.items():
        value = 0.0
        days = max(e.duration_days for e in effects)
        for e in effects:
            flow = {"conversion_rate": flows["new"], "visitors_per_day": flows["new"],
                    "repeat_purchase_rate": flows["repeat"], "lead_conversion": flows["leads"],
                    "aov": flows["all"], "leads_per_day": flows["leads"]}.get(e.metric, 0.0)
            if e.metric == "refund_rate":
                value -= flows["all"] * refund * e.relative * e.duration_days
            else:
                value += flow * (1 - refund) * e.relative * _lifted_days(e)
        # A play on people (by email) sent again inside the fatigue window tires them: when the lower
        # response outweighs the effect, it should wait for the window to pass.
        on_people = all(e.metric in PERSON_METRICS for e in effects)
        drop = scenario.fatigue["response_drop_per_contact"]
        tires = on_people and (1 - drop) * (1 + max(e.relative for e in effects)) < 1
        # The size of the play's largest effect on the metric it moves (the rate of the people it reaches, or the
        # store's): what the play's evidence measures, so what its minimum worthwhile change is read against.
        largest = max((e.relative for e in effects), key=abs)
        values[play] = {"value": round(value, 2), "relative": round(value / (net_per_day * days), 4) if days else 0.0,
                        "metric_relative": round(largest, 4),
                        "harmful": value < 0,
                        "resend_after_days": int(scenario.fatigue["window_days"]) if tires else 0}
    return values
