"""Scoring: per-company rules, caps, decay over time, readable breakdowns, and the hand-off once per crossing."""

import random
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from growth.events import lead_events_record
from growth.models import GrowthSettings, HandoffTask, Lead, LeadEvent, LeadScoreChange, ScoringRule
from growth.scoring import DEFAULT_RULES, leads_rescore, score_compute
from tests.factories import CompanyFactory, LeadFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 7, 10, 0, tzinfo=UTC)


def _event(kind, days_ago, **props):
    return {"type": kind, "occurred_at": NOW - timedelta(days=days_ago), "properties": props}


def test_breakdown_reads_like_a_person_wrote_it():
    # given: a pricing visit 2 days ago, three page views, a lead idle since
    lead = LeadFactory.build(created_at=NOW - timedelta(days=3), last_activity_at=None, fields={}, source="")
    events = [_event("page_view", 2, path="/pricing"), _event("page_view", 2, path="/"),
              _event("page_view", 2, path="/about"), _event("page_view", 2, path="/blog")]

    # when
    score, breakdown = score_compute(lead=lead, events=events, rules=list(DEFAULT_RULES),
                                     group=GrowthSettings(), now=NOW)

    # then: the specific rule claims the pricing view; the general one counts the rest, decayed
    assert [b["text"] for b in breakdown] == [
        "+23 pricing page visit 2 days ago (decayed, halves every 14 days)",
        "+5 page view \u00d73, latest 2 days ago (decayed, halves every 14 days)",
    ]
    assert score == 28  # 25*0.5^(2/14)=22.6 + 3*2*0.906=5.4 -> 28


def test_decay_and_inactivity_over_time():
    # given: one pricing visit, no decay cap reached
    lead = LeadFactory.build(created_at=NOW - timedelta(days=60), last_activity_at=None, fields={}, source="")
    events = [_event("page_view", 0, path="/pricing")]
    rules, group = list(DEFAULT_RULES), GrowthSettings()

    # when: scored now, after one half-life, and after 30 idle days
    fresh = score_compute(lead=lead, events=events, rules=rules, group=group, now=NOW)
    half = score_compute(lead=lead, events=events, rules=rules, group=group, now=NOW + timedelta(days=14))
    idle = score_compute(lead=lead, events=events, rules=rules, group=group, now=NOW + timedelta(days=31))

    # then
    assert fresh[0] == 25 and half[0] == 12  # 12.5 rounds to even
    assert idle[1][-1]["text"] == "\u221210 no activity for 31 days"
    assert idle[0] == 0  # 25*0.5^(31/14)=5.4 - 10 -> clamped at 0


def test_caps_hold_and_field_rules_add_once():
    lead = LeadFactory.build(created_at=NOW, last_activity_at=NOW, fields={"interest": "Consulting"},
                             source="referral")
    events = [_event("email_click", 0) for _ in range(10)]
    score, breakdown = score_compute(lead=lead, events=events, rules=list(DEFAULT_RULES), group=GrowthSettings(),
                                     now=NOW)
    assert breakdown[0]["text"] == "+24 email click \u00d710, latest just now (capped at 24)"
    assert score == 24 + 10 + 20


def test_company_rules_replace_the_defaults_and_stay_in_their_company(company):
    # given: acme scores webinars; the other company keeps the defaults
    ScoringRule.objects.create(company=company, kind="event", label="webinar sign-up", event_type="form_submit",
                               property_name="form", property_contains="webinar", points=30)
    mine = LeadFactory(company=company, score=0, last_activity_at=NOW)
    theirs = LeadFactory(company=CompanyFactory(), score=0, last_activity_at=NOW)

    # when
    with time_machine.travel(NOW, tick=False):
        lead_events_record(company=company, events=[{"idempotency_key": "w1", "type": "form_submit",
                                                     "lead_id": mine.pk, "properties": {"form": "Webinar"}}])
        lead_events_record(company=theirs.company, events=[{"idempotency_key": "w1", "type": "form_submit",
                                                            "lead_id": theirs.pk, "properties": {"form": "webinar"}}])

    # then
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.score, mine.score_breakdown[0]["text"]) == (30, "+30 webinar sign-up just now")
    assert theirs.score == 15  # default form submit


def test_threshold_fires_once_per_crossing(company):
    # given: a lead just under the hand-off threshold (80)
    lead = LeadFactory(company=company, score=0, fields={"interest": "consulting"}, source="referral",
                       created_at=NOW, last_activity_at=NOW)
    ScoringRule.objects.create(company=company, kind="event", label="demo request", event_type="form_submit",
                               points=30, cap=70, half_life_days=10)
    ScoringRule.objects.create(company=company, kind="field", label="consulting", field_name="interest",
                               field_value="consulting", points=20)

    def send(key, at):
        with time_machine.travel(at, tick=False):
            return lead_events_record(company=company, events=[{"idempotency_key": key, "type": "form_submit",
                                                                "lead_id": lead.pk}])

    # when: 20 + 30 + 30 = 80 (not above); +30 -> 90 crosses; another event while above
    send("a", NOW)
    send("b", NOW)
    assert HandoffTask.objects.count() == 0
    crossed = send("c", NOW)
    send("d", NOW)  # capped at 70 (+20): still above, no second task
    # then: one task with the lead's context
    assert crossed["handoffs"] == 1
    task = HandoffTask.objects.get()
    assert task.stream == "consulting" and task.score == 90 and task.threshold == 80
    assert "+20 consulting (interest: consulting)" in task.context["breakdown"]
    lead.refresh_from_db()
    assert lead.status == Lead.Status.QUALIFIED and lead.above_handoff

    # when: the score decays below the threshold (nightly rescore), then a new burst crosses again
    leads_rescore(company=company, lead_ids=[lead.pk], now=NOW + timedelta(days=20))
    lead.refresh_from_db()
    assert lead.score <= 80 and not lead.above_handoff
    send("e", NOW + timedelta(days=20))
    send("f", NOW + timedelta(days=20))

    # then: a second crossing, a second task
    assert HandoffTask.objects.count() == 2
    assert LeadScoreChange.objects.filter(lead=lead).count() >= 4


