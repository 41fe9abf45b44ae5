"""The shop simulator: the real commander loop run on a synthetic shop whose true play effects are known.

One run = one scenario × one policy × one seed, in a fresh sandbox company:
1. the sandbox gets the company's base KPIs, the playbook, a small catalog, an owner (who approves as
   the policy says) and a Shopify connection (answered by the simulated shop, see `demo.edge`);
2. the shop lives `WARMUP_DAYS` before day 0 (history for the 7- and 30-day KPIs), then `days` days;
   each day its orders, refunds, customers, leads and tickets are written to the real tables;
3. on each simulated day the clock is moved there (time-machine) and the real cycle runs
   `cycles_per_day` times: ingest -> evaluate -> suggest -> the policy approves -> jobs (run by the
   simulator as the worker would, through the real task) -> evidence when due;
4. at the edges (email, Shopify, AI) the simulated shop answers and its hidden state changes.

By default a run happens inside a transaction that is rolled back at the end: nothing of the sandbox
is left, and no other company's rows are read or written (every query is scoped to the sandbox).
`keep_slug` keeps the sandbox as that company, its history ending today (`simulate --keep SLUG`,
`seed_demo --simulated-shop`).
"""

import logging
import math
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock
from urllib.parse import urlparse

import numpy as np
import time_machine
from django.db import connection, transaction
from django.test import override_settings

from .edge import Edge, edge_installed, person_email
from .policies import POLICIES, policy_decide
from .scenario import Scenario
from .shop import Day, Shop
from .truth import play_values

logger = logging.getLogger(__name__)

START = datetime(2026, 1, 5, tzinfo=UTC)  # day 0, a Monday
WARMUP_DAYS = 45
CATALOG = [("SIM-PLANNER", "Planner Template Pack", "19.00"), ("SIM-GUIDE", "Pricing Guide (ebook)", "29.00"),
           ("SIM-PRESETS", "Photo Presets Bundle", "39.00"), ("SIM-KIT", "Brand Kit Templates", "49.00"),
           ("SIM-COURSE", "Mini Course: Launch a Shop", "79.00")]
PRODUCT_WEIGHTS = [0.35, 0.25, 0.2, 0.12, 0.08]
MARKETING_CONSENT = 0.85  # share of leads and buyers who agree to marketing email
CHECKOUT_CONSENT_WORDING = "Checkout: \"Keep me updated with news and offers\" (ticked)"
TICKET_INTENTS = [("Download link not working", "download_issue"), ("Can I get a refund?", "refund_request"),
                  ("How do I use the template?", "how_to"), ("Invoice for my purchase", "billing")]
# Two-sided 97.5% Student t quantiles for 1..30 degrees of freedom (then the normal's 1.96).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042]


class SimulationError(Exception):
    pass


@dataclass
class RunResult:
    policy: str
    seed: int
    daily_net: list[float]
    approved: Counter
    evidence: list[dict]
    company_slug: str
    timing: dict = field(default_factory=dict)
    churn_model: dict = field(default_factory=dict)  # the customers app's holdout check on the sandbox

    @property
    def net_revenue(self) -> float:
        return round(sum(self.daily_net), 2)


def _day_net(day: Day) -> float:
    return sum(s.amount for s in day.sales if not s.refunded)


# --- the sandbox ----------------------------------------------------------------------------------

