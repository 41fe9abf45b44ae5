import threading
from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from autonomax.models import Company, Event, Invitation, Membership, Role
from chimera.commander.models import CycleLock, Mission, Play
from chimera.commander.services.cycle import (
    LOCK_SECONDS,
    cycle_lock_acquire,
    cycle_lock_release,
    cycle_run,
    cycle_run_company,
)
from kpis.services import kpis_load_config
from tests.factories import CompanyFactory, OrderFactory, UserFactory

from .factories import load_playbook


def ready_company(**kwargs):
    """A company with the base KPIs and playbook, and a few old orders (so revenue KPIs are low)."""
    company = CompanyFactory(**kwargs)
    kpis_load_config(company=company)
    load_playbook(company)
    for days in (1, 3, 5):
        OrderFactory(company=company, created_at=timezone.now() - timedelta(days=days))
    return company


def row_counts() -> dict:
    # The cycle lock row is bookkeeping of the run itself, not data the cycle computes.
    return {m._meta.label: m._default_manager.count() for m in apps.get_models() if m is not CycleLock}


@pytest.fixture(autouse=True)
def _no_stale_locks():
    # Company ids are reused between tests (rolled back), so are their lock keys.
    cache.clear()
    yield
    cache.clear()


def test_the_cycle_suggests_missions_from_real_kpis(db):
    # given
    company = ready_company()

    # when
    [report] = cycle_run(slug=company.slug)

    # then low orders and revenue trigger their plays, each explained with the KPI values
    plays = {s["play"] for s in report["suggested"]}
    assert {"pending-checkout-reminder", "price-test-best-seller"} <= plays
    mission = Mission.objects.get(company=company, play__key="pending-checkout-reminder")
    assert "orders-7d" in mission.explanation and "is 3, CRITICAL" in mission.explanation
    assert Event.objects.filter(company=company, name="agent.proposal").count() == len(report["suggested"])


def test_dry_run_changes_nothing(db):
    # given
    company = ready_company()
    before = row_counts()

    # when
    [report] = cycle_run(slug=company.slug, dry_run=True)

    # then it computed everything and wrote nothing
    assert report["dry_run"] and report["suggested"] and report["kpis"]
    assert row_counts() == before
    assert not Mission.objects.exists()


def test_a_cycle_already_running_is_not_started_twice(db):
    # given another process holds the company's cycle lock
    company = ready_company()
    assert cycle_lock_acquire(company=company, token="someone-else")

    # when
    report = cycle_run_company(company=company)

    # then it is skipped and the other claim is untouched
    assert "already running" in report["skipped"]
    assert not Mission.objects.exists()
    assert CycleLock.objects.get(company=company).owner == "someone-else"


def test_the_cycle_lock_outlives_the_beat_interval_and_a_dead_claim_expires(db):
    # given a claim taken 20 minutes ago (longer than the 15-minute beat interval) by a cycle still running
    company = ready_company()
    start = timezone.now()
    assert cycle_lock_acquire(company=company, token="slow", now=start - timedelta(minutes=20))

    # then a cycle started now does not run beside it
    assert "already running" in cycle_run_company(company=company)["skipped"]
    # but the claim of a process that died is taken over once it expires
    later = start + timedelta(seconds=LOCK_SECONDS)
    assert cycle_lock_acquire(company=company, token="next", now=later)
    # and the dead process's late release does not free the new owner's claim
    cycle_lock_release(company=company, token="slow")
    assert CycleLock.objects.get(company=company).owner == "next"


def test_the_cycle_releases_its_lock_and_locks_only_its_own_company(db):
    # given two companies, the other one locked by someone else
    company = ready_company()
    other = ready_company(slug="other-co")
    assert cycle_lock_acquire(company=other, token="someone-else")

    # when
    report = cycle_run_company(company=company)

    # then it ran, released its own lock and left the other company's claim alone
    assert "skipped" not in report and report["suggested"]
    assert CycleLock.objects.get(company=company).owner == ""
    assert CycleLock.objects.get(company=other).owner == "someone-else"
    assert cycle_lock_acquire(company=company, token="again")


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_let_exactly_one_cycle_in():
    # given eight processes' worth of connections racing for one company's lock
    company = CompanyFactory(slug="race")
    winners = []
    barrier = threading.Barrier(8)

    def claim(n):
        try:
            barrier.wait()
            if cycle_lock_acquire(company=company, token=f"t{n}"):
                winners.append(n)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    # then
    assert len(winners) == 1
    assert CycleLock.objects.get(company=company).owner == f"t{winners[0]}"


