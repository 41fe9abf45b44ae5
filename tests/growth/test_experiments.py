"""Experiments: sticky assignment, waffle rollout, and a read-out whose numbers agree with each other."""

import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from scipy import integrate
from scipy import stats as sps
from waffle.models import Flag

from autonomax.models import ConfigChange
from growth.experiments import (
    diff_test,
    experiment_create,
    experiment_readout,
    experiment_start,
    experiment_stop,
    prob_beat,
    readout_compute,
    variant_for,
)
from growth.models import Assignment, Experiment
from growth.selectors import experiments_evidence
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 7, 10, 0, tzinfo=UTC)
AB = [{"key": "control", "weight": 50, "is_control": True}, {"key": "b", "weight": 50}]


@pytest.fixture(autouse=True)
def _clock_at_now():
    """The experiments start and convert relative to NOW; the API reads them at the clock's now: the same moment
    (otherwise "14 days in" would be 14 days plus however long ago NOW was)."""
    with time_machine.travel(NOW, tick=True):
        yield


def _plant(experiment, counts: dict[str, tuple[int, int]], at=NOW):
    rows, unit = [], 1
    for key, (n, conversions) in counts.items():
        for i in range(n):
            rows.append(Assignment(company=experiment.company, experiment=experiment, unit_id=unit, variant=key,
                                   assigned_at=at, converted_at=at if i < conversions else None))
            unit += 1
    Assignment.objects.bulk_create(rows)


@pytest.mark.parametrize(("ca", "na", "cb", "nb"), [(10, 100, 15, 100), (0, 20, 3, 20), (120, 1000, 100, 1000),
                                                    (5, 50, 5, 50)])
def test_prob_beat_control_matches_numerical_integration(ca, na, cb, nb):
    a, b = sps.beta(1 + ca, 1 + na - ca), sps.beta(1 + cb, 1 + nb - cb)
    expected, _ = integrate.quad(lambda x: b.pdf(x) * a.cdf(x), 0, 1, limit=200)
    assert prob_beat(conv_a=ca, n_a=na, conv_b=cb, n_b=nb) == pytest.approx(expected, abs=1e-6)