def sandbox_create(*, scenario: Scenario, policy: str, seed: int, company=None, slug: str = ""):
    """A fresh company with the base KPIs and playbook, a catalog, an owner and a Shopify connection.

    `slug`: a company kept after the run (active, so the dashboard and the cycle see it); the people of
    the `demo` company, if there is one, get the same roles in it."""
    from django.contrib.auth import get_user_model  # noqa: PLC0415

    from autonomax.models import Company, Membership, Role  # noqa: PLC0415
    from chimera.commander.services.playbook import playbook_load  # noqa: PLC0415
    from commerce.models import ChannelConnection, Product  # noqa: PLC0415
    from kpis.services import kpis_load_config  # noqa: PLC0415

    tag = uuid.uuid4().hex[:8]
    if company is None and slug:
        if Company.objects.filter(slug=slug).exists():
            raise SimulationError(f"a company with slug {slug!r} exists already")
        company = Company.objects.create(slug=slug, name=f"Simulated shop ({scenario.name})",
                                         support_email="shop@sim.test")
        for membership in Membership.objects.filter(company__slug="demo"):
            Membership.objects.get_or_create(user_id=membership.user_id, company=company,
                                             defaults={"role": membership.role})
    if company is None:
        company = Company.objects.create(slug=f"sim-{scenario.name}-{policy}-s{seed}-{tag}"[:64],
                                         name=f"Simulated shop ({scenario.name}, {policy}, seed {seed})",
                                         is_active=False, support_email="shop@sim.test")
    kpis_load_config(company=company, reason="simulation sandbox: base KPIs")
    playbook_load(companies=[company], actor_label="simulate", reason="simulation sandbox: base playbook")
    owner = get_user_model().objects.create(username=f"sim-owner-{company.pk}-{tag}", email="owner@sim.test")
    Membership.objects.get_or_create(user=owner, company=company, defaults={"role": Role.OWNER})
    products = [Product.objects.get_or_create(
        company=company, sku=sku, defaults={"slug": f"{company.slug}-{sku.lower()}"[:120], "name": name,
                                            "price": Decimal(price), "status": Product.Status.ACTIVE,
                                            "description": f"{name}: ready to use, with a guide."})[0]
        for sku, name, price in CATALOG]
    ChannelConnection.objects.get_or_create(company=company, channel="shopify",
                                            defaults={"shop_domain": "sim.myshopify.com",
                                                      "access_token_env": "SIMULATED_SHOPIFY_TOKEN"})
    return company, owner, products


