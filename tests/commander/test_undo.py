"""A store change measured as a loss is taken back: the price put back, the bundle taken off sale, on the
platform and on Shopify, once, by a job like any other (kill switches, redelivery). A loss already sure
early in the change's window takes it back then."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from waffle.testutils import override_switch

from autonomax.errors import AppError
from autonomax.models import ConfigChange, Role
from autonomax.services import company_set_halt
from chimera.commander.models import EvidenceRecord, Job, Mission
from chimera.commander.services import effects
from chimera.commander.services.evidence import EARLY_LEVEL, _measure_counterfactual, evidence_log_due
from chimera.commander.services.jobs import (
    GLOBAL_HALT_SWITCH,
    job_run,
    mission_undo,
    mission_undo_by_person,
    missions_resume,
)
from chimera.commander.services.missions import mission_approve
from commerce.models import ChannelConnection, Product
from tests.commerce.conftest import shopify_server  # noqa: F401 - the local Shopify, a fixture
from tests.commerce.factories import ChannelConnectionFactory
from tests.factories import MembershipFactory, ProductFactory

from .factories import kpis_with, load_playbook, propose
from .test_evidence import price_mission, revenue_history, start_counterfactual


@pytest.fixture
def owner(company):
    return MembershipFactory(company=company, role=Role.OWNER).user


@pytest.fixture
def shop(company, other_company, shopify_server):  # noqa: F811
    """Both companies sell the same products on their own Shopify; only `company`'s change is taken back."""
    for each in (company, other_company):
        load_playbook(each)
        ChannelConnectionFactory(company=each)
        for price in ("19.00", "24.00", "12.00"):
            ProductFactory(company=each, price=Decimal(price))
    return shopify_server


def run_all(mission):
    for job in mission.jobs.order_by("order"):
        assert job_run(job_id=job.pk) in ("done", "noop")
    return list(mission.jobs.order_by("order"))


def remote(shop, product):
    return next(p for p in shop.products.values() if p["handle"] == product.slug)


# revenue_history's days end at 06:00 today: the clock is pinned after it (the evidence reads whole days).
@time_machine.travel(datetime(2026, 11, 20, 10, tzinfo=UTC), tick=False)
def test_a_price_test_measured_as_a_loss_puts_the_price_back_on_shopify(company, other_company, owner, shop):
    # given the price test ran here and in the other company (-10% on the best seller, pushed to Shopify)
    missions = {}
    for each in (company, other_company):
        boss = owner if each == company else MembershipFactory(company=each, role=Role.OWNER).user
        missions[each] = mission_approve(mission=price_mission(each), actor=boss)
        run_all(missions[each])
    best = Product.objects.get(company=company, price=Decimal("17.10"))
    assert remote(shop, best)["variants"]["nodes"][0]["price"] == "17.10"
    # and here revenue fell 30% in its week
    revenue_history(company, days=70, start_offset=0, lift=-0.3, lift_from_day=63)
    start_counterfactual(missions[company], days_ago=7)

    # when the evidence is due
    [record] = evidence_log_due(company=company, kpis=kpis_with())

    # then it is a loss, and the undo job is queued with the reason
    assert record.verdict == "loss"
    undo = Job.objects.get(mission=missions[company], type="undo")
    assert undo.status == Job.Status.QUEUED and "measured a loss" in undo.params["reason"]

    # when it runs, twice as if redelivered
    assert job_run(job_id=undo.pk) == "done"
    Job.objects.filter(pk=undo.pk).update(status=Job.Status.QUEUED)
    job_run(job_id=undo.pk)

    # then the price is back, on the platform and on Shopify, recorded once; the other company keeps its test
    best.refresh_from_db()
    assert best.price == Decimal("19.00") and remote(shop, best)["variants"]["nodes"][0]["price"] == "19.00"
    assert ConfigChange.objects.filter(object_type="product.price", object_id=str(best.pk)).count() == 2
    assert Product.objects.filter(company=other_company, price=Decimal("17.10")).count() == 1
    assert missions[company].jobs.get(type="undo").result["product_ids"] == [best.pk]
    # and it is asked once only
    assert mission_undo(mission=missions[company], reason="again") is None


