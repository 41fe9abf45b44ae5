from datetime import UTC, datetime, timedelta
from decimal import Decimal

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from autonomax.models import Event
from chimera.commander.models import EvidenceRecord, Mission, Play, PlaybookVersion
from chimera.commander.services.missions import WEIGHTS, missions_suggest
from chimera.commander.services.playbook import play_update
from tests.factories import CompanyFactory

from .factories import ALL_OK, kpi, kpis_with, load_playbook
from .test_anomaly_input import revenue_drop


def test_nothing_is_suggested_when_every_kpi_is_on_target(company):
    load_playbook(company)

    assert missions_suggest(company=company, kpis=ALL_OK) == []
    assert not Mission.objects.exists()


def test_a_warning_kpi_triggers_its_play_with_stored_factors_and_an_explanation(company):
    # given
    load_playbook(company)
    kpis = kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "22.50", target="25", warning="24", critical="20",
                                       unit="USD")})

    # when
    [mission] = missions_suggest(company=company, kpis=kpis)

    # then: the factors of the issue, each 0-1, and the weighted score
    assert mission.play.key == "bundle-offer" and mission.status == Mission.Status.PROPOSED
    factors = {k: Decimal(v) for k, v in mission.score_factors.items()}
    assert factors == {
        "revenue_potential": Decimal("0.4900"),      # impact 0.7 x severity 0.7 (warning)
        "success_probability": Decimal("0.5000"),    # Beta(2, 2) prior, no evidence
        "automation_readiness": Decimal("0.8500"),   # both steps have a bot, effort 0.3 -> x0.85
        "time_to_revenue": Decimal("0.7667"),        # 168 h of 720
        "strategic_fit": Decimal("0.5000"),          # 1 of its 2 KPIs is off target
    }
    assert mission.score == sum(WEIGHTS[k] * v for k, v in factors.items()).quantize(Decimal("0.0001"))
    assert "Aov 30D (aov-30d) is 22.50 USD, WARNING (target 25, warning 24, critical 20)" in mission.explanation
    assert mission.trigger_values["aov-30d"]["value"] == "22.50"
    assert mission.play_version == 1 and mission.play_snapshot["job_plan"][0]["type"] == "bundle_create"
    event = Event.objects.get(name="agent.proposal")
    assert event.correlation_id == str(mission.correlation_id) and event.payload["play"] == "bundle-offer"


def test_a_play_depending_on_an_unknown_kpi_is_not_suggested(company):
    # given aov is critical, but net revenue (a KPI the bundle play should move) is UNKNOWN
    load_playbook(company)
    kpis = kpis_with(**{"aov-30d": kpi("aov-30d", "CRITICAL", "15"),
                        "net-revenue-7d": kpi("net-revenue-7d", "UNKNOWN", None)})

    # when
    suggested = missions_suggest(company=company, kpis=kpis)

    # then bundle-offer is skipped, and so is price-test (its trigger KPI is unknown)
    assert {m.play.key for m in suggested} == set()


def test_a_missing_kpi_counts_as_unknown(company):
    load_playbook(company)
    kpis = {k: v for k, v in kpis_with(**{"aov-30d": kpi("aov-30d", "CRITICAL", "15")}).items()
            if k != "net-revenue-7d"}

    assert missions_suggest(company=company, kpis=kpis) == []


def test_missions_are_ranked_and_open_ones_are_not_duplicated(company):
    # given several triggered plays
    load_playbook(company)
    kpis = kpis_with(**{"aov-30d": kpi("aov-30d", "CRITICAL", "15"),
                        "first-response-p50": kpi("first-response-p50", "WARNING", "70", direction="down"),
                        "refund-rate-30d": kpi("refund-rate-30d", "WARNING", "0.06", direction="down")})

    # when suggested twice
    first = missions_suggest(company=company, kpis=kpis)
    second = missions_suggest(company=company, kpis=kpis)

    # then ranked by the policy (rank 1 is its choice, with the chance it had), and the second run adds
    # nothing while they are open
    assert [m.policy_rank for m in first] == [1, 2, 3] and {m.policy for m in first} == {"learn"}
    assert all(Decimal("0.0333") <= m.propensity <= 1 for m in first)
    assert first[0].policy_info["chosen"] == first[0].play.key
    assert len(first) == 3 and second == []
    assert Mission.objects.count() == 3


def test_a_rejected_play_is_not_suggested_again_during_the_cooldown(company):
    # given a mission a person rejected just now
    load_playbook(company)
    kpis = kpis_with(**{"aov-30d": kpi("aov-30d", "CRITICAL", "15")})
    [mission] = missions_suggest(company=company, kpis=kpis)
    Mission.objects.filter(pk=mission.pk).update(status=Mission.Status.REJECTED, decided_at=timezone.now())

    # when the next cycles run, then nothing comes back until the cooldown has passed
    assert missions_suggest(company=company, kpis=kpis) == []
    assert missions_suggest(company=company, kpis=kpis, now=timezone.now() + timedelta(days=6)) == []
    assert len(missions_suggest(company=company, kpis=kpis, now=timezone.now() + timedelta(days=8))) == 1