class _Writer:
    """Writes a simulated day into the platform's tables (bulk, like an import), and remembers ids."""

    def __init__(self, *, company, products):
        self.company = company
        self.products = products
        self.customers: dict[int, int] = {}  # person id -> Customer pk
        self.leads: dict[int, int] = {}  # person id -> Lead pk
        self.orders = 0

    def write(self, *, shop: Shop, day: Day, date: datetime) -> None:
        from commerce.models import Customer, CustomerConsent, Order, OrderItem, Refund  # noqa: PLC0415
        from growth.models import Lead  # noqa: PLC0415
        from support.models import Ticket  # noqa: PLC0415

        rng = shop.day_rng(day.index, 4)
        company, currency = self.company, self.company.currency

        def moment(hours=20.0):
            return date + timedelta(minutes=int(rng.uniform(0, hours * 60)))

        new_leads = []
        for person_id in day.new_leads:
            score = int(np.clip(rng.normal(50, 18), 0, 100))
            at = moment()
            new_leads.append(Lead(company=company, email=person_email(person_id), name=f"Lead {person_id}",
                                  source="landing", score=score, consent=bool(rng.random() < MARKETING_CONSENT),
                                  consent_at=at, created_at=at))
        for lead in Lead.objects.bulk_create(new_leads):
            self.leads[int(lead.email.split("-")[1].split("@")[0])] = lead.pk
        if day.converted_leads:
            Lead.objects.filter(pk__in=[self.leads[p] for p in day.converted_leads if p in self.leads]).update(
                status=Lead.Status.CONVERTED, converted_at=date + timedelta(hours=1))

        new_customers = []
        for sale in day.sales:
            if sale.person_id not in self.customers:
                self.customers[sale.person_id] = None
                new_customers.append(Customer(company=company, email=person_email(sale.person_id),
                                              name=f"Buyer {sale.person_id}", created_at=date))
        consents = []
        for customer in Customer.objects.bulk_create(new_customers):
            person_id = int(customer.email.split("-")[1].split("@")[0])
            self.customers[person_id] = customer.pk
            # Most buyers tick "keep me updated" at checkout, like most leads (a draw keyed by the person).
            if shop.uniform(0, 7, [person_id])[0] < MARKETING_CONSENT:
                consents.append(CustomerConsent(company=company, customer=customer,
                                                status=CustomerConsent.Status.GRANTED, source="checkout_form",
                                                wording=CHECKOUT_CONSENT_WORDING, recorded_at=date))
        CustomerConsent.objects.bulk_create(consents)

        orders, items, refunds = [], [], []
        for sale in day.sales:
            self.orders += 1
            at = moment()
            amount = Decimal(str(sale.amount)).quantize(Decimal("0.01"))
            product = self.products[int(rng.choice(len(self.products), p=PRODUCT_WEIGHTS))]
            order = Order(company=company, customer_id=self.customers[sale.person_id], channel="stripe",
                          external_id=f"sim-{self.orders:06d}", currency=currency, total=amount, created_at=at,
                          paid_at=at, fulfilled_at=at + timedelta(minutes=1),
                          status=Order.Status.REFUNDED if sale.refunded else Order.Status.FULFILLED)
            if sale.refunded:
                order.amount_refunded, order.refunded_at = amount, at + timedelta(hours=2)
            orders.append(order)
            items.append(OrderItem(product=product, title=product.name, quantity=1, unit_price=amount))
        Order.objects.bulk_create(orders)
        for order, item in zip(orders, items, strict=True):
            item.order = order
            if order.amount_refunded:
                refunds.append(Refund(company=company, order=order, amount=order.amount_refunded, currency=currency,
                                      reason="requested_by_customer", status=Refund.Status.SUCCEEDED,
                                      created_at=order.refunded_at))
        OrderItem.objects.bulk_create(items)
        Refund.objects.bulk_create(refunds)

        tickets = []
        for n in range(day.tickets):
            subject, intent = TICKET_INTENTS[int(rng.integers(len(TICKET_INTENTS)))]
            at = moment(18)
            first = at + timedelta(minutes=float(rng.lognormal(math.log(75), 0.6)))
            resolved = first + timedelta(hours=float(rng.uniform(0.5, 6)))
            tickets.append(Ticket(company=company, subject=subject, customer_email=f"ticket-{day.index}-{n}@sim.test",
                                  intent=intent, created_at=at, first_response_at=first, resolved_at=resolved,
                                  status=Ticket.Status.RESOLVED))
        Ticket.objects.bulk_create(tickets)


def _drain_jobs(company, edge: Edge) -> int:
    """Run the sandbox's queued jobs through the real task, as the worker would, until none is left."""
    from chimera.commander.models import Job  # noqa: PLC0415
    from chimera.tasks import job_execute  # noqa: PLC0415

    ran = 0
    for _ in range(50):
        ids = list(Job.objects.filter(company=company, status=Job.Status.QUEUED).order_by("pk")
                   .values_list("pk", flat=True))
        if not ids:
            break
        for job_id in ids:
            edge.forget()
            job_execute.apply(args=[job_id])
            ran += 1
    return ran


def _click_unsubscribes(edge: Edge) -> None:
    from growth.services import lead_unsubscribe  # noqa: PLC0415

    for link in edge.pending_unsubscribes:
        token = [part for part in urlparse(link).path.split("/") if part][-1]
        lead_unsubscribe(token=token)
    edge.pending_unsubscribes = []


