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
and whether a given person buys (or converts, refunds, unsubscribes) is a draw keyed by that person
and day (common random numbers): runs differ only where the plays differ, so the lift between
policies is not drowned in the noise of unrelated draws.
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
        self.store_effects: list[tuple[Effect, int, int, float, str]] = []  # (effect, start, end, size, play)
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
        if self.uniform(day, 40 + len(person.contacts), [person.id])[0] < fatigue["unsubscribe_per_contact"] * recent:
            person.unsubscribed = True
            self.new_unsubscribes.append(person.id)
        for effect in self.scenario.effects.get(play, []):
            person.effects.append((effect, *self._window(effect, day)))
        return True

    def store_change(self, *, play: str, day: int) -> None:
        """The play changed the store (once per play run): its effects act on every visitor."""
        for effect in self.scenario.effects.get(play, []):
            self.store_effects.append((effect, *self._window(effect, day), play))

    def store_revert(self, *, play: str, day: int) -> bool:
        """The platform took the play's store changes back on `day`: their effects end after it. Whether an
        effect was still to come."""
        acting = any(changed_by == play and end > day + 1 for _, _, end, _, changed_by in self.store_effects)
        self.store_effects = [(effect, start, min(end, max(start, day + 1)) if changed_by == play else end, size,
                               changed_by) for effect, start, end, size, changed_by in self.store_effects]
        return acting

    # --- the shop's own life --------------------------------------------------------------------
    def _new_person(self, day: int, *, is_lead: bool = False, key: int | None = None) -> Person:
        if key is None:
            key, self._next_id = self._next_id, self._next_id + 1
        person = Person(id=key, is_lead=is_lead, first_day=day)
        self.people[person.id] = person
        return person

    def uniform(self, day: int, part: int, keys) -> np.ndarray:
        """Uniform draws in [0, 1) keyed by (seed, day, part, key): the same person on the same day draws the
        same number in every run of the seed, whatever else happened (a splitmix64 hash)."""
        x = np.asarray(keys, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        x ^= np.uint64((self.seed * 1_000_003 + (day + 1_000_000) * 7_919 + part * 104_729) % 2**63)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
        return (x >> np.uint64(11)).astype(np.float64) * 2.0 ** -53

    @staticmethod
    def _active(effects, metric: str, day: int) -> float:
        multiplier = 1.0
        for effect, start, end, size, *_ in effects:
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

    def _sales(self, people: list[Person], day: int, *, repeat: bool, part: int) -> list[Sale]:
        """Orders of these people today: amounts lognormal around the order value (CV 0.5), refunds by rate."""
        if not people:
            return []
        keys = [p.id for p in people]
        u1, u2, u3 = (self.uniform(day, part + k, keys) for k in range(3))
        z = np.sqrt(-2 * np.log(1 - u1)) * np.cos(2 * np.pi * u2)
        sigma = 0.47  # lognormal with a coefficient of variation of 0.5
        store_aov, store_refund = self.store_value("aov", day), self.store_value("refund_rate", day)
        sales = []
        for person, zi, ui in zip(people, z, u3, strict=True):
            aov = store_aov * self._active(person.effects, "aov", day)
            amount = round(float(aov * np.exp(sigma * zi - sigma * sigma / 2)), 2)
            refund_rate = min(1.0, store_refund * self._active(person.effects, "refund_rate", day))
            person.orders += 1
            person.last_order_day = day
            sales.append(Sale(person_id=person.id, amount=max(amount, 1.0), refunded=bool(ui < refund_rate),
                              repeat=repeat))
        return sales

    def day_rng(self, day: int, part: int):
        """The random stream of one part of one day (days may be negative: the warm-up before day 0)."""
        return np.random.default_rng([self.seed, 1 + part, day + 1_000_000])

    def simulate_day(self, day: int) -> Day:
        """One day of the shop. Counts (visitors, leads, tickets) come from the day's streams; whether a
        given person buys, converts or refunds, and for how much, from draws keyed by that person, so a
        play that lifts a rate only ever adds buyers in a run of the same seed, and never reshuffles them."""
        out = Day(index=day, unsubscribed=self.new_unsubscribes)
        self.new_unsubscribes = []
        # Repeat purchases of lapsed customers: a propensity that decays with time since their last order.
        base_repeat = self.store_value("repeat_purchase_rate", day) / LAPSED_AFTER_DAYS
        lapsed = [p for p in self.people.values()
                  if p.last_order_day is not None and day - p.last_order_day >= LAPSED_AFTER_DAYS]
        draws = self.uniform(day, 10, [p.id for p in lapsed]) if lapsed else []
        buyers = []
        for person, u in zip(lapsed, draws, strict=True):
            since = day - person.last_order_day - LAPSED_AFTER_DAYS
            p = (base_repeat * 0.5 ** (since / PROPENSITY_HALF_LIFE_DAYS)
                 * self._active(person.effects, "repeat_purchase_rate", day) * self._fatigue_response(person, day))
            if u < p:
                buyers.append(person)
        out.sales.extend(self._sales(buyers, day, repeat=True, part=11))
        # New visitors: visitor k of the day buys when their draw is under today's conversion rate.
        rng = self.day_rng(day, 1)
        out.visitors = int(rng.poisson(self._noisy(self.store_value("visitors_per_day", day), rng)))
        base = (day + 1_000) * 100_000
        keys = np.arange(base, base + out.visitors)
        buying = keys[self.uniform(day, 20, keys) < min(1.0, self.store_value("conversion_rate", day))]
        buyers = [self._new_person(day, key=int(k)) for k in buying]
        out.sales.extend(self._sales(buyers, day, repeat=False, part=21))
        # Leads arrive; a share converts within two weeks (a contacted lead's conversion may be lifted).
        converting = [self.people[i] for i in self.pending_conversions.pop(day, [])]
        out.converted_leads.extend(p.id for p in converting)
        out.sales.extend(self._sales(converting, day, repeat=False, part=31))
        rng = self.day_rng(day, 2)
        for k in range(int(rng.poisson(self._noisy(self.store_value("leads_per_day", day), rng)))):
            out.new_leads.append(self._new_person(day, is_lead=True, key=base + 50_000 + k).id)
        open_leads = [p for p in self.people.values() if p.is_lead and p.orders == 0 and p.id not in self.converting
                      and day - p.first_day < LEAD_CONVERSION_DAYS]
        draws = self.uniform(day, 30, [p.id for p in open_leads]) if open_leads else []
        rate = self.store_value("lead_conversion", day)
        for person, u in zip(open_leads, draws, strict=True):
            p = rate * self._active(person.effects, "lead_conversion", day) * self._fatigue_response(person, day)
            if u < p / LEAD_CONVERSION_DAYS:
                self.converting.add(person.id)
                self.pending_conversions.setdefault(day + 1, []).append(person.id)
        rng = self.day_rng(day, 3)
        out.tickets = int(rng.poisson(self._noisy(self.store_value("tickets_per_day", day), rng)))
        return out
