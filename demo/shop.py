"""The simulated shop: daily visitors, orders, refunds, leads and tickets drawn from a scenario, with
customers whose hidden state (purchase propensity, fatigue, unsubscribes) responds to what the
platform does at its edges. The commander never sees this model; it sees only the rows it produces.

Two edges change the hidden state, as the real world would:
- `contact(person, play)`: a marketing message reached a person. The play's effects then act on that
  person only (their repeat purchases, order value, refunds, or a lead's conversion), so a held-out
  group that is never contacted stays at the baseline.
- `store_change(play)`: the play changed the store itself (copy, price, listing). Its effects act on
  every visitor from then on.
Each effect starts after its lag and lasts its duration; its size is drawn once per run around the
scenario's value (the effect's own noise).

Random numbers come from separate streams per day and per part of the day (repeat purchases, visitors,
leads, tickets) and one for the edges, so two runs on the same seed see the same baseline draws
(common random numbers) and differ only where the plays differ: the lift between policies is not
drowned in the noise of unrelated draws.
"""

from dataclasses import dataclass, field

import numpy as np

from .scenario import Effect, Scenario

LAPSED_AFTER_DAYS = 30
LEAD_CONVERSION_DAYS = 14
PROPENSITY_HALF_LIFE_DAYS = 180


@dataclass
class Person:
    id: int
    is_lead: bool = False
    first_day: int = 0
    last_order_day: int | None = None
    orders: int = 0
    contacts: list[int] = field(default_factory=list)
    unsubscribed: bool = False
    effects: list[tuple[Effect, int, int, float]] = field(default_factory=list)  # effect, start, end, size


@dataclass(frozen=True)
class Sale:
    person_id: int
    amount: float
    refunded: bool
    repeat: bool


@dataclass
class Day:
    index: int
    visitors: int = 0
    sales: list[Sale] = field(default_factory=list)
    new_leads: list[int] = field(default_factory=list)
    converted_leads: list[int] = field(default_factory=list)
    tickets: int = 0
    unsubscribed: list[int] = field(default_factory=list)