def _evidence_rows(company) -> list[dict]:
    from chimera.commander.models import EvidenceRecord  # noqa: PLC0415

    rows = []
    for record in EvidenceRecord.objects.filter(company=company).select_related("play", "mission").order_by("pk"):
        rows.append({"play": record.play.key, "success": record.success, "mission": str(record.correlation_id),
                     "verdict": getattr(record, "verdict", None) or None,
                     "min_change_pct": (record.mission.play_snapshot.get("success") or {}).get("min_change_pct"),
                     "method": record.method, "start": record.window_start.date().isoformat(),
                     "effect_rel": record.effect_rel, "ci": [record.ci_low, record.ci_high],
                     "treated_n": record.treated_n, "control_n": record.control_n,
                     "confounded_with": len(record.confounded_with or [])})
    return rows


def run_one(*, scenario: Scenario, policy: str, seed: int, days: int, cycles_per_day: int = 1,
            keep_slug: str = "", values: dict | None = None, warmup_days: int = WARMUP_DAYS) -> RunResult:
    """One policy on one seed in a fresh sandbox, rolled back at the end.

    `keep_slug`: keep it instead, as that company, with its history ending today (the demo's history).
    """
    from autonomax.celery import app  # noqa: PLC0415
    from chimera.commander.models import Mission  # noqa: PLC0415
    from chimera.commander.services.cycle import cycle_run_company  # noqa: PLC0415
    from chimera.commander.services.policy import policy_use  # noqa: PLC0415
    from customers.services.lifetime import holdout_evaluate  # noqa: PLC0415
    from growth.capture import growth_settings_for  # noqa: PLC0415

    if policy not in POLICIES:
        raise SimulationError(f"unknown policy {policy!r} (one of {', '.join(POLICIES)})")
    values = play_values(scenario) if values is None else values
    timing = {"shop": 0.0, "cycle": 0.0, "policy_and_jobs": 0.0, "setup": 0.0, "churn_model": 0.0,
              "queries_shop": 0, "queries_cycle": 0, "queries_policy_and_jobs": 0, "cycles": 0}
    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    def phase(name, since_time, since_queries):
        timing[name] += time.perf_counter() - since_time
        timing[f"queries_{name}"] += queries[0] - since_queries

    start = START
    if keep_slug:
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # nothing goes to a broker; the jobs run here
    # The platform's own sampling (if it draws from the module-level generators) is seeded too, so the
    # same seed gives the same numbers; both generators are restored afterwards.
    saved = random.getstate(), np.random.get_state()
    random.seed(f"simulate:{seed}")
    np.random.seed(seed % 2**32)
    # A mission's correlation id keys its holdout split and its interval's draws: random ids would split the
    # audience differently on every run of the same seed, so the run's ids come from the seed too. The ids are
    # unique, so they are also keyed by what else makes a run (scenario, policy, kept slug): runs going on at
    # the same time in one database (or kept side by side) never share one.
    ids = random.Random(f"simulate-ids:{scenario.name}:{policy}:{keep_slug}:{seed}")
    correlation = Mission._meta.get_field("correlation_id")
    started = time.perf_counter()
    try:
        # The commander ranks with its own learning policy, seeded so the same seed gives the same draws.
        # Mail queued for after the commit of a kept run (the simulated owner's alerts) stays in the simulation.
        with (connection.execute_wrapper(count), override_settings(EMAIL_BACKEND="demo.edge.SimulatedEmailBackend"),
              mock.patch.object(correlation, "_get_default", lambda: uuid.UUID(int=ids.getrandbits(128), version=4)),
              transaction.atomic(), policy_use("learn", seed=seed),
              time_machine.travel(start - timedelta(days=warmup_days + 1), tick=False) as clock):
            company, owner, products = sandbox_create(scenario=scenario, policy=policy, seed=seed, slug=keep_slug)
            shop = Shop(scenario, seed=seed, first_weekday=start.weekday())
            writer = _Writer(company=company, products=products)
            edge = Edge(company_id=company.pk, shop=shop)
            rng = np.random.default_rng([seed, 7])
            daily = []
            timing["setup"] = time.perf_counter() - started
            with edge_installed(edge):
                for d in range(-warmup_days, days):
                    t0, q0 = time.perf_counter(), queries[0]
                    date = start + timedelta(days=d)
                    clock.move_to(date)
                    edge.day = d
                    _click_unsubscribes(edge)
                    day = shop.simulate_day(d)
                    writer.write(shop=shop, day=day, date=date)
                    phase("shop", t0, q0)
                    if d < 0:
                        continue
                    daily.append(round(_day_net(day), 2))
                    for k in range(cycles_per_day):
                        at = date + timedelta(hours=24 * (k + 1) / cycles_per_day) - timedelta(minutes=1)
                        clock.move_to(at)
                        t1, q1 = time.perf_counter(), queries[0]
                        edge.forget()
                        report = cycle_run_company(company=company, now=at)
                        if "skipped" in report or "error" in report:
                            raise SimulationError(f"the cycle did not run on day {d}: {report}")
                        phase("cycle", t1, q1)
                        t2, q2 = time.perf_counter(), queries[0]
                        policy_decide(policy=policy, company=company, owner=owner, values=values, rng=rng)
                        _drain_jobs(company, edge)
                        edge.forget()
                        phase("policy_and_jobs", t2, q2)
                        timing["cycles"] += 1
            approved = Counter(Mission.objects.filter(company=company).exclude(
                status__in=[Mission.Status.PROPOSED, Mission.Status.REJECTED])
                .values_list("play__key", flat=True))
            # The churn model checked against the sandbox's future, whose buyers are known (before the rollback).
            t3 = time.perf_counter()
            churn_model = holdout_evaluate(company=company, now=start + timedelta(days=days))
            timing["churn_model"] = time.perf_counter() - t3
            result = RunResult(policy=policy, seed=seed, daily_net=daily, approved=approved,
                               evidence=_evidence_rows(company), company_slug=company.slug, timing=timing,
                               churn_model=churn_model)
            result.timing["contacts"] = edge.contacts
            result.timing["unsubscribes"] = sum(person.unsubscribed for person in shop.people.values())
            result.timing["rest_days"] = growth_settings_for(company=company).marketing_rest_days
            result.timing["store_changes"] = len(edge.store_changes)
            result.timing["store_reverts"] = len(edge.store_reverts)
            if not keep_slug:
                transaction.set_rollback(True)
    finally:
        app.conf.task_always_eager = eager
        random.setstate(saved[0])
        np.random.set_state(saved[1])
    result.timing["total"] = time.perf_counter() - started
    return result