def test_rescoring_many_leads_costs_a_constant_number_of_queries(company, django_assert_num_queries):
    leads = [LeadFactory(company=company, score=0) for _ in range(30)]
    LeadFactory(company=CompanyFactory(), score=0)
    # settings, rules (2), learned model, savepoint, lock, events, update, bulk create score changes, release
    with django_assert_num_queries(9):
        result = leads_rescore(company=company, lead_ids=[lead.pk for lead in leads], now=NOW)
    assert result["rescored"] == 30


def _full_recompute(lead, now):
    """The score from the lead's whole history, computed from scratch (the reference)."""
    from growth.capture import growth_settings_for
    from growth.scoring import rules_for

    events = list(LeadEvent.objects.filter(lead=lead).values("type", "occurred_at", "properties"))
    return score_compute(lead=lead, events=events, rules=rules_for(company=lead.company),
                         group=growth_settings_for(company=lead.company), now=now)


def test_incremental_scoring_equals_a_full_recompute_through_decay_and_rule_changes(company, other_company):
    # given: 6 leads; 40 batches of random events over 80 days (late and duplicate deliveries included);
    # the other company's leads get events too
    rng = random.Random(7)
    leads = [LeadFactory(company=company, score=0, created_at=NOW, last_activity_at=NOW, source="referral")
             for _ in range(6)]
    theirs = LeadFactory(company=other_company, score=0, created_at=NOW, last_activity_at=NOW)
    paths = ["/pricing", "/", "/blog", "/pricing/teams"]
    kinds = ["page_view", "page_view", "email_open", "email_click", "form_submit", "email_reply"]
    keys = []

    def check():
        # each lead as stored (scored at its last event) against its whole history scored at that time
        for lead in leads:
            lead.refresh_from_db()
            assert (lead.score, lead.score_breakdown) == _full_recompute(lead, lead.scored_at), lead.pk

    leads_rescore(company=company, lead_ids=[lead.pk for lead in leads], now=NOW)

    # when / then: after every batch, and after a quiet spell, the stored score is the full recompute's
    for batch in range(40):
        now = NOW + timedelta(days=2 * batch, hours=rng.randint(0, 23))
        events = []
        for i in range(rng.randint(1, 12)):
            key = rng.choice(keys) if keys and rng.random() < 0.1 else f"b{batch}-{i}"
            keys.append(key)
            events.append({"idempotency_key": key, "type": rng.choice(kinds),
                           "lead_id": rng.choice(leads).pk,
                           "occurred_at": (now - timedelta(hours=rng.randint(0, 24 * 20))).isoformat(),
                           "properties": {"path": rng.choice(paths)}})
        with time_machine.travel(now, tick=False):
            lead_events_record(company=company, events=events)
            lead_events_record(company=other_company, events=[{"idempotency_key": f"t{batch}", "type": "page_view",
                                                               "lead_id": theirs.pk}])
        check()
        if batch == 25:  # the company edits its rules: states folded under the old ones are rebuilt
            ScoringRule.objects.create(company=company, kind="event", label="pricing", event_type="page_view",
                                       property_name="path", property_contains="/pricing", points=12, cap=40,
                                       half_life_days=3)
            ScoringRule.objects.create(company=company, kind="event", label="click", event_type="email_click",
                                       points=9, half_life_days=5)
            ScoringRule.objects.create(company=company, kind="event", label="open", event_type="email_open",
                                       points=1)
            leads_rescore(company=company, lead_ids=[lead.pk for lead in leads], now=now, reason="rules")
            check()
    later = NOW + timedelta(days=200)
    leads_rescore(company=company, lead_ids=[lead.pk for lead in leads], now=later, reason="decay")
    check()
    assert {lead.score_breakdown[-1]["rule"] for lead in leads} == {"inactivity"}
    theirs.refresh_from_db()
    assert theirs.score_state["id"] > 0 and theirs.score == _full_recompute(theirs, NOW + timedelta(days=78))[0]


def test_an_event_reaches_the_score_without_rereading_the_history(company, django_assert_num_queries):
    # given: a lead with 50 events already folded
    lead = LeadFactory(company=company, score=0, created_at=NOW, last_activity_at=NOW)
    with time_machine.travel(NOW, tick=False):
        lead_events_record(company=company, events=[
            {"idempotency_key": f"k{i}", "type": "page_view", "lead_id": lead.pk, "properties": {"path": "/"}}
            for i in range(50)])
    state = Lead.objects.get(pk=lead.pk).score_state

    # when: one more event
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        lead_events_record(company=company, events=[{"idempotency_key": "new", "type": "email_click",
                                                     "lead_id": lead.pk}])

    # then: the state holds the new event on top of the old ones; the read fetched only the new row
    lead.refresh_from_db()
    assert lead.score_state["rules"]["default:click"]["n"] == 1
    assert lead.score_state["rules"]["default:page"] == state["rules"]["default:page"]
    assert lead.score_state["id"] == LeadEvent.objects.get(idempotency_key="new").pk
