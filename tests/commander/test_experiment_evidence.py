"""Plays start growth experiments as jobs, and the experiment's frozen read-out is the mission's evidence."""

from datetime import timedelta

import pytest
from django.utils import timezone

from autonomax.models import Role
from chimera.commander.models import EvidenceRecord, Job, Mission
from chimera.commander.services.evidence import evidence_log_due, measure_plan
from chimera.commander.services.jobs import job_run
from chimera.commander.services.missions import mission_approve
from growth.experiments import experiment_create, experiment_start, experiment_stop
from growth.models import Experiment
from growth.selectors import experiments_evidence
from tests.factories import MembershipFactory
from tests.growth.test_experiments import _plant as plant

from .factories import ALL_OK, load_playbook, propose

pytestmark = pytest.mark.usefixtures("demo_clock")

AB = [{"key": "control", "weight": 50, "is_control": True}, {"key": "b", "weight": 50, "content": {"cta": "Buy"}}]


@pytest.fixture
def owner(company):
    return MembershipFactory(company=company, role=Role.OWNER, user__email="boss@example.com").user


@pytest.fixture
def mission(company, owner):
    """An approved mission whose play starts an experiment (its first job)."""
    load_playbook(company)
    return mission_approve(mission=propose(company, "price-test-best-seller"), actor=owner)


def experiment_job(mission, **params) -> Job:
    return Job.objects.create(company=mission.company, mission=mission, type="experiment_start",
                              bot="experiment_bot", order=0, status=Job.Status.QUEUED,
                              params={"key": "cta", "name": "Checkout button", "variants": AB, **params})


def measuring(mission, *, hours_ago=1) -> Mission:
    """The mission as measured by its experiment, its window over `hours_ago` ago."""
    snapshot = {**mission.play_snapshot, "measure": {},
                "job_plan": [{"type": "experiment_start", "bot": "experiment_bot"}]}
    plan = measure_plan(company=mission.company, snapshot=snapshot, kpis=ALL_OK)
    end = timezone.now() - timedelta(hours=hours_ago)
    Mission.objects.filter(pk=mission.pk).update(status=Mission.Status.MEASURING, play_snapshot=snapshot,
                                                 measure_plan=plan, started_at=end - timedelta(days=3),
                                                 measure_due_at=end)
    mission.refresh_from_db()
    return mission


def missions_experiment(mission, *, stopped: bool) -> Experiment:
    """An experiment the mission's job started 14 days ago, b clearly better (12% vs 8% on 1000 each)."""
    started = timezone.now() - timedelta(days=14)
    experiment = experiment_create(company=mission.company, key=f"cta-m{mission.pk}", name="CTA", variants=AB,
                                   correlation_id=str(mission.correlation_id))
    experiment = experiment_start(experiment=experiment, now=started)
    plant(experiment, {"control": (1000, 80), "b": (1000, 120)}, at=started + timedelta(days=1))
    return experiment_stop(experiment=experiment) if stopped else experiment


def other_companys_finished_experiment(other_company, correlation_id: str) -> None:
    """The second tenant's finished experiment with the same correlation id: never this company's evidence."""
    started = timezone.now() - timedelta(days=14)
    other = experiment_start(experiment=experiment_create(company=other_company, key="cta", name="CTA", variants=AB,
                                                          correlation_id=correlation_id), now=started)
    plant(other, {"control": (1000, 150), "b": (1000, 50)}, at=started + timedelta(days=1))
    experiment_stop(experiment=other)


def test_the_experiment_bot_starts_one_running_experiment_carrying_the_missions_correlation_id(
        company, other_company, mission):
    # given the second company already runs an experiment under the same key
    experiment_create(company=other_company, key=f"cta-m{mission.pk}", name="CTA", variants=AB)
    job = experiment_job(mission, exposure_percent=50)

    # when the job runs, then is delivered again as if the worker died before acking
    assert job_run(job_id=job.pk) == "done"
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
    assert job_run(job_id=job.pk) == "done"

    # then one experiment is running for this company, with the mission's correlation id and both variants
    job.refresh_from_db()
    (experiment,) = Experiment.objects.filter(company=company)
    assert experiment.status == Experiment.Status.RUNNING and experiment.started_at is not None
    assert experiment.correlation_id == str(mission.correlation_id)
    assert sorted(experiment.variants.values_list("key", flat=True)) == ["b", "control"]
    assert job.status == Job.Status.SUCCEEDED and job.result["experiment_id"] == experiment.pk
    assert Experiment.objects.get(company=other_company).status == Experiment.Status.DRAFT