def test_a_play_that_found_nothing_to_do_waits_a_day(company, other_company):
    # given a mission that ended no_op just now, and another company's same play rejected long ago
    load_playbook(company)
    load_playbook(other_company)
    kpis = kpis_with(**{"aov-30d": kpi("aov-30d", "CRITICAL", "15")})
    [mission] = missions_suggest(company=company, kpis=kpis)
    Mission.objects.filter(pk=mission.pk).update(status=Mission.Status.NO_OP, completed_at=timezone.now())

    # when the next cycles run, then the play comes back only once a day has passed
    assert missions_suggest(company=company, kpis=kpis) == []
    assert missions_suggest(company=company, kpis=kpis, now=timezone.now() + timedelta(hours=23)) == []
    assert len(missions_suggest(company=company, kpis=kpis, now=timezone.now() + timedelta(hours=25))) == 1
    # and the other company's suggestions were never held by it
    assert len(missions_suggest(company=other_company, kpis=kpis)) == 1


def test_a_play_whose_mission_just_completed_or_failed_is_suggested_again_at_once(company, other_company):
    # given the play's missions approved and ended just now: one completed, one failed (only a rejection or
    # nothing to do holds a play back), and another company's same play rejected just now
    load_playbook(company)
    load_playbook(other_company)
    kpis = kpis_with(**{"aov-30d": kpi("aov-30d", "CRITICAL", "15")})
    [done] = missions_suggest(company=company, kpis=kpis)
    [theirs] = missions_suggest(company=other_company, kpis=kpis)
    now = timezone.now()
    Mission.objects.filter(pk=done.pk).update(status=Mission.Status.COMPLETED, decided_at=now, completed_at=now)
    Mission.objects.filter(pk=theirs.pk).update(status=Mission.Status.REJECTED, decided_at=now)

    # when the next cycle runs
    [again] = missions_suggest(company=company, kpis=kpis)
    Mission.objects.filter(pk=again.pk).update(status=Mission.Status.FAILED, decided_at=now, completed_at=now)

    # then the play comes back at once, each time
    assert again.play_id == done.play_id
    assert [m.play_id for m in missions_suggest(company=company, kpis=kpis)] == [done.play_id]


def _three_wins(company, play):
    """Three measured runs of the play of about +10% (interval +4% to +16%), recorded now."""
    for _ in range(3):
        old = Mission.objects.create(company=company, play=play, status=Mission.Status.COMPLETED, explanation="")
        EvidenceRecord.objects.create(company=company, mission=old, play=play, correlation_id=old.correlation_id,
                                      success=True, verdict="win", method="counterfactual", kpi="aov-30d",
                                      effect=3.0, effect_rel=0.10, ci_low=0.04, ci_high=0.16, pre_days=56)


def test_success_probability_is_the_posterior_from_the_plays_own_evidence(company):
    # given bundle-offer with three measured runs of about +10% (interval +4% to +16%)
    plays = load_playbook(company)
    _three_wins(company, plays["bundle-offer"])

    # when
    [mission] = missions_suggest(company=company, kpis=kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "22")}))

    # then the probability it helps is the learned posterior's, and the explanation says what it measured
    assert Decimal(mission.score_factors["success_probability"]) > Decimal("0.99")
    assert Decimal(mission.score_factors["revenue_potential"]) > Decimal("0.3")
    assert "ran 3 times, measured +9." in mission.explanation and "90% interval" in mission.explanation
    assert "against a forecast" in mission.explanation


def test_evidence_weighs_by_its_age_at_the_cycles_time(company, other_company):
    # given bundle-offer's three measured wins of about +10%, recorded now, and the other company's play
    plays = load_playbook(company)
    load_playbook(other_company)
    _three_wins(company, plays["bundle-offer"])
    kpis = kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "22")})

    # when a cycle runs three years later (the clock it is given, not the machine's)
    [later] = missions_suggest(company=company, kpis=kpis, now=timezone.now() + timedelta(days=3 * 365))

    # then that evidence has all but faded: the probability it helps is about the prior's again
    assert Decimal(later.score_factors["success_probability"]) < Decimal("0.9")


def test_under_review_plays_do_not_trigger(company):
    plays = load_playbook(company)
    Play.objects.filter(pk=plays["bundle-offer"].pk).update(status=Play.Status.UNDER_REVIEW)

    assert missions_suggest(company=company, kpis=kpis_with(**{"aov-30d": kpi("aov-30d", "CRITICAL", "1")})) == []


def test_a_mission_keeps_the_play_version_it_was_created_from(company):
    # given a proposed mission, then the play is edited
    plays = load_playbook(company)
    [mission] = missions_suggest(company=company, kpis=kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "22")}))
    play_update(play=plays["bundle-offer"], actor=None, reason="r", expected_effect="e",
                job_plan=[{"type": "bundle_create", "bot": "pricing_bot", "params": {"size": 2}, "order": 0}])

    # then the mission's snapshot is unchanged
    mission.refresh_from_db()
    assert mission.play_version == 1 and len(mission.play_snapshot["job_plan"]) == 2