# --- the report -----------------------------------------------------------------------------------

def interval(values: list[float]) -> dict:
    """Mean with a 95% Student t interval over seeds (a single seed: the value itself)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return {"mean": round(mean, 2), "low": round(mean, 2), "high": round(mean, 2), "n": n}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = (T975[n - 2] if n - 1 <= len(T975) else 1.96) * sd / math.sqrt(n)
    return {"mean": round(mean, 2), "low": round(mean - half, 2), "high": round(mean + half, 2), "n": n}


def _evidence_accuracy(runs: list[RunResult], values: dict) -> dict:
    """Share of verdicts whose sign matches the truth (its net revenue), among plays whose true effect on the
    metric they move is at least the play's minimum worthwhile change (which is read on the play's own KPI: a
    win-back's +60% on its readers' repeat purchases, not its share of the whole shop's revenue). `inconclusive`
    verdicts are not counted; `no_effect` is wrong there (the effect was worth having or avoiding)."""
    right = judged = 0
    for run in runs:
        for row in run.evidence:
            truth = values.get(row["play"])
            wanted = abs(float(row["min_change_pct"] or 0)) / 100
            if truth is None or abs(truth.get("metric_relative", truth["relative"])) < wanted or truth["value"] == 0:
                continue
            verdict = row["verdict"]
            if verdict == "inconclusive":
                continue
            sign = {"win": 1, "loss": -1}.get(verdict, 0) if verdict else (1 if row["success"] else -1)
            judged += 1
            right += sign == (1 if truth["value"] > 0 else -1)
    return {"share": round(right / judged, 4) if judged else None, "right": right, "judged": judged}


def _verdicts(runs: list[RunResult]) -> dict:
    """Per play, how many evidence records had each verdict, summed over the seeds (`none`: a record
    without a verdict)."""
    counts: dict[str, Counter] = {}
    for run in runs:
        for row in run.evidence:
            counts.setdefault(row["play"], Counter())[row["verdict"] or "none"] += 1
    return {play: dict(sorted(c.items())) for play, c in sorted(counts.items())}


def churn_model_summary(runs: list[RunResult]) -> dict:
    """The churn model's holdout check over a policy's seeds: means over the seeds that had enough history
    (numbers null, `note` the reason, when none had), and each seed's result."""
    checked = [r.churn_model for r in runs if "mae" in r.churn_model]
    notes = sorted({r.churn_model.get("note", "") for r in runs if "mae" not in r.churn_model})

    def mean(values):
        return round(sum(values) / len(values), 4) if values else None

    return {
        "seeds_checked": len(checked),
        "holdout_days": checked[0]["days"] if checked else None,
        "customers": mean([c["customers"] for c in checked]),
        "mae": mean([c["mae"] for c in checked]),
        "predicted": mean([c["predicted_total"] for c in checked]),
        "actual": mean([c["actual_total"] for c in checked]),
        "deciles": [{"decile": n + 1, **{key: mean([c["calibration"][n][key] for c in checked])
                                         for key in ("customers", "predicted", "actual")}}
                    for n in range(10)] if checked and all(len(c["calibration"]) == 10 for c in checked) else [],
        "note": "; ".join(note for note in notes if note),
        "per_seed": [{"seed": r.seed, "customers": r.churn_model.get("customers"), "mae": r.churn_model.get("mae"),
                      "predicted": r.churn_model.get("predicted_total"), "actual": r.churn_model.get("actual_total"),
                      "note": r.churn_model.get("note", "")} for r in runs],
    }