class Shop:
    def __init__(self, scenario: Scenario, *, seed: int, first_weekday: int = 0):
        self.scenario = scenario
        self.seed = seed
        self.rng = np.random.default_rng([seed, 0])  # the edges: effect sizes, unsubscribes
        self.first_weekday = first_weekday  # weekday of day 0, Monday = 0
        self.people: dict[int, Person] = {}
        self.store_effects: list[tuple[Effect, int, int, float]] = []
        self.started: set[tuple[str, str]] = set()  # (play, "store") already changed the store
        self.pending_conversions: dict[int, list[int]] = {}  # day -> lead ids converting that day
        self.converting: set[int] = set()
        self.new_unsubscribes: list[int] = []
        self._next_id = 1

    # --- the edges the platform reaches ---------------------------------------------------------
    def _window(self, effect: Effect, day: int) -> tuple[int, int, float]:
        size = effect.relative * (1 + self.rng.normal(0, effect.noise)) if effect.noise else effect.relative
        start = day + effect.lag_days
        return start, start + effect.duration_days, max(size, -0.95)

    def contact(self, *, person_id: int, play: str, day: int) -> bool:
        """A marketing message for `play` reached the person; False when they had unsubscribed."""
        person = self.people.get(person_id)
        if person is None or person.unsubscribed:
            return False
        fatigue = self.scenario.fatigue
        person.contacts.append(day)
        recent = sum(1 for d in person.contacts if day - d < fatigue["window_days"])
        if self.rng.random() < fatigue["unsubscribe_per_contact"] * recent:
            person.unsubscribed = True
            self.new_unsubscribes.append(person.id)
        for effect in self.scenario.effects.get(play, []):
            person.effects.append((effect, *self._window(effect, day)))
        return True

    def store_change(self, *, play: str, day: int) -> None:
        """The play changed the store (once per play run): its effects act on every visitor."""
        for effect in self.scenario.effects.get(play, []):
            self.store_effects.append((effect, *self._window(effect, day)))

    # --- the shop's own life --------------------------------------------------------------------
    def _new_person(self, day: int, *, is_lead: bool = False) -> Person:
        person = Person(id=self._next_id, is_lead=is_lead, first_day=day)
        self.people[person.id] = person
        self._next_id += 1
        return person

    @staticmethod
    def _active(effects, metric: str, day: int) -> float:
        multiplier = 1.0
        for effect, start, end, size in effects:
            if effect.metric == metric and start <= day < end:
                multiplier *= 1 + size
        return multiplier

    def baseline(self, metric: str, day: int) -> float:
        """The metric's value on `day` before any play: base × weekday × trend × shocks."""
        shop = self.scenario.shop
        value = shop[metric]
        if metric in ("visitors_per_day", "leads_per_day", "tickets_per_day"):
            value *= self.scenario.weekday_factors[(self.first_weekday + day) % 7]
            value *= (1 + shop["trend_per_day"]) ** day
        for shock in self.scenario.shocks:
            if shock.metric == metric and shock.day <= day < shock.day + shock.days:
                value *= shock.factor
        return value

    def store_value(self, metric: str, day: int) -> float:
        return self.baseline(metric, day) * self._active(self.store_effects, metric, day)

    def _noisy(self, mean: float, rng) -> float:
        noise = self.scenario.shop["noise"]
        return mean * float(rng.lognormal(-noise * noise / 2, noise)) if noise else mean

    def _fatigue_response(self, person: Person, day: int) -> float:
        fatigue = self.scenario.fatigue
        recent = sum(1 for d in person.contacts if day - d < fatigue["window_days"])
        return (1 - fatigue["response_drop_per_contact"]) ** max(0, recent - 1)

    def _sale(self, person: Person, day: int, *, repeat: bool, rng) -> Sale:
        aov = self.store_value("aov", day) * self._active(person.effects, "aov", day)
        amount = round(float(rng.gamma(4.0, aov / 4.0)), 2)
        refund_rate = min(1.0, self.store_value("refund_rate", day) * self._active(person.effects, "refund_rate", day))
        person.orders += 1
        person.last_order_day = day
        return Sale(person_id=person.id, amount=max(amount, 1.0), refunded=bool(rng.random() < refund_rate),
                    repeat=repeat)

    def day_rng(self, day: int, part: int):
        """The random stream of one part of one day (days may be negative: the warm-up before day 0)."""
        return np.random.default_rng([self.seed, 1 + part, day + 1_000_000])

    def simulate_day(self, day: int) -> Day:
        out = Day(index=day, unsubscribed=self.new_unsubscribes)
        self.new_unsubscribes = []
        rng = self.day_rng(day, 0)
        # Repeat purchases of lapsed customers: a propensity that decays with time since their last order.
        base_repeat = self.store_value("repeat_purchase_rate", day) / LAPSED_AFTER_DAYS
        for person in list(self.people.values()):
            if person.last_order_day is None or day - person.last_order_day < LAPSED_AFTER_DAYS:
                continue
            since = day - person.last_order_day - LAPSED_AFTER_DAYS
            p = (base_repeat * 0.5 ** (since / PROPENSITY_HALF_LIFE_DAYS)
                 * self._active(person.effects, "repeat_purchase_rate", day) * self._fatigue_response(person, day))
            if rng.random() < min(p, 1.0):
                out.sales.append(self._sale(person, day, repeat=True, rng=rng))
        # New visitors who buy.
        rng = self.day_rng(day, 1)
        out.visitors = int(rng.poisson(self._noisy(self.store_value("visitors_per_day", day), rng)))
        buyers = int(rng.binomial(out.visitors, min(1.0, self.store_value("conversion_rate", day))))
        for _ in range(buyers):
            out.sales.append(self._sale(self._new_person(day), day, repeat=False, rng=rng))
        # Leads arrive; a share converts within two weeks (a contacted lead's conversion may be lifted).
        rng = self.day_rng(day, 2)
        for lead_id in self.pending_conversions.pop(day, []):
            lead = self.people[lead_id]
            out.converted_leads.append(lead_id)
            out.sales.append(self._sale(lead, day, repeat=False, rng=rng))
        for _ in range(int(rng.poisson(self._noisy(self.store_value("leads_per_day", day), rng)))):
            lead = self._new_person(day, is_lead=True)
            out.new_leads.append(lead.id)
        for person in self.people.values():
            if person.is_lead and person.orders == 0 and day - person.first_day < LEAD_CONVERSION_DAYS:
                rate = (self.store_value("lead_conversion", day) * self._active(person.effects, "lead_conversion", day)
                        * self._fatigue_response(person, day))
                if person.id not in self.converting and rng.random() < rate / LEAD_CONVERSION_DAYS:
                    self.converting.add(person.id)
                    self.pending_conversions.setdefault(day + 1, []).append(person.id)
        rng = self.day_rng(day, 3)
        out.tickets = int(rng.poisson(self._noisy(self.store_value("tickets_per_day", day), rng)))
        return out