def test_one_companys_failure_never_stops_the_others(db):
    # given a company whose play has a broken trigger in the database, then a healthy one
    broken = ready_company(slug="a-broken")
    Play.objects.filter(company=broken, key="pending-checkout-reminder").update(
        trigger=[{"kpi": "orders-7d", "op": "between", "value": 1}])
    healthy = ready_company(slug="b-healthy")

    # when
    reports = {r["company"]: r for r in cycle_run()}

    # then
    assert "KeyError" in reports["a-broken"]["error"]
    assert reports["b-healthy"]["suggested"]
    assert not Mission.objects.filter(company=broken).exists()
    assert Mission.objects.filter(company=healthy).exists()


def test_auto_plays_run_only_while_autopilot_is_on(db, django_capture_on_commit_callbacks):
    # given an auto play triggered (AI cost high) for a company without and with autopilot
    off, on = ready_company(slug="autopilot-off"), ready_company(slug="autopilot-on", autopilot=True)
    for company in (off, on):
        Play.objects.filter(company=company).exclude(key="ai-cost-routing").update(status=Play.Status.DISABLED)
        Play.objects.filter(company=company, key="ai-cost-routing").update(
            trigger=[{"kpi": "orders-7d", "status": ["critical"]}], kpis=["orders-7d"])

    # when
    with django_capture_on_commit_callbacks(execute=True):
        reports = {r["company"]: r for r in cycle_run()}

    # then
    assert reports["autopilot-off"]["auto_approved"] == []
    assert Mission.objects.get(company=off).status == Mission.Status.PROPOSED
    assert reports["autopilot-on"]["auto_approved"] == ["ai-cost-routing"]
    assert Mission.objects.get(company=on).status == Mission.Status.MEASURING


def test_run_cycle_and_onboard_company_commands(db, capsys):
    # when a new company is onboarded with an existing user as owner
    user = UserFactory(username="ada", email="ada@example.com")
    call_command("onboard_company", "Bright Templates", owner="ada@example.com")

    # then it has its owner and the base configs, its silent cycle report is printed, and nothing was proposed
    out = capsys.readouterr().out
    company = Company.objects.get(slug="bright-templates")
    assert Membership.objects.get(company=company).user == user
    assert Membership.objects.get(company=company).role == Role.OWNER and "ada is the owner" in out
    assert Play.objects.filter(company=company).count() >= 8
    assert "dry run: nothing was changed" in out and "suggested missions:" in out
    assert not Mission.objects.filter(company=company).exists()

    # when the real cycle runs for it
    call_command("run_cycle", company="bright-templates")
    assert "suggested missions:" in capsys.readouterr().out
    assert Mission.objects.filter(company=company).exists()


def test_the_cycle_is_on_the_beat_schedule_every_15_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["commander-cycle"]

    assert entry["task"] == "chimera.tasks.run_commander_cycle" and entry["schedule"] == 15 * 60
    from autonomax.celery import app

    assert "chimera.tasks.run_commander_cycle" in app.tasks


def test_onboarding_an_unknown_email_invites_them_as_owner(db, mailoutbox, django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        call_command("onboard_company", "Night Owl", owner="Owl@Example.com", stdout=open("/dev/null", "w"))

    # then an owner invitation went out, and the owners' alerts have somewhere to go meanwhile
    company = Company.objects.get(slug="night-owl")
    invitation = Invitation.objects.get(company=company)
    assert (invitation.email, invitation.role) == ("owl@example.com", Role.OWNER)
    assert [m.to for m in mailoutbox] == [["owl@example.com"]] and "as owner" in mailoutbox[0].body
    from chimera.commander.services.alerts import owner_emails

    assert owner_emails(company=company) == ["owl@example.com"]


def test_onboarding_needs_an_owner_and_writes_nothing_without_one(db):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="not an email to invite"):
        call_command("onboard_company", "Nobody Ltd", owner="nobody")
    with pytest.raises(CommandError):
        call_command("onboard_company", "Nobody Ltd")

    assert not Company.objects.filter(slug="nobody-ltd").exists()