def report_build(*, scenario: Scenario, runs: dict[str, list[RunResult]], days: int, seeds: list[int],
                 cycles_per_day: int, values: dict) -> dict:
    none = {r.seed: r for r in runs.get("none", [])}
    oracle = {r.seed: r for r in runs.get("oracle", [])}
    harmful = sorted(k for k, v in values.items() if v["harmful"])

    def lift(policy):
        return [r.net_revenue - none[r.seed].net_revenue for r in runs[policy] if r.seed in none]

    def versus(policy) -> dict:
        """Per other policy: the policy's net revenue minus the other's on the same seed, with its interval."""
        result = {}
        for other in [p for p in POLICIES if p in runs and p not in (policy, "none")]:
            by_seed = {r.seed: r.net_revenue for r in runs[other]}
            paired = [r.net_revenue - by_seed[r.seed] for r in runs[policy] if r.seed in by_seed]
            if paired:
                result[other] = interval(paired)
        return result

    oracle_lift = interval(lift("oracle"))["mean"] if oracle and none else None
    rows = []
    for policy in [p for p in POLICIES if p in runs]:
        results = runs[policy]
        lifts = lift(policy) if none else []
        lift_row = {**interval(lifts), "per_seed": [round(x, 2) for x in lifts]} if lifts else None
        if lift_row and none:
            base = sum(r.net_revenue for r in none.values()) / len(none)
            lift_row["pct"] = round(100 * lift_row["mean"] / base, 2) if base else None
        regret = None
        if oracle:
            cumulative = np.zeros(days)
            for r in results:
                cumulative += np.cumsum(np.array(oracle[r.seed].daily_net) - np.array(r.daily_net))
            regret = [round(float(x), 2) for x in cumulative / len(results)]
        cumulative_net = np.mean([np.cumsum(r.daily_net) for r in results], axis=0)
        rows.append({
            "policy": policy,
            "net_revenue": round(sum(r.net_revenue for r in results) / len(results), 2),
            "net_revenue_interval": interval([r.net_revenue for r in results]),
            "lift_vs_none": lift_row,
            "oracle_share": (round(lift_row["mean"] / oracle_lift, 4)
                             if lift_row and oracle_lift and oracle_lift > 0 else None),
            "versus": versus(policy),
            "harmful_runs": {play: {"mean": round(sum(r.approved[play] for r in results) / len(results), 2),
                                    "max": max(r.approved[play] for r in results)} for play in harmful},
            "evidence_accuracy": _evidence_accuracy(results, values),
            "missions": {play: round(sum(r.approved[play] for r in results) / len(results), 2)
                         for play in sorted({p for r in results for p in r.approved})},
            "verdicts": _verdicts(results),
            "contacts": round(sum(r.timing.get("contacts", 0) for r in results) / len(results), 1),
            "unsubscribes": round(sum(r.timing.get("unsubscribes", 0) for r in results) / len(results), 1),
            "rest_days": [r.timing.get("rest_days", 0) for r in results],
            "regret": regret,
            "cumulative_net_revenue": [round(float(x), 2) for x in cumulative_net],
            "per_seed": [{"seed": r.seed, "net_revenue": r.net_revenue} for r in results],
            "churn_model": churn_model_summary(results),
        })
    return {"scenario": scenario.name, "days": days, "seeds": seeds, "cycles_per_day": cycles_per_day,
            "warmup_days": WARMUP_DAYS, "start": START.date().isoformat(),
            "truth": {"plays": values, "harmful": harmful}, "policies": rows}