def test_interval_p_value_and_probability_agree():
    rng = random.Random(7)
    for _ in range(300):
        na, nb = rng.randint(50, 3000), rng.randint(50, 3000)
        ca, cb = rng.randint(0, na // 4), rng.randint(0, nb // 4)
        test = diff_test(conv_a=ca, n_a=na, conv_b=cb, n_b=nb, alpha=0.05)
        excludes_zero = test["ci_low"] > 0 or test["ci_high"] < 0
        assert test["significant"] == excludes_zero
        if test["significant"] and test["diff"] > 0 and min(ca, cb) >= 10:
            assert prob_beat(conv_a=ca, n_a=na, conv_b=cb, n_b=nb) > 0.95


def _variants(control, treatment, weights=(50, 50)):
    return [{"key": "control", "weight": weights[0], "is_control": True, "n": control[0], "conversions": control[1]},
            {"key": "b", "weight": weights[1], "is_control": False, "n": treatment[0], "conversions": treatment[1]}]


def test_planted_55_45_split_is_unhealthy():
    readout = readout_compute(variants=_variants((5500, 550), (4500, 600)), started_at=NOW - timedelta(days=14),
                              now=NOW, min_sample=200, min_days=7, alpha=0.05, running=True)
    assert readout["srm_p"] < 0.001 and readout["verdict"] == "unhealthy" and readout["winner"] is None


@pytest.mark.parametrize(("control", "treatment", "days", "running", "verdict", "winner"), [
    ((1000, 100), (1000, 150), 3, True, "running", None),
    ((100, 10), (100, 20), 10, True, "insufficient_data", None),
    ((1000, 100), (1000, 150), 10, True, "winner", "b"),
    ((1000, 150), (1000, 100), 10, False, "winner", "control"),
    ((1000, 100), (1000, 108), 10, True, "no_difference", None),
])
def test_verdicts_wait_for_sample_and_run_length(control, treatment, days, running, verdict, winner):
    readout = readout_compute(variants=_variants(control, treatment), started_at=NOW - timedelta(days=days), now=NOW,
                              min_sample=200, min_days=7, alpha=0.05, running=running)
    assert (readout["verdict"], readout["winner"]) == (verdict, winner)


def test_readout_api_from_stored_assignments(owner_api, company):
    # given: a running experiment, 14 days in, with planted outcomes; another company's experiment, same key
    _, api = owner_api
    experiment = experiment_create(company=company, key="subject-line", name="Subject line", variants=AB)
    experiment = experiment_start(experiment=experiment, now=NOW - timedelta(days=14))
    _plant(experiment, {"control": (1000, 100), "b": (1000, 150)})
    other = experiment_create(company=CompanyFactory(), key="subject-line", name="theirs", variants=AB)

    # when
    body = api.get(f"/api/v1/experiments/{experiment.pk}/readout/").json()

    # then
    assert body["verdict"] == "winner" and body["winner"] == "b"
    b = body["variants"][1]
    assert (b["n"], b["conversions"], b["rate"]) == (1000, 150, 0.15)
    assert b["ci_low"] > 0 and b["p_value"] < 0.05 and b["prob_beat_control"] > 0.99
    assert body["srm_p"] == pytest.approx(1.0)
    assert api.get(f"/api/v1/experiments/{other.pk}/readout/").status_code == 404


def test_assignment_is_sticky_and_follows_the_weights(owner_api, company):
    # given
    _, api = owner_api
    experiment = experiment_create(company=company, key="price", name="Price", variants=AB)
    experiment = experiment_start(experiment=experiment)
    leads = [LeadFactory(company=company) for _ in range(200)]

    # when
    first = {lead.pk: api.post(f"/api/v1/experiments/{experiment.pk}/assign/", {"unit_id": lead.pk},
                               format="json").json()["variant"] for lead in leads}
    again = {lead.pk: variant_for(experiment=experiment, unit_id=lead.pk) for lead in leads}

    # then
    assert first == again
    assert Assignment.objects.filter(experiment=experiment).count() == 200
    share = sum(v == "b" for v in first.values()) / 200
    assert 0.35 < share < 0.65
    other_lead = LeadFactory(company=CompanyFactory())
    assert api.post(f"/api/v1/experiments/{experiment.pk}/assign/", {"unit_id": other_lead.pk},
                    format="json").status_code == 404


def test_zero_exposure_flag_keeps_everyone_on_control_unassigned(company):
    experiment = experiment_create(company=company, key="off", name="Off", variants=AB, exposure_percent=100)
    experiment = experiment_start(experiment=experiment)
    Flag.objects.filter(name=experiment.flag_name).update(everyone=False)
    assert {variant_for(experiment=experiment, unit_id=i) for i in range(1, 50)} == {"control"}
    assert not Assignment.objects.exists()


def test_roll_out_winner_sets_the_flag_and_records_who(owner_api, company):
    # given
    membership, api = owner_api
    experiment = experiment_create(company=company, key="cta", name="CTA", variants=AB)
    experiment = experiment_start(experiment=experiment, now=NOW - timedelta(days=14))
    _plant(experiment, {"control": (1000, 100), "b": (1000, 150)})

    # when
    response = api.post(f"/api/v1/experiments/{experiment.pk}/rollout/", {}, format="json")

    # then
    assert response.status_code == 200, response.json()
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.ROLLED_OUT and experiment.winner == "b"
    assert experiment.rolled_out_by == membership.user
    flag = Flag.objects.get(name=experiment.flag_name)
    assert flag.everyone is True and "100%" in flag.note
    assert variant_for(experiment=experiment, unit_id=999999) == "b"
    assert ConfigChange.objects.filter(object_type="growth.experiment", object_id="cta",
                                       actor=membership.user).exists()
    assert api.post(f"/api/v1/experiments/{experiment.pk}/rollout/", {}, format="json").status_code == 409


def test_no_winner_no_rollout_without_an_explicit_variant(owner_api, company):
    _, api = owner_api
    experiment = experiment_create(company=company, key="flat", name="Flat", variants=AB)
    experiment = experiment_start(experiment=experiment, now=NOW - timedelta(days=14))
    _plant(experiment, {"control": (300, 30), "b": (300, 31)})
    assert api.post(f"/api/v1/experiments/{experiment.pk}/rollout/", {}, format="json").status_code == 409
    assert api.post(f"/api/v1/experiments/{experiment.pk}/rollout/", {"variant": "nope"},
                    format="json").status_code == 400


def test_a_lead_purchase_converts_its_assignment(company):
    from growth.events import lead_events_record

    experiment = experiment_create(company=company, key="conv", name="Conv", variants=AB)
    experiment = experiment_start(experiment=experiment)
    lead = LeadFactory(company=company)
    variant_for(experiment=experiment, unit_id=lead.pk)
    lead_events_record(company=company, events=[{"idempotency_key": "o1", "type": "purchase", "lead_id": lead.pk}])
    assert Assignment.objects.get(experiment=experiment, unit_id=lead.pk).converted_at is not None
    assert sum(v["conversions"] for v in experiment_readout(experiment=experiment)["variants"]) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"key": "x", "name": "x", "variants": [{"key": "a"}]}, "variants"),
    ({"key": "x", "name": "x", "variants": [{"key": "a"}, {"key": "a"}]}, "variants"),
    ({"key": "x", "name": "x", "variants": AB, "alpha": 0.9}, "alpha"),
])
def test_bad_experiments_are_400(owner_api, body, field):
    _, api = owner_api
    response = api.post("/api/v1/experiments/", body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["details"]
    assert not Experiment.objects.exists()


@pytest.mark.parametrize(("control", "treatment", "verdict"), [
    ((1000, 100), (1000, 150), "win"), ((1000, 150), (1000, 100), "loss"), ((1000, 100), (1000, 102), "no_effect"),
    ((100, 10), (100, 20), "inconclusive")])
def test_a_finished_experiment_is_evidence_the_commander_can_read(company, other_company, control, treatment,
                                                                  verdict):
    # given: an experiment a mission started, run 14 days; the other company has a finished one too
    experiment = experiment_create(company=company, key="subject-line", name="Subject line", variants=AB,
                                   correlation_id="mission-42")
    experiment = experiment_start(experiment=experiment, now=NOW - timedelta(days=14))
    _plant(experiment, {"control": control, "b": treatment})
    theirs = experiment_start(experiment=experiment_create(company=other_company, key="x", name="x", variants=AB),
                              now=NOW - timedelta(days=14))
    experiment_stop(experiment=theirs, now=NOW)

    # when: it is stopped, then more units arrive
    experiment_stop(experiment=experiment, now=NOW)
    Assignment.objects.bulk_create([Assignment(company=company, experiment=experiment, unit_id=10_000 + i, variant="b",
                                               assigned_at=NOW + timedelta(days=1)) for i in range(500)])

    # then: its verdict as evidence, frozen at the stop, for this company only
    (evidence,) = experiments_evidence(company=company, correlation_id="mission-42")
    readout = readout_compute(variants=_variants(control, treatment), started_at=NOW - timedelta(days=14), now=NOW,
                              min_sample=200, min_days=7, alpha=0.05, running=False)
    b = readout["variants"][1]
    assert evidence["verdict"] == verdict and evidence["method"] == "experiment"
    assert (evidence["effect"], evidence["ci_low"], evidence["ci_high"], evidence["prob_improvement"]) == (
        b["diff"], b["ci_low"], b["ci_high"], b["prob_beat_control"])
    assert (evidence["treated_n"], evidence["control_n"]) == (treatment[0], control[0])
    assert experiments_evidence(company=company, correlation_id="other") == []
    assert [e["experiment"] for e in experiments_evidence(company=other_company)] == ["x"]
