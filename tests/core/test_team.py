"""Team: owners invite by email with a role, the link is accepted once, roles change, people are removed;
a company always keeps an owner; every change is in the change log."""

import re
from datetime import timedelta
from urllib.parse import urlparse

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from autonomax.errors import AppError
from autonomax.models import ConfigChange, Invitation, Membership, Role
from autonomax.team import invitation_accept, invitation_create, membership_remove, membership_role_set
from tests.factories import CompanyFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner(company):
    return MembershipFactory(company=company, role=Role.OWNER).user


def test_owner_invites_by_email_and_a_newcomer_joins_with_the_role(company, owner, django_capture_on_commit_callbacks):
    # given an owner invites someone as operator from the team page
    with django_capture_on_commit_callbacks(execute=True):
        response = _logged_in(owner).post("/settings/team/", {"action": "invite", "email": "Ada@Example.com",
                                                               "role": "operator"})
    assert response.status_code == 302
    [message] = mail.outbox
    assert message.to == ["ada@example.com"] and "operator" in message.body
    link = re.search(r"http\S+/invite/(\S+)/", message.body)
    path = f"/invite/{link.group(1)}/"
    # when the newcomer opens the link and creates an account
    newcomer = Client()
    assert "Join Acme Digital" in newcomer.get(path).content.decode()
    response = newcomer.post(path, {"username": "ada", "password1": "a long pass phrase 42", "password2":
                                    "a long pass phrase 42"})
    # then they are an operator of the company, signed in, and the link is spent
    assert response.status_code == 302
    membership = Membership.objects.get(company=company, user__username="ada")
    assert membership.role == Role.OPERATOR and membership.user.email == "ada@example.com"
    assert newcomer.get("/").status_code == 200
    assert Client().get(path).status_code == 410
    assert ConfigChange.objects.filter(company=company, object_type="membership", actor=membership.user).exists()


def test_a_signed_in_person_accepts_with_one_click(company, owner):
    _, link = invitation_create(company=company, actor=owner, email="bob@example.com", role="viewer")
    bob = UserFactory(username="bob")
    client = _logged_in(bob)
    # when
    response = client.post(urlparse(link).path)
    # then
    assert response.status_code == 302 and Membership.objects.get(user=bob, company=company).role == Role.VIEWER


def test_only_owners_invite_and_the_link_expires(company, owner):
    operator = MembershipFactory(company=company, role=Role.OPERATOR).user
    with pytest.raises(AppError) as refused:
        invitation_create(company=company, actor=operator, email="x@example.com", role="owner")
    assert refused.value.status == 403 and not Invitation.objects.exists()
    # an operator on the team page sees members but no invite form
    page = _logged_in(operator).get("/settings/team/").content.decode()
    assert "Send invitation" not in page and operator.username in page
    # an expired link answers 410 and adds nobody
    _, link = invitation_create(company=company, actor=owner, email="late@example.com", role="viewer")
    token = link.rstrip("/").rsplit("/", 1)[-1]
    with time_machine.travel(timezone.now() + timedelta(days=8)), pytest.raises(AppError) as expired:
        invitation_accept(token=token, user=UserFactory())
    assert expired.value.status == 410 and Membership.objects.filter(company=company).count() == 2


def test_a_company_keeps_an_owner_and_removal_revokes_its_tokens(company, owner):
    from tests.factories import member_with_token

    only_owner = Membership.objects.get(company=company, user=owner)
    with pytest.raises(AppError) as last:
        membership_remove(company=company, actor=owner, membership_id=only_owner.pk)
    assert last.value.code == "last_owner"
    with pytest.raises(AppError):
        membership_role_set(company=company, actor=owner, membership_id=only_owner.pk, role="viewer")
    operator, key = member_with_token(company=company, role=Role.OPERATOR)
    # when the owner removes the operator
    membership_remove(company=company, actor=owner, membership_id=operator.pk)
    # then the membership and its API token are gone
    assert not Membership.objects.filter(pk=operator.pk).exists()
    assert Client().get("/api/v1/kpis/", HTTP_AUTHORIZATION=f"Token {key}").status_code in (401, 403, 404)


def test_team_of_another_company_cannot_be_touched(company, owner):
    # given a member of another company
    other = CompanyFactory(slug="other-shop")
    theirs = MembershipFactory(company=other, role=Role.VIEWER)
    # when this company's owner tries to change or remove them through the page
    client = _logged_in(owner)
    client.post("/settings/team/", {"action": "role", "id": theirs.pk, "role": "owner"})
    client.post("/settings/team/", {"action": "remove", "id": theirs.pk})
    # then nothing changed there, and the page lists only this company's people
    theirs.refresh_from_db()
    assert theirs.role == Role.VIEWER
    assert theirs.user.username not in client.get("/settings/team/").content.decode()


def test_bad_invite_input_is_a_clear_error_and_nothing_is_stored(company, owner):
    client = _logged_in(owner)
    for email, role in (("not-an-email", "owner"), ("a@example.com", "god")):
        assert client.post("/settings/team/", {"action": "invite", "email": email, "role": role}).status_code == 400
    assert client.get("/invite/nonsense/").status_code == 404
    assert not Invitation.objects.exists()
