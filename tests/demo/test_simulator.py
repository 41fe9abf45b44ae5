"""The simulator end to end on short scenarios: the report's contract and invariants, same seed same
numbers, the sandbox never touches another company, bad scenario files refused by the command."""

import json
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from autonomax.models import Company
from chimera.commander.models import Mission
from chimera.commander.services.cycle import cycle_run_company
from commerce.models import Customer, Order
from demo.management.commands.simulate import playbook_keys
from demo.scenario import scenario_parse
from demo.simulator import RunResult, interval, report_build, run_one
from demo.truth import play_values
from growth.models import EmailDelivery, Lead
from kpis.models import MetricSnapshot

# A shop where the truth is clear: new copy lifts conversion by half, the bundle halves order value.
CLEAR = """\
shop:
  visitors_per_day: 400
  conversion_rate: 0.02
  aov: 30.0
  refund_rate: 0.04
  repeat_purchase_rate: 0.05
  leads_per_day: 12
  lead_conversion: 0.06
  tickets_per_day: 4
  noise: 0.1
effects:
  rewrite-listing-copy: {metric: conversion_rate, relative: 0.5, lag_days: 0, duration_days: 30}
  bundle-offer: {metric: aov, relative: -0.5, lag_days: 0, duration_days: 21}
  win-back-email: {metric: repeat_purchase_rate, relative: 0.3, lag_days: 1, duration_days: 14}
"""
WARMUP = 32


@pytest.fixture
def clear_file(tmp_path):
    path = tmp_path / "clear.yml"
    path.write_text(CLEAR)
    return path


def _scenario(text=CLEAR):
    return scenario_parse(text=text, file="clear.yml", known_plays=playbook_keys())


@pytest.mark.django_db(transaction=False)
def test_compare_writes_the_contract_and_keeps_its_invariants(clear_file, tmp_path):
    # given a scenario whose truth is clear
    out, chart = tmp_path / "report.json", tmp_path / "chart.png"
    # when every policy runs on the same seed
    call_command("simulate", "--scenario-file", str(clear_file), "--days", "20", "--seed", "3", "--compare",
                 "--warmup-days", str(WARMUP), "--json", str(out), "--chart", str(chart))
    # then the report has one row per policy with the documented fields
    report = json.loads(out.read_text())
    rows = {row["policy"]: row for row in report["policies"]}
    assert set(rows) == {"learn", "static", "none", "random", "oracle"}
    assert report["days"] == 20 and report["seeds"] == [3] and report["truth"]["harmful"] == ["bundle-offer"]
    for row in rows.values():
        assert {"policy", "net_revenue", "lift_vs_none", "oracle_share", "harmful_runs", "evidence_accuracy",
                "regret", "contacts", "unsubscribes", "rest_days", "versus"} <= set(row)
        assert len(row["regret"]) == 20 and set(row["harmful_runs"]) == {"bundle-offer"}
        assert row["rest_days"] == [0]  # 20 days: no person was emailed twice
    # none's lift is zero, the oracle's share is one and it never runs the harmful play
    assert rows["none"]["lift_vs_none"]["mean"] == 0 and rows["none"]["missions"] == {}
    assert rows["oracle"]["oracle_share"] == 1 and rows["oracle"]["harmful_runs"]["bundle-offer"]["max"] == 0
    assert rows["oracle"]["regret"] == [0.0] * 20
    # 52 days of history hold too few repeat buyers before the holdout: the churn model says so, no numbers
    for row in rows.values():
        churn = row["churn_model"]
        assert churn["mae"] is None and churn["deciles"] == [] and churn["seeds_checked"] == 0
        assert churn["note"].startswith("not enough history: ")
        assert churn["per_seed"] == [{"seed": 3, "customers": None, "mae": None, "predicted": None, "actual": None,
                                      "note": churn["note"]}]
    # the oracle is the upper bound: it runs the strong play at once and beats the others
    assert rows["oracle"]["missions"].get("rewrite-listing-copy", 0) >= 1
    for policy in ("learn", "static", "random"):
        assert rows["oracle"]["lift_vs_none"]["mean"] >= rows[policy]["lift_vs_none"]["mean"]
    assert rows["oracle"]["lift_vs_none"]["mean"] > 0
    # learning finds the strong play (its first picks hold their slots for the two-week windows) and never runs
    # a harmful one more than three times
    assert rows["learn"]["missions"].get("rewrite-listing-copy", 0) >= 1
    assert rows["learn"]["harmful_runs"]["bundle-offer"]["max"] <= 3
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # and nothing of the sandboxes is left
    assert not Company.objects.filter(slug__startswith="sim-").exists()