def simulate(*, scenario: Scenario, policies: list[str], seeds: list[int], days: int, cycles_per_day: int = 1,
             warmup_days: int = WARMUP_DAYS, progress=None) -> tuple[dict, dict]:
    """Every policy on every seed; the baselines a report needs (none, oracle) always run too.

    Returns (report, timing summed over the runs).
    """
    wanted = [p for p in POLICIES if p in set(policies) | {"none", "oracle"}]
    values = play_values(scenario)
    runs: dict[str, list[RunResult]] = {p: [] for p in wanted}
    timing = Counter()
    for seed in seeds:
        for policy in wanted:
            result = run_one(scenario=scenario, policy=policy, seed=seed, days=days, cycles_per_day=cycles_per_day,
                             values=values, warmup_days=warmup_days)
            runs[policy].append(result)
            timing.update(result.timing)
            if progress:
                progress(f"{scenario.name} seed {seed} {policy}: net revenue {result.net_revenue:,.2f} "
                         f"({result.timing['total']:.1f}s)")
    report = report_build(scenario=scenario, runs=runs, days=days, seeds=seeds, cycles_per_day=cycles_per_day,
                          values=values)
    report["warmup_days"] = warmup_days
    report["policies"] = [row for row in report["policies"] if row["policy"] in policies] + [
        row for row in report["policies"] if row["policy"] not in policies]
    return report, dict(timing)


def report_chart(report: dict, path) -> None:
    """Cumulative net revenue per policy and the regret curve against the oracle (PNG, Agg backend)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    days = list(range(1, report["days"] + 1))
    for row in report["policies"]:
        top.plot(days, row["cumulative_net_revenue"], label=row["policy"])
        if row["regret"] is not None and row["policy"] != "oracle":
            bottom.plot(days, row["regret"], label=row["policy"])
    top.set_ylabel("cumulative net revenue")
    top.set_title(f"Scenario {report['scenario']}: {len(report['seeds'])} seed(s) × {report['days']} days")
    top.legend()
    bottom.set_ylabel("regret vs oracle (cumulative)")
    bottom.set_xlabel("simulated day")
    bottom.axhline(0, color="grey", linewidth=0.5)
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
