"""The simulated shop: same seed, same numbers; seasonality, shocks, effects only where the platform
acted (contacted people, or the store), and fatigue."""

import yaml
from django.conf import settings

from demo.scenario import scenario_parse
from demo.shop import Shop

PLAYS = {p["key"] for p in yaml.safe_load((settings.BASE_DIR / "configs" / "plays.yml").read_text())["plays"]}


def _scenario(extra_shop: str = "", effects: str = ""):
    text = "shop:\n  visitors_per_day: 1000\n  noise: 0.0\n" + extra_shop + ("effects:\n" + effects if effects else "")
    return scenario_parse(text=text, file="t.yml", known_plays=PLAYS)


def _run(shop: Shop, days: int):
    return [shop.simulate_day(d) for d in range(days)]


def test_same_seed_same_numbers_other_seed_other_numbers():
    def summary(seed):
        return [(d.visitors, len(d.sales), round(sum(s.amount for s in d.sales), 2)) for d in _run(
            Shop(_scenario("  noise: 0.2\n"), seed=seed), 30)]

    assert summary(1) == summary(1) and summary(1) != summary(2)


def test_weekday_factors_and_a_shock_shape_the_baseline():
    scenario = _scenario("  weekday_factors: [1, 1, 1, 1, 1, 2, 1]\n"
                         "  shocks: [{day: 10, metric: visitors_per_day, factor: 0.5, days: 2}]\n")
    shop = Shop(scenario, seed=1, first_weekday=0)
    assert shop.baseline("visitors_per_day", 5) == 2000 and shop.baseline("visitors_per_day", 4) == 1000
    assert shop.baseline("visitors_per_day", 10) == 500 and shop.baseline("visitors_per_day", 13) == 1000


def test_a_store_change_lifts_conversion_for_its_duration_only():
    shop = Shop(_scenario(effects="  rewrite-listing-copy: {metric: conversion_rate, relative: 0.5, lag_days: 1, "
                                  "duration_days: 5}\n"), seed=1)
    shop.store_change(play="rewrite-listing-copy", day=10)
    assert shop.store_value("conversion_rate", 10) == 0.02
    assert abs(shop.store_value("conversion_rate", 11) - 0.03) < 1e-12
    assert shop.store_value("conversion_rate", 16) == 0.02


def test_a_store_change_taken_back_ends_the_day_it_is_taken_back_and_only_that_plays():
    effects = ("  bundle-offer: {metric: aov, relative: -0.2, lag_days: 0, duration_days: 21}\n"
               "  rewrite-listing-copy: {metric: aov, relative: 0.5, lag_days: 0, duration_days: 30}\n")
    shop = Shop(_scenario(effects=effects), seed=1)
    shop.store_change(play="bundle-offer", day=10)
    shop.store_change(play="rewrite-listing-copy", day=10)
    assert shop.store_revert(play="bundle-offer", day=17) is True
    assert shop.store_revert(play="bundle-offer", day=18) is False  # nothing left to end
    shop.store_change(play="bundle-offer", day=40)  # acts on days 40-60
    assert shop.store_revert(play="bundle-offer", day=60) is False  # its last day: it ends anyway
    assert abs(shop.store_value("aov", 17) - 35 * 0.8 * 1.5) < 1e-9  # still on the day it is taken back
    assert abs(shop.store_value("aov", 18) - 35 * 1.5) < 1e-9  # gone the next day; the copy stays

def test_a_contact_acts_on_that_person_only_and_a_holdout_stays_at_baseline():
    # given 2,000 lapsed customers, half contacted by a play that doubles repeat purchases
    scenario = _scenario(
        "  visitors_per_day: 0.0001\n  leads_per_day: 0\n  repeat_purchase_rate: 0.5\n"
        "  fatigue: {unsubscribe_per_contact: 0}\n",
        "  win-back-email: {metric: repeat_purchase_rate, relative: 1.0, lag_days: 0, duration_days: 60}\n")
    shop = Shop(scenario, seed=3)
    people = [shop._new_person(0) for _ in range(2000)]
    for person in people:
        person.last_order_day = -30
    treated = {p.id for p in people[:1000]}
    for person_id in treated:
        shop.contact(person_id=person_id, play="win-back-email", day=0)
    # when 20 days pass
    buyers = [s.person_id for d in _run(shop, 20) for s in d.sales if s.repeat]
    # then the treated bought about twice as often as the held out
    in_treated = sum(1 for b in buyers if b in treated)
    in_holdout = len(buyers) - in_treated
    assert in_holdout > 50 and 1.6 < in_treated / in_holdout < 2.5


def test_fatigue_lowers_response_and_unsubscribes_the_over_contacted():
    fatigue = "  fatigue: {window_days: 7, response_drop_per_contact: 0.5, unsubscribe_per_contact: 0.2}\n"
    shop = Shop(_scenario(fatigue), seed=5)
    people = [shop._new_person(0) for _ in range(500)]
    for day in range(5):
        for person in people:
            shop.contact(person_id=person.id, play="win-back-email", day=day)
    unsubscribed = sum(1 for p in people if p.unsubscribed)
    assert unsubscribed > 300  # 0.2, 0.4, 0.6, ... per contact within the week
    tired = shop._new_person(0)
    tired.contacts = [0, 1, 2, 3, 4]
    assert shop._fatigue_response(tired, 4) == 0.5 ** 4 and shop._fatigue_response(tired, 20) == 1
    assert not shop.contact(person_id=next(p.id for p in people if p.unsubscribed), play="win-back-email", day=6)