def test_same_seed_same_numbers(db):
    scenario = _scenario()

    def run():
        result = run_one(scenario=scenario, policy="learn", seed=5, days=16, warmup_days=45)
        return result.daily_net, dict(result.approved), result.evidence

    first = run()
    assert first[1], "plays ran"
    assert first[2], "evidence was recorded"
    # the same numbers, the same evidence, and the same mission ids (they key the holdout splits and their draws)
    assert run() == first


@pytest.mark.django_db(transaction=False)
def test_the_churn_model_is_checked_on_the_sandbox_the_same_for_the_same_seed(clear_file, tmp_path, capsys):
    # given a shop with enough history for a fit (its customers come back after 30 days: a long warm-up)
    def simulate(out):
        call_command("simulate", "--scenario-file", str(clear_file), "--days", "5", "--seed", "4", "--policy", "none",
                     "--warmup-days", "150", "--json", str(out))
        return {row["policy"]: row["churn_model"] for row in json.loads(out.read_text())["policies"]}

    # when the same seed runs twice
    first = simulate(tmp_path / "first.json")
    printed = capsys.readouterr().out
    second = simulate(tmp_path / "second.json")
    # then each policy's report has the holdout check of the customers app's model (its quality is not
    # the point here), the same both times, and the command prints its error
    assert first == second and set(first) == {"none", "oracle"}
    for churn in first.values():
        assert churn["seeds_checked"] == 1 and churn["note"] == "" and churn["holdout_days"] == 51
        assert churn["customers"] > 0 and churn["mae"] >= 0 and churn["predicted"] > 0 and churn["actual"] >= 0
        assert [d["decile"] for d in churn["deciles"]] == list(range(1, 11))
        assert sum(d["customers"] for d in churn["deciles"]) == churn["customers"]
        assert churn["per_seed"] == [{"seed": 4, "customers": churn["customers"], "mae": churn["mae"],
                                      "predicted": churn["predicted"], "actual": churn["actual"], "note": ""}]
        assert f"churn model: fit before the last 51 days, MAE {churn['mae']} purchases per customer" in printed
    assert not Company.objects.filter(slug__startswith="sim-").exists()


def test_an_email_play_with_a_discount_reaches_the_simulated_people(db):
    # given a shop where only the nurture email to warm leads (it creates a discount code first) pays
    scenario = _scenario(CLEAR.split("effects:")[0] + "effects:\n  nurture-warm-leads: {metric: lead_conversion, "
                                                       "relative: 0.5, lag_days: 1, duration_days: 14}\n")
    # when the oracle runs it
    result = run_one(scenario=scenario, policy="oracle", seed=2, days=3, warmup_days=WARMUP)
    # then the email went out to people (the simulated Shopify took the code) and no mission went to a person
    assert result.approved["nurture-warm-leads"] >= 1
    assert result.timing["contacts"] > 0


def test_a_bundle_measured_as_a_loss_is_taken_back_in_the_simulated_store(db):
    # given the clear shop, where the bundle halves order value; static runs it at once
    result = run_one(scenario=_scenario(), policy="static", seed=1, days=10, warmup_days=WARMUP)
    # then its evidence is a loss, and the platform's undo reached the simulated Shopify and ended the bundle's
    # effect there (the price test beside it, measured on net revenue, lost too, but it has no effect here)
    assert "bundle-offer" in [row["play"] for row in result.evidence if row["verdict"] == "loss"]
    assert result.timing["store_reverts"] == 1


