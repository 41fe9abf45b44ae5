"""Autonomy cannot be widened by accident: only operational auto plays auto-approve; only owners switch
autopilot, saying why."""

import pytest
from django.test import Client
from django.urls import reverse

from autonomax.errors import AppError
from autonomax.models import Company, ConfigChange, Role
from chimera.commander.models import Mission, Play
from chimera.commander.services.missions import company_autopilot_set, missions_auto_approve
from tests.factories import CompanyFactory, MembershipFactory

from .factories import load_playbook, propose


def test_auto_approval_only_approves_operational_auto_plays(db):
    # given autopilot on, and auto missions at each level (the snapshot as a hand edit of the row would leave it)
    company = CompanyFactory(autopilot=True)
    load_playbook(company)
    operational = propose(company, "ai-cost-routing")
    tactical, strategic = propose(company, "bundle-offer"), propose(company, "price-test-best-seller")
    for mission in (tactical, strategic):
        Mission.objects.filter(pk=mission.pk).update(play_snapshot={**mission.play_snapshot, "autonomy": "auto"})
    other = CompanyFactory(autopilot=False)
    load_playbook(other)
    theirs = propose(other, "ai-cost-routing")

    # when
    approved = missions_auto_approve(company=company)
    missions_auto_approve(company=other)

    # then only the operational one, and never without a person for the others
    assert [m.pk for m in approved] == [operational.pk]
    assert Mission.objects.get(pk=operational.pk).decided_by is None
    for mission in (tactical, strategic):
        assert Mission.objects.get(pk=mission.pk).status == Mission.Status.PROPOSED
    assert Mission.objects.get(pk=theirs.pk).status == Mission.Status.PROPOSED
    assert Play.objects.get(company=company, key="price-test-best-seller").level == "strategic"


def test_only_an_owner_switches_autopilot_on_and_it_records_who_and_why(db):
    company = CompanyFactory()
    operator = MembershipFactory(company=company, role=Role.OPERATOR).user
    owner = MembershipFactory(company=company, role=Role.OWNER).user

    with pytest.raises(AppError, match="Only an owner"):
        company_autopilot_set(company=company, on=True, actor=operator, reason="faster")
    with pytest.raises(AppError, match="Say why"):
        company_autopilot_set(company=company, on=True, actor=owner, reason=" ")
    assert not Company.objects.get(pk=company.pk).autopilot and not ConfigChange.objects.exists()

    company_autopilot_set(company=company, on=True, actor=owner, reason="FAQ macros can run alone")

    change = ConfigChange.objects.get(object_type="company.autopilot")
    assert Company.objects.get(pk=company.pk).autopilot
    assert (change.actor, change.reason, change.changes) == (owner, "FAQ macros can run alone",
                                                            {"autopilot": [False, True]})


def test_the_command_center_refuses_an_operator_and_needs_the_owners_reason(db):
    company = CompanyFactory()
    operator = MembershipFactory(company=company, role=Role.OPERATOR).user
    owner = MembershipFactory(company=company, role=Role.OWNER).user
    client = Client()

    client.force_login(operator)
    page = client.get("/").content.decode()
    refused = client.post(reverse("command-switches"), {"switch": "autopilot", "on": "1", "reason": "go"})
    client.force_login(owner)
    no_reason = client.post(reverse("command-switches"), {"switch": "autopilot", "on": "1"})
    owner_page = client.get("/").content.decode()
    done = client.post(reverse("command-switches"), {"switch": "autopilot", "on": "1", "reason": "go"})

    assert refused.status_code == 403 and 'value="autopilot"' not in page and "owners switch it" in page
    assert no_reason.status_code == 400 and 'name="reason" required' in owner_page
    assert done.status_code == 302 and Company.objects.get(pk=company.pk).autopilot
    assert ConfigChange.objects.get(object_type="company.autopilot").actor == owner