def test_a_bundle_taken_back_is_archived_on_the_platform_and_on_shopify(company, owner, shop):
    mission = mission_approve(mission=propose(company, "bundle-offer"), actor=owner)
    run_all(mission)
    bundle = Product.objects.get(company=company, sku__startswith="BUNDLE-")
    assert remote(shop, bundle)["status"] == "ACTIVE"
    measuring = Mission.objects.get(pk=mission.pk).status

    undo = mission_undo(mission=mission, reason="measured a loss")
    assert job_run(job_id=undo.pk) == "done"

    bundle.refresh_from_db()
    assert bundle.status == Product.Status.ARCHIVED and remote(shop, bundle)["status"] == "ARCHIVED"
    assert bundle.listings.get().status == "archived"
    assert Mission.objects.get(pk=mission.pk).status == measuring  # the mission itself is not moved


def test_a_play_that_changed_nothing_reversible_has_nothing_to_take_back(company, owner, shop):
    mission = mission_approve(mission=propose(company, "ai-cost-routing"), actor=owner)
    run_all(mission)
    assert mission_undo(mission=mission, reason="measured a loss") is None


def test_an_undo_waits_out_a_kill_switch_then_runs(company, owner, shop):
    mission = mission_approve(mission=propose(company, "bundle-offer"), actor=owner)
    run_all(mission)
    company_set_halt(company=company, halted=True, actor=owner, reason="stop everything")

    undo = mission_undo(mission=mission, reason="measured a loss")
    assert undo.status == Job.Status.PENDING

    company_set_halt(company=company, halted=False, actor=owner, reason="go on")  # resumes: queues it
    undo.refresh_from_db()
    assert undo.status == Job.Status.QUEUED
    with override_switch(GLOBAL_HALT_SWITCH, active=True):
        assert job_run(job_id=undo.pk) == "halted"
    assert missions_resume(company=company) == 1
    assert job_run(job_id=undo.pk) == "done"
    assert Product.objects.get(company=company, sku__startswith="BUNDLE-").status == Product.Status.ARCHIVED


def test_a_person_may_take_a_change_back_when_they_may_decide_on_it(company, owner, shop):
    mission = mission_approve(mission=propose(company, "bundle-offer"), actor=owner)
    run_all(mission)
    viewer = MembershipFactory(company=company, role=Role.VIEWER).user

    with pytest.raises(AppError, match="does not allow"):
        mission_undo_by_person(mission=mission, actor=viewer)
    undo = mission_undo_by_person(mission=mission, actor=owner, reason="the bundle confuses buyers")

    assert undo.params["reason"] == f"the bundle confuses buyers by {owner}"
    with pytest.raises(AppError, match="taken back already") as refused:
        mission_undo_by_person(mission=mission, actor=owner)
    assert refused.value.status == 409


def test_an_undo_that_cannot_reach_shopify_fails_and_tells_the_owners(company, owner, shop, mailoutbox):
    # given a bundle on sale on Shopify, measured and finished; then the shop's Shopify connection is removed
    mission = mission_approve(mission=propose(company, "bundle-offer"), actor=owner)
    run_all(mission)
    Mission.objects.filter(pk=mission.pk).update(status=Mission.Status.COMPLETED)
    ChannelConnection.objects.filter(company=company).delete()

    # when the undo runs
    undo = mission_undo(mission=mission, reason="measured a loss")
    assert job_run(job_id=undo.pk) == "failed"

    # then the job failed, the mission stays completed, and the owners were told why
    undo.refresh_from_db()
    assert undo.status == Job.Status.FAILED and "not connected" in undo.error
    assert Mission.objects.get(pk=mission.pk).status == Mission.Status.COMPLETED
    [alert] = [m for m in mailoutbox if "Job failed: undo" in m.subject]
    assert owner.email in alert.to and "still shows the old version" in alert.body


# --- The early look: a reversible change already a sure loss is taken back before its window ends ---------------

def running_price_test(company, owner, *, days_ago, fall):
    """The price test on Shopify, started `days_ago` days ago (its window is 7 days), revenue down `fall` since."""
    mission = mission_approve(mission=price_mission(company), actor=owner)
    run_all(mission)
    revenue_history(company, days=70, start_offset=0, lift=-fall, lift_from_day=70 - days_ago)
    return start_counterfactual(mission, days_ago=days_ago)