def test_on_a_tiring_shop_the_platform_learns_to_rest_people_between_emails(db):
    # given the fatigue scenario: a second email within 30 days doubles the unsubscribes (8% of readers per email
    # in the month); the plays email the same warm leads and lapsed customers every two weeks
    path = settings.BASE_DIR / "configs" / "scenarios" / "fatigue.yml"
    scenario = scenario_parse(text=path.read_text(), file=str(path), known_plays=playbook_keys())
    # when learn runs for 40 days
    result = run_one(scenario=scenario, policy="learn", seed=1, days=40, warmup_days=45)
    # then the unsubscribes told the platform: plays now leave people 30 days between marketing emails
    assert result.timing["rest_days"] == 30
    assert result.timing["unsubscribes"] > 0


def test_the_sandbox_never_reads_or_writes_another_company(db):
    # given another company with its own history, KPIs, playbook and a cycle run
    from chimera.commander.services.playbook import playbook_load
    from kpis.services import kpis_load_config

    other = Company.objects.create(slug="other", name="Other Shop")
    kpis_load_config(company=other)
    playbook_load(companies=[other])
    customer = Customer.objects.create(company=other, email="sim-1@shop.test", created_at="2025-12-01T10:00Z")
    Order.objects.create(company=other, customer=customer, total=Decimal("20"), status=Order.Status.PAID,
                         created_at="2025-12-01T10:00Z", paid_at="2025-12-01T10:00Z")
    Lead.objects.create(company=other, email="sim-2@shop.test", consent=True, score=90, created_at="2025-12-01T10:00Z")
    cycle_run_company(company=other)

    def state():
        return (MetricSnapshot.objects.filter(company=other).count(), Mission.objects.filter(company=other).count(),
                Order.objects.filter(company=other).count(), Lead.objects.filter(company=other).count(),
                EmailDelivery.objects.filter(company=other).count(),
                sorted(Lead.objects.filter(company=other).values_list("status", flat=True)))

    before = state()
    # when a simulation runs (the same e-mail addresses exist in the other company)
    with CaptureQueriesContext(connection) as queries:
        result = run_one(scenario=_scenario(), policy="random", seed=2, days=4, warmup_days=WARMUP)
    # then no query named the other company and none of its rows changed
    assert sum(result.approved.values()) >= 1
    marks = [f'"company_id" = {other.pk}', f'"company_id" IN ({other.pk}', f'"autonomax_company"."id" = {other.pk}']
    assert not [q["sql"] for q in queries.captured_queries if any(m in q["sql"] for m in marks)]
    assert state() == before
    assert list(Company.objects.values_list("slug", flat=True)) == ["other"]


def test_a_bad_scenario_file_is_refused_with_file_line_and_reason(tmp_path, db):
    bad = tmp_path / "bad.yml"
    bad.write_text("shop:\n  aov: 30\neffects:\n  win-back-emial: {metric: aov, relative: 0.1}\n")
    with pytest.raises(CommandError) as refused:
        call_command("simulate", "--scenario-file", str(bad), "--days", "3")
    assert f"{bad}:4" in str(refused.value) and "unknown play 'win-back-emial'" in str(refused.value)
    with pytest.raises(CommandError, match="no scenario 'nope'"):
        call_command("simulate", "--scenario", "nope")
    assert not Company.objects.exists()


def _run(policy, seed, daily, approved=(), evidence=()):
    return RunResult(policy=policy, seed=seed, daily_net=daily, approved=Counter(approved), evidence=list(evidence),
                     company_slug="x")