def test_a_mission_records_the_plays_current_version_and_its_score_in_the_explanation(company):
    # given a play edited once (version 2)
    plays = load_playbook(company)
    play_update(play=plays["bundle-offer"], actor=None, reason="r", expected_effect="e",
                job_plan=[{"type": "bundle_create", "bot": "pricing_bot", "params": {"size": 2}, "order": 0}])

    # when it is suggested
    [mission] = missions_suggest(company=company, kpis=kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "22")}))

    # then the mission names that version, and its explanation gives the score it was ranked by
    assert mission.play_version == 2 and len(mission.play_snapshot["job_plan"]) == 1
    assert f"Score {mission.score} = " in mission.explanation


def test_suggestion_queries_do_not_grow_with_the_number_of_plays(db):
    # given one company with the playbook and one with three times the plays, all triggered
    def company_with(copies):
        company = CompanyFactory()
        plays = load_playbook(company)
        for n in range(1, copies):
            for play in plays.values():
                Play.objects.create(company=company, key=f"{play.key}-{n}", label=play.label, owner=play.owner,
                                    trigger=play.trigger, job_plan=play.job_plan, kpis=play.kpis, impact=play.impact,
                                    effort=play.effort, success_criterion=play.success_criterion)
        return company

    bad = {k: kpi(k, "CRITICAL", "1", direction=v["direction"]) for k, v in ALL_OK.items()}
    counts = []
    for copies in (1, 3):
        company = company_with(copies)
        with CaptureQueriesContext(connection) as ctx:
            created = missions_suggest(company=company, kpis=bad)
        counts.append((len(ctx), len(created)))

    # then three times the missions, the same number of queries
    assert counts[1][1] == 3 * counts[0][1]
    assert counts[0][0] == counts[1][0]


def test_each_proposal_is_an_event_with_the_missions_score_and_the_policys_choice(company, other_company):
    # given the playbook here in its second version, the other company's in its first, the clock pinned
    load_playbook(other_company)
    load_playbook(company)
    latest = PlaybookVersion.objects.create(company=company, number=2, reason="plays.yml edited")
    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    kpis = kpis_with(**{"aov-30d": kpi("aov-30d", "CRITICAL", "15"),
                        "refund-rate-30d": kpi("refund-rate-30d", "WARNING", "0.06", direction="down")})

    # when
    with time_machine.travel(now, tick=False):
        created = missions_suggest(company=company, kpis=kpis)

    # then each mission keeps the latest playbook version and the rows of the KPIs its play reads
    assert len(created) == 2
    for mission in created:
        assert mission.playbook_version == latest
        assert set(mission.trigger_values) == {c["kpi"] for c in mission.play.trigger} | set(mission.play.kpis)
    # and one agent.proposal event per mission, at that time, says what was proposed and why
    events = sorted(Event.objects.filter(name="agent.proposal"), key=lambda e: e.payload["mission_id"])
    assert [(e.company_id, e.occurred_at, e.correlation_id, e.payload) for e in events] == [
        (company.pk, now, str(m.correlation_id),
         {"mission_id": m.pk, "play": m.play.key, "score": str(m.score), "factors": m.score_factors,
          "policy": "learn", "rank": m.policy_rank, "propensity": str(m.propensity)})
        for m in sorted(created, key=lambda m: m.pk)]
    assert [m.policy_rank for m in created] == [1, 2]


def test_an_anomaly_joins_the_kpis_a_play_was_triggered_by_once_and_is_kept_with_the_mission(company, other_company):
    # given aov and net revenue in warning, and a new drop of net revenue; the other company has the plays too
    load_playbook(other_company)
    load_playbook(company)
    kpis = kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "15"),
                        "net-revenue-7d": kpi("net-revenue-7d", "WARNING", "15")})

    # when
    suggested = {m.play.key: m for m in missions_suggest(company=company, kpis=kpis, anomalies=[revenue_drop()])}

    # then the bundle (triggered by aov) also names the net revenue the anomaly moved, and the price test
    # (triggered by net revenue itself) names it once
    assert set(suggested) == {"bundle-offer", "price-test-best-seller"}
    for mission in suggested.values():
        assert mission.explanation.startswith(f"Suggested because a new anomaly: {revenue_drop()['text']}; ")
        assert mission.explanation.count("(net-revenue-7d) is 15") == 1
        assert mission.anomaly == {
            "id": 1, "kpis": ["net-revenue-7d"], "metric": "revenue.net", "day": "2026-03-14", "kind": "drop",
            "value": "0", "expected_low": "36.2", "expected_high": "134.8", "baseline": "85.5",
            "text": revenue_drop()["text"]}
    assert "(aov-30d) is 15" in suggested["bundle-offer"].explanation
    # and without an anomaly a mission keeps none
    assert not Mission.objects.filter(company=other_company).exists()
    [plain] = missions_suggest(company=other_company, kpis=kpis_with(**{"aov-30d": kpi("aov-30d", "WARNING", "15")}))
    assert plain.anomaly == {} and "anomaly" not in plain.explanation