@time_machine.travel(datetime(2026, 11, 20, 10, tzinfo=UTC), tick=False)
def test_a_price_test_already_a_sure_loss_after_three_days_is_taken_back_then(company, other_company, owner, shop):
    # given the price test here and in the other company, four days into its week; here revenue fell 40%
    mission = running_price_test(company, owner, days_ago=4, fall=0.4)
    other = running_price_test(other_company, MembershipFactory(company=other_company, role=Role.OWNER).user,
                               days_ago=4, fall=0.0)

    # when the cycle looks at the evidence
    [record] = evidence_log_due(company=company, kpis=kpis_with())

    # then the loss is recorded now, at the stricter level, over the three whole days in
    assert record.verdict == "loss" and record.ci_level == EARLY_LEVEL and record.ci_high < 0
    assert record.window_end == timezone.now() and len(record.chart["forecast"]) == 3
    assert record.notes.startswith("stopped early, 3 of 6 days into its window: Loss: measured")
    # and the mission is finished and its change queued to be taken back, with the reason
    mission.refresh_from_db()
    assert mission.status == Mission.Status.COMPLETED and mission.completed_at == timezone.now()
    undo = Job.objects.get(mission=mission, type="undo")
    assert undo.status == Job.Status.QUEUED and "stopped early" in undo.params["reason"]
    # and the other company's test goes on
    assert Mission.objects.get(pk=other.pk).status == Mission.Status.MEASURING
    assert not Job.objects.filter(mission=other, type="undo").exists()


@time_machine.travel(datetime(2026, 11, 20, 10, tzinfo=UTC), tick=False)
@pytest.mark.parametrize(("days_ago", "fall"), [(3, 0.4), (4, 0.0), (4, -0.4)],
                         ids=["two whole days in", "no change", "a sure win"])
def test_an_early_look_stops_nothing_before_three_days_or_without_a_sure_loss(company, owner, shop, days_ago,
                                                                              fall):
    mission = running_price_test(company, owner, days_ago=days_ago, fall=fall)

    assert evidence_log_due(company=company, kpis=kpis_with()) == []

    assert Mission.objects.get(pk=mission.pk).status == Mission.Status.MEASURING
    assert not EvidenceRecord.objects.filter(mission=mission).exists() and not Job.objects.filter(type="undo").exists()


@time_machine.travel(datetime(2026, 11, 20, 10, tzinfo=UTC), tick=False)
def test_a_loss_sure_at_the_windows_level_but_not_at_the_early_one_waits_for_the_window(company, owner, shop):
    # given a fall the 90% interval of the window's end would call a loss, but not the early look's 99%
    mission = running_price_test(company, owner, days_ago=4, fall=0.18)
    at_window_level = _measure_counterfactual(mission=mission, plan=mission.measure_plan, start=mission.started_at,
                                              end=timezone.now(), level=effects.LEVEL)[0]
    assert at_window_level.verdict == "loss"

    assert evidence_log_due(company=company, kpis=kpis_with()) == []
    assert Mission.objects.get(pk=mission.pk).status == Mission.Status.MEASURING


@time_machine.travel(datetime(2026, 11, 20, 10, tzinfo=UTC), tick=False)
def test_a_change_that_cannot_be_taken_back_is_not_looked_at_early(company, owner, shop):
    # given the same fall under a play that changed nothing reversible (its job is not a price or a bundle)
    mission = running_price_test(company, owner, days_ago=4, fall=0.4)
    Job.objects.filter(mission=mission).update(type="ai_routing")

    assert evidence_log_due(company=company, kpis=kpis_with()) == []
    assert Mission.objects.get(pk=mission.pk).status == Mission.Status.MEASURING


@time_machine.travel(datetime(2026, 11, 20, 10, tzinfo=UTC), tick=False)
def test_an_early_look_stops_nothing_while_another_mission_moves_the_same_kpi(company, owner, shop):
    # given the fall, and another mission measured on net revenue that started in the window
    mission = running_price_test(company, owner, days_ago=4, fall=0.4)
    other = propose(company, "ai-cost-routing")
    Mission.objects.filter(pk=other.pk).update(
        measure_plan=mission.measure_plan, status=Mission.Status.MEASURING,
        started_at=timezone.now() - timedelta(days=2), measure_due_at=timezone.now() + timedelta(days=5))

    assert evidence_log_due(company=company, kpis=kpis_with()) == []
    assert Mission.objects.get(pk=mission.pk).status == Mission.Status.MEASURING