def test_report_lift_interval_share_harm_and_evidence_accuracy():
    # given two seeds of none, learn and oracle with known numbers
    values = play_values(_scenario())
    right = {"play": "rewrite-listing-copy", "success": True, "verdict": None, "min_change_pct": 5}
    wrong = {"play": "bundle-offer", "success": True, "verdict": None, "min_change_pct": 5}
    small = {"play": "win-back-email", "success": False, "verdict": None, "min_change_pct": 90}
    runs = {"none": [_run("none", 1, [100, 100]), _run("none", 2, [90, 110])],
            "learn": [_run("learn", 1, [110, 120], ["bundle-offer", "bundle-offer"], [right, wrong, small]),
                      _run("learn", 2, [100, 130], ["bundle-offer"], [right])],
            "oracle": [_run("oracle", 1, [120, 130]), _run("oracle", 2, [110, 140])]}
    # when the report is built
    report = report_build(scenario=_scenario(), runs=runs, days=2, seeds=[1, 2], cycles_per_day=1, values=values)
    rows = {row["policy"]: row for row in report["policies"]}
    # then lifts are per seed against none, with a t interval over seeds
    assert rows["learn"]["lift_vs_none"]["per_seed"] == [30, 30] and rows["oracle"]["lift_vs_none"]["mean"] == 50
    assert rows["none"]["lift_vs_none"] == {"mean": 0, "low": 0, "high": 0, "n": 2, "per_seed": [0, 0], "pct": 0}
    assert rows["learn"]["oracle_share"] == 0.6
    # paired by seed: learn earned 20 less than the oracle on each seed
    assert rows["learn"]["versus"] == {"oracle": {"mean": -20.0, "low": -20.0, "high": -20.0, "n": 2}}
    assert rows["oracle"]["versus"]["learn"]["mean"] == 20 and "none" not in rows["oracle"]["versus"]
    assert rows["learn"]["harmful_runs"] == {"bundle-offer": {"mean": 1.5, "max": 2}}
    # evidence: two right, one wrong; the small effect below its minimum worthwhile change is not judged
    assert rows["learn"]["evidence_accuracy"] == {"share": 0.6667, "right": 2, "judged": 3}
    assert rows["learn"]["verdicts"] == {"bundle-offer": {"none": 1}, "rewrite-listing-copy": {"none": 2},
                                         "win-back-email": {"none": 1}}
    assert rows["learn"]["regret"] == [10.0, 20.0]
    assert interval([1.0, 3.0]) == {"mean": 2.0, "low": -10.71, "high": 14.71, "n": 2}


def test_truth_values_sign_the_plays():
    values = play_values(_scenario())
    assert values["rewrite-listing-copy"]["value"] > 0 and not values["rewrite-listing-copy"]["harmful"]
    assert values["bundle-offer"]["harmful"] and values["bundle-offer"]["value"] < 0
    assert "faq-macros" not in values
    # a win-back lifts its readers' repeat purchases by 30%: what its evidence measures and its minimum worthwhile
    # change is read against, though it is a small share of the whole shop's revenue
    assert values["win-back-email"]["metric_relative"] == 0.3 and values["win-back-email"]["relative"] < 0.03
    assert values["bundle-offer"]["metric_relative"] == -0.5
    # a nurture lifts only the leads in the pipeline that day, for the days each has left to convert (13, 12, ...
    # 0 of the 14 after a day's lag): 6.5 days of the lead flow, not its 14
    nurture = play_values(_scenario(CLEAR + "  nurture-warm-leads: {metric: lead_conversion, relative: 0.5, "
                                            "lag_days: 1, duration_days: 14}\n"))["nurture-warm-leads"]
    leads_per_day = 12 * 1.0 * 0.06 * 30.0 * (1 - 0.04)
    assert nurture["value"] == round(leads_per_day * 0.5 * 6.5, 2)