def test_a_job_that_cannot_start_its_experiment_does_not_succeed(company, other_company, mission):
    # given a play step with a single variant (nothing to compare)
    job = experiment_job(mission, variants=[{"key": "control", "weight": 100}])

    # when it runs
    outcome = job_run(job_id=job.pk)

    # then the job failed, nothing was created, and the mission went to a person
    job.refresh_from_db()
    assert outcome == "failed" and job.status == Job.Status.FAILED and "two variants" in job.error
    assert not Experiment.objects.filter(company=company).exists()


def test_a_job_whose_experiment_was_already_stopped_reports_nothing_done(company, mission):
    # given the job's experiment exists but someone stopped it before the (retried) job ran
    experiment = experiment_create(company=company, key=f"cta-m{mission.pk}", name="CTA", variants=AB,
                                   correlation_id=str(mission.correlation_id))
    experiment_stop(experiment=experiment_start(experiment=experiment))

    # when the job runs, then it says it started nothing
    assert job_run(job_id=experiment_job(mission).pk) == "skipped"


def test_the_evidence_record_takes_the_experiments_verdict_and_interval(company, other_company, mission):
    # given the mission's experiment finished and the second company's (the opposite result) too
    mission = measuring(mission)
    missions_experiment(mission, stopped=True)
    other_companys_finished_experiment(other_company, str(mission.correlation_id))
    (readout,) = experiments_evidence(company=company, correlation_id=str(mission.correlation_id))

    # when the measurement is due
    (record,) = evidence_log_due(company=company, kpis=ALL_OK)

    # then the record is the experiment's read-out
    mission.refresh_from_db()
    assert mission.status == Mission.Status.COMPLETED
    assert record.method == EvidenceRecord.Method.EXPERIMENT and readout["verdict"] == "win"
    assert record.verdict == EvidenceRecord.Verdict.WIN and record.success
    assert record.effect == pytest.approx(0.04)
    assert (record.ci_low_abs, record.ci_high_abs) == (pytest.approx(readout["ci_low"]),
                                                        pytest.approx(readout["ci_high"]))
    assert record.ci_low_abs > 0  # a win's interval excludes zero
    assert record.effect_rel == pytest.approx(0.5) and record.ci_low == pytest.approx(readout["ci_low"] / 0.08)
    assert record.prob_improvement == pytest.approx(readout["prob_improvement"])
    assert record.ci_level == pytest.approx(0.95)
    assert (record.treated_n, record.control_n) == (1000, 1000)
    assert "+50.0% conversion rate (95% interval" in record.notes and "against its control" in record.notes


def test_a_running_experiment_produces_no_record_until_it_stops_or_the_wait_runs_out(
        company, other_company, mission, demo_clock):
    # given the window is over but the mission's experiment still runs (the other company's is finished)
    mission = measuring(mission)
    experiment = missions_experiment(mission, stopped=False)
    other_companys_finished_experiment(other_company, str(mission.correlation_id))

    # when the measurement is due, then nothing is recorded and the mission keeps measuring
    assert evidence_log_due(company=company, kpis=ALL_OK) == []
    mission.refresh_from_db()
    assert mission.status == Mission.Status.MEASURING and not EvidenceRecord.objects.filter(mission=mission).exists()

    # when it is still running past the wait (14 days after the window), then the record is inconclusive
    demo_clock.shift(timedelta(days=14, hours=1))
    (record,) = evidence_log_due(company=company, kpis=ALL_OK)
    assert record.method == EvidenceRecord.Method.EXPERIMENT
    assert record.verdict == EvidenceRecord.Verdict.INCONCLUSIVE and record.effect is None
    assert "had finished 14 days after the window" in record.notes
    assert experiment.pk  # the experiment itself is left running: only a person stops it


def test_an_experiment_stopped_in_time_is_recorded_at_the_next_look(company, mission):
    # given the measurement was due while the experiment ran
    mission = measuring(mission)
    experiment = missions_experiment(mission, stopped=False)
    assert evidence_log_due(company=company, kpis=ALL_OK) == []

    # when a person stops it, then the next look records its verdict
    experiment_stop(experiment=experiment)
    (record,) = evidence_log_due(company=company, kpis=ALL_OK)
    assert record.verdict == EvidenceRecord.Verdict.WIN