def test_policies_rank_proposals_their_own_way():
    from types import SimpleNamespace

    import numpy as np

    from demo.policies import policy_rank

    def mission(pk, key, score, impact, alpha, beta, rank):
        play = SimpleNamespace(key=key, impact=Decimal(impact), prior_alpha=Decimal(alpha), prior_beta=Decimal(beta))
        return SimpleNamespace(pk=pk, play=play, score=Decimal(score), created_at=pk, policy_rank=rank)

    proposed = [mission(1, "bundle-offer", "0.9", "0.7", 2, 2, 3),
                mission(2, "win-back-email", "0.5", "0.5", 2, 3, 1),
                mission(3, "rewrite-listing-copy", "0.7", "0.6", 3, 2, 2),
                mission(4, "faq-macros", "0.8", "0.3", 3, 1, 4)]
    values = {"bundle-offer": {"value": -500}, "rewrite-listing-copy": {"value": 900},
              "win-back-email": {"value": 100, "resend_after_days": 30}}
    rng = np.random.default_rng(1)

    def keys(policy, **kw):
        return [m.play.key for m in policy_rank(policy=policy, proposed=proposed, values=values, rng=rng, **kw)]

    assert keys("none") == []
    # learn takes the commander's own rank (its learning policy), not the suggestion score
    assert keys("learn") == ["win-back-email", "rewrite-listing-copy", "bundle-offer", "faq-macros"]
    assert keys("static") == ["rewrite-listing-copy", "bundle-offer", "faq-macros", "win-back-email"]
    assert sorted(keys("random")) == sorted(m.play.key for m in proposed)
    # the oracle approves only what pays, best first, and lets tired people rest
    assert keys("oracle") == ["rewrite-listing-copy", "win-back-email"]
    assert keys("oracle", last_run={"win-back-email": 12}) == ["rewrite-listing-copy"]
    assert keys("oracle", last_run={"win-back-email": 30}) == ["rewrite-listing-copy", "win-back-email"]


def test_keep_leaves_a_company_with_its_history_ending_today(db, clear_file):
    # given the demo company's people
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from autonomax.models import Membership, Role

    demo = Company.objects.create(slug="demo", name="Demo")
    person = get_user_model().objects.create(username="operator")
    Membership.objects.create(user=person, company=demo, role=Role.OPERATOR)
    # when one run is kept
    call_command("simulate", "--scenario-file", str(clear_file), "--days", "5", "--policy", "learn",
                 "--warmup-days", str(WARMUP), "--keep", "demo-simulated")
    # then the company stays, active, with a history that ends before now and the missions it ran
    kept = Company.objects.get(slug="demo-simulated")
    assert kept.is_active and Membership.objects.filter(company=kept, user=person, role=Role.OPERATOR).exists()
    last = Order.objects.filter(company=kept).latest("paid_at").paid_at
    assert timezone.now() - last < timedelta(days=2) and last < timezone.now()
    assert Mission.objects.filter(company=kept).exclude(status=Mission.Status.REJECTED).exists()
    assert not Company.objects.filter(slug__startswith="sim-").exists()
    # and a second kept run under the same slug is refused
    with pytest.raises(CommandError, match="exists already"):
        call_command("simulate", "--scenario-file", str(clear_file), "--days", "1", "--keep", "demo-simulated")


def test_a_saved_report_is_on_the_dashboard_for_staff(db, client):
    # given a finished report kept with its chart
    from django.contrib.auth import get_user_model

    from demo.services import simulation_report_save

    values = play_values(_scenario())
    runs = {"none": [_run("none", 1, [100, 100])], "learn": [_run("learn", 1, [110, 120], ["bundle-offer"])],
            "oracle": [_run("oracle", 1, [120, 130])]}
    report = report_build(scenario=_scenario(), runs=runs, days=2, seeds=[1], cycles_per_day=1, values=values)
    saved = simulation_report_save(report=report)
    staff = get_user_model().objects.create(username="staff", is_staff=True)
    # when a person who is not staff asks, they are sent to log in
    assert client.get(f"/simulations/{saved.pk}/").status_code == 302
    client.force_login(staff)
    # then staff see the list, the policy table and the chart
    assert f"/simulations/{saved.pk}/" in client.get("/simulations/").content.decode()
    page = client.get(f"/simulations/{saved.pk}/").content.decode()
    assert 'data-policy="learn"' in page and "bundle-offer: 1.0 (max 1)" in page and "chart.png" in page
    chart = client.get(f"/simulations/{saved.pk}/chart.png")
    assert chart["Content-Type"] == "image/png" and chart.content[:4] == b"\x89PNG"
    assert client.get("/simulations/999999/").status_code == 404
